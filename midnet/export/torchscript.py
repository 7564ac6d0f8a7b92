"""A network as a TorchScript file that takes a micrograph's own values at any size, for torch.jit.load and BMZ.

The fused inference copy (midnet/inference/fast.py) is traced at one example size, then wrapped in
a small scripted module (midnet/export/intensity_graph.py, RawInRawOut) that does what
midnet's restorer does around the network: measures the frame's percentiles as
midnet/images/intensity.py does, maps them onto 0 and 1, pads the frame at the bottom and right
by reflection (replicate where a side is too short) to a multiple of the U-Net's stride,
runs the network, crops back and maps back. So the file takes float32 (N, C, H, W) of the
file's own values, any range and any size, and returns the restoration on the same scale.
Tracing (not scripting the network) keeps the file free of the Python control flow
scripting cannot type; the traced graph is size-generic because the example size is
already a multiple, so no padding branch is baked into it.

The file carries the same ``midnet.*`` metadata as the ONNX export, as JSON in the extra
file ``midnet.json`` (``torch.jit.load(f, _extra_files={"midnet.json": ""})``).
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from ..inference.onnx_graph import FinalOutput, cpu_inference_copy, size_multiple
from ..images.publish import atomic_write
from .intensity_graph import RawInRawOut

METADATA_FILE = "midnet.json"


def torchscript_module(net: nn.Module) -> torch.jit.ScriptModule:
    """The scripted raw-in raw-out module of ``net``'s fused inference copy (on the CPU)."""
    fused = cpu_inference_copy(net)
    m = size_multiple(fused)
    chans = fused.in_chans
    example = torch.zeros(1, chans, 4 * m, 6 * m)
    with warnings.catch_warnings():  # torch.jit's deprecation notice and the tracer's notes
        warnings.simplefilter("ignore")
        with torch.no_grad():
            traced = torch.jit.trace(FinalOutput(fused).eval(), example, check_trace=False)
        return torch.jit.script(RawInRawOut(traced, m, chans))


def export_torchscript(net: nn.Module, path: str | os.PathLike, replace: bool = True) -> Path:
    """Write ``net`` as a raw-in raw-out TorchScript file (atomically) with its metadata in ``midnet.json``."""
    from .onnx import raw_metadata

    fused = cpu_inference_copy(net)
    module = torchscript_module(fused)
    metadata = raw_metadata(fused)
    path = Path(path)
    with atomic_write(path, replace=replace) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(module, tmp, _extra_files={METADATA_FILE: json.dumps(metadata, indent=1)})
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``midnet.*`` metadata of a TorchScript file written by :func:`export_torchscript`.

    Read from the zip archive directly (``ARCHIVE/extra/midnet.json``): nothing is loaded or run.
    """
    with zipfile.ZipFile(path) as archive:
        name = next((n for n in archive.namelist() if n.endswith(f"/extra/{METADATA_FILE}")), None)
        return json.loads(archive.read(name)) if name else {}
