"""Reading and writing image files (TIFF), atomically."""

from .atomic import atomic_path
from .tiff import ImageMeta, read_image, write_image

__all__ = ["ImageMeta", "atomic_path", "read_image", "write_image"]
