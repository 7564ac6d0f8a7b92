"""``midnet.export``: a network as a BioImage Model Zoo package, an ONNX file or a TorchScript file.

:func:`export_model` (``midnet.export_model(model, path, format=...)``) and
``midnet export MODEL -o PATH --format ...`` write:

- ``bmz``: a BMZ package zip for Fiji (deepImageJ), napari, ilastik (midnet/export/bmz.py);
- ``onnx``: one ONNX file with dynamic batch, height and width (midnet/export/onnx.py);
- ``torchscript``: a TorchScript file (midnet/export/torchscript.py).

Every exported graph takes the frame's own values (float32 of the file's grey levels, any
range and size) and returns the restoration on the same scale: midnet/images/intensity.py's
percentile map and midnet's padding are inside it (midnet/export/intensity_graph.py).
Outputs appear atomically and an existing file is kept unless ``overwrite=True``.

May import: the core (a room: nothing in the core imports it).
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ..errors import MidnetError

FORMATS = ("bmz", "onnx", "torchscript")


def export_model(model: str | os.PathLike | nn.Module, path: str | os.PathLike, format: str = "bmz",
                 overwrite: bool = False, **kw) -> Path:
    """Write ``model`` (preset with weights such as ``"midnet-sem"``, weights file, or network) to ``path``.

    ``format`` is ``"bmz"``, ``"onnx"`` or ``"torchscript"``; ``kw`` go to the format's
    exporter (for bmz: midnet.export.bmz.export_bmz's ``sample``, ``formats``, ``tile``,
    ``halo``, ``authors``). Refuses to replace an existing ``path`` unless ``overwrite``.
    """
    if format not in FORMATS:
        raise MidnetError(f"unknown export format {format!r}; use {', '.join(FORMATS)}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise MidnetError(f"{path} exists; choose another name, or replace it with --overwrite (overwrite=True)")
    if path.is_dir():
        raise MidnetError(f"{path} is a folder; give a file name")
    if format == "bmz":
        from .bmz import export_bmz

        return export_bmz(model, path, **kw)
    if kw:
        raise MidnetError(f"the {format} export takes no options ({', '.join(sorted(kw))})")
    net = _network(model)
    if format == "onnx":
        from .onnx import export_onnx_file

        return export_onnx_file(net, path, replace=overwrite)
    from .torchscript import export_torchscript

    return export_torchscript(net, path, replace=overwrite)


def _network(model) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    from ..models.zoo import load_model

    return load_model(model, "cpu")

