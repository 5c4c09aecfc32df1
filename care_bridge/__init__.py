"""care_bridge: content-aware image restoration (CARE) for fluorescence microscopy, shipped as bioimage.io
model bundles that a Python runtime, Fiji macros and KNIME nodes execute identically.

CARE: Weigert et al., "Content-aware image restoration: pushing the limits of fluorescence microscopy",
Nature Methods 15:1090–1097 (2018), doi:10.1038/s41592-018-0216-7.
"""

__version__ = "0.1.0"
