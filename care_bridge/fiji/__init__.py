"""Fiji / ImageJ front end: host ImageJ in this process and run CARE macros and restorations.

    >>> from care_bridge import fiji
    >>> session = fiji.start_imagej()          # plain ImageJ 1.x (ij.jar) via JPype, or a local Fiji via pyimagej
    >>> fiji.run_macro("CARE_Model_Info", "bundle=[model.zip]")
    >>> out = fiji.restore_imageplus(imp, "model.zip", fiji.RestoreOptions(n_tiles=(2, 2)))

The macros in ``fiji_macros/`` call back into Python through the command listener in :mod:`.bridge`, whose
handler table is :mod:`.handlers`. Importing this package starts nothing (no JVM, no TensorFlow).
"""

from ..frontend import RestoreOptions, result_title
from .host import macro_path, macros_dir, run_macro, start_imagej
from .jvm import ImageJSession, current_session
from .restore import RestoredImages, restore_dataset, restore_imageplus

__all__ = [
    "ImageJSession",
    "RestoreOptions",
    "RestoredImages",
    "current_session",
    "macro_path",
    "macros_dir",
    "restore_dataset",
    "restore_imageplus",
    "result_title",
    "run_macro",
    "start_imagej",
]
