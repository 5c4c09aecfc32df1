"""The CARE paper's restoration modes as pipelines (Weigert et al., Nature Methods 2018,
doi:10.1038/s41592-018-0216-7): make training data, configure and train the right network, evaluate against
the classical baseline. Used by ``care-bridge datagen --mode …``, the examples and the tests.

=============  ==========================================  ==============================  ======================
mode           network (``care_bridge.models.factory``)   restored through the runtime    baseline
=============  ==========================================  ==============================  ======================
isotropic      2D U-Net on XZ/YZ slices                    ``runtime.procedures``          linear Z interpolation
upsampling     Z-upsampling front + 3D U-Net               network (bundle axis scale)     linear Z interpolation
projection     3D softmax-over-Z projection + 2D U-Net     network (output ``byxc``)       max projection
tubules        2D U-Net on synthetic sub-diffraction data  network                         Richardson–Lucy
granules       (same)                                      network                         Richardson–Lucy
=============  ==========================================  ==============================  ======================

Importing this package imports no TensorFlow; training functions import it when called.
"""

from .common import normalize_stack, split_validation, train_mode

__all__ = ["normalize_stack", "split_validation", "train_mode"]
