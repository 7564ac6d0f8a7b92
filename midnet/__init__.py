"""midnet: restore out-of-focus scanning-electron micrographs."""

from .errors import MidnetError
from .models import ModelConfig, UNetConfig, parse_model_config
from .io import read_image, write_image
from .restore import Restorer, deblur, make_restorer
from .runtime_info import midnet_version as _midnet_version
from .weights import save_model
from .zoo import PRESETS, count_parameters, create_model, load_model



def __getattr__(name: str):
    """``midnet.score`` and ``midnet.export`` live in their own rooms (midnet/focus.py, midnet/export/), imported when first asked for."""
    if name == "score":
        from .focus import score

        return score
    if name == "export":  # the package midnet/export/, callable as midnet.export(model, path, format=...)
        import importlib

        return importlib.import_module(".export", __name__)
    raise AttributeError(f"module 'midnet' has no attribute {name!r}")


__version__ = _midnet_version()

__all__ = [
    "MidnetError",
    "ModelConfig",
    "UNetConfig",
    "parse_model_config",
    "PRESETS",
    "count_parameters",
    "deblur",
    "score",
    "export",
    "make_restorer",
    "Restorer",
    "read_image",
    "write_image",
    "create_model",
    "load_model",
    "save_model",
    "__version__",
]
