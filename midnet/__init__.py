"""midnet: restore out-of-focus scanning-electron micrographs."""

from importlib.metadata import PackageNotFoundError, version

from .errors import MidnetError
from .models import ModelConfig, UNetConfig, parse_model_config
from .io import read_image, write_image
from .restore import Restorer, deblur, make_restorer
from .weights import save_model
from .zoo import PRESETS, count_parameters, create_model, load_model



def __getattr__(name: str):
    """``midnet.score``: the focus score lives in its own room (midnet/focus.py), imported when first asked for."""
    if name == "score":
        from .focus import score

        return score
    raise AttributeError(f"module 'midnet' has no attribute {name!r}")


try:
    __version__ = version("midnet")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = [
    "MidnetError",
    "ModelConfig",
    "UNetConfig",
    "parse_model_config",
    "PRESETS",
    "count_parameters",
    "deblur",
    "score",
    "make_restorer",
    "Restorer",
    "read_image",
    "write_image",
    "create_model",
    "load_model",
    "save_model",
    "__version__",
]
