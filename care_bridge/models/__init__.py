"""Networks: configuration (pydantic), U-Net builder, losses, receptive field, model folders.

``care_bridge.models.config`` and ``receptive_field`` import no TensorFlow; the Keras parts load lazily.
"""

from .config import CONFIG_FILE, CareConfig
from .receptive_field import halo, receptive_field_radius

__all__ = ["CONFIG_FILE", "CareConfig", "halo", "receptive_field_radius", "load_model"]


def load_model(model_dir, *, which: str = "best"):
    """Rebuild the exact network of a model folder and load its ``best`` or ``last`` weights."""
    from .folder import load_model as _load

    return _load(model_dir, which=which)
