"""Reading and writing image files (TIFF), atomically."""

from .atomic import atomic_path
from .tiff import ImageHeader, ImageMeta, check_declared_size, read_header, read_image, write_image

__all__ = ["ImageHeader", "ImageMeta", "atomic_path", "check_declared_size", "read_header", "read_image",
           "write_image"]
