"""midnet: restore out-of-focus scanning-electron micrographs.

The public names load their modules when first used (PEP 562): ``import midnet`` and the
``midnet`` command start without loading torch, which takes seconds on a small CPU.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import MidnetError
from .inference.runtime_info import midnet_version as _midnet_version

if TYPE_CHECKING:  # what type checkers, IDEs and the API reference (griffe) read; at run time see __getattr__
    from .export import export_model
    from .quality.focus import score
    from .images.io import read_image, write_image
    from .models import ModelConfig, UNetConfig, parse_model_config
    from .inference.restore import Restorer, deblur, make_restorer
    from .inference.settings import RestoreSettings
    from .models.weights import save_model
    from .models.zoo import PRESETS, count_parameters, create_model, load_model

# public name -> the module that owns it
_OWNERS = {
    "ModelConfig": ".models",
    "UNetConfig": ".models",
    "parse_model_config": ".models",
    "read_image": ".images.io",
    "write_image": ".images.io",
    "Restorer": ".inference.restore",
    "deblur": ".inference.restore",
    "make_restorer": ".inference.restore",
    "RestoreSettings": ".inference.settings",
    "save_model": ".models.weights",
    "PRESETS": ".models.zoo",
    "count_parameters": ".models.zoo",
    "create_model": ".models.zoo",
    "load_model": ".models.zoo",
    "score": ".quality.focus",  # `midnet score`'s verdicts on a whole archive
    "export_model": ".export",  # midnet/export/, the room of `midnet export` (torch.onnx, bioimageio)
}


def __getattr__(name: str):
    owner = _OWNERS.get(name)
    if owner is None:
        raise AttributeError(f"module 'midnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(owner, __name__), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = _midnet_version()

__all__ = ["MidnetError", "__version__", *_OWNERS]
