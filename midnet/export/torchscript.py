"""A network as a TorchScript file that runs at any frame size, for torch.jit.load and BMZ consumers.

The fused inference copy (midnet/fast.py) is traced at one example size, then wrapped in
a small scripted module that does midnet's own padding: the frame is padded at the bottom
and right by reflection (replicate where a side is too short to reflect) to a multiple of
the U-Net's stride, and the output cropped back, exactly as midnet/tiling.py's
predict_whole does. So any height and width work and give what midnet's restorer gives
on the normalised frame. Tracing (not scripting the network) keeps the file free of the
Python control flow scripting cannot type; the traced graph is size-generic because the
example size is already a multiple, so no padding branch is baked into it.

Input and output are float32 (N, C, H, W) on the normalised scale (midnet/onnx_graph.py
describes it); the file carries the same ``midnet.*`` metadata as the ONNX export, as
JSON in the extra file ``midnet.json`` (``torch.jit.load(f, _extra_files={"midnet.json": ""})``).
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..io import atomic_write
from ..onnx_graph import FinalOutput, cpu_inference_copy, export_metadata, size_multiple

METADATA_FILE = "midnet.json"
PADDING = ("inside the module: bottom and right, by reflection (replicate where a side is too short), "
           "to a multiple of size_multiple, output cropped back; any H and W work")


class _PadCrop(nn.Module):
    """Pads to the size multiple as midnet does, runs the traced network, crops back."""

    def __init__(self, net: nn.Module, multiple: int):
        super().__init__()
        self.net = net
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        pad_h = (self.multiple - h % self.multiple) % self.multiple
        pad_w = (self.multiple - w % self.multiple) % self.multiple
        if pad_h > 0 or pad_w > 0:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, [0, pad_w, 0, pad_h], mode=mode)
        return self.net(x)[:, :, :h, :w]


def torchscript_module(net: nn.Module) -> torch.jit.ScriptModule:
    """The scripted pad-run-crop module of ``net``'s fused inference copy (on the CPU)."""
    fused = cpu_inference_copy(net)
    m = size_multiple(fused)
    chans = int(getattr(getattr(fused, "config", None), "in_chans", 1))
    example = torch.zeros(1, chans, 4 * m, 6 * m)
    with warnings.catch_warnings():  # torch.jit's deprecation notice and the tracer's notes on the padding branch
        warnings.simplefilter("ignore")
        with torch.no_grad():
            traced = torch.jit.trace(FinalOutput(fused).eval(), example, check_trace=False)
        return torch.jit.script(_PadCrop(traced, m))


def export_torchscript(net: nn.Module, path: str | os.PathLike, replace: bool = True) -> Path:
    """Write ``net`` as a TorchScript file (atomically) with its metadata in ``midnet.json``."""
    fused = cpu_inference_copy(net)
    module = torchscript_module(fused)
    metadata = export_metadata(fused)
    metadata.update({"midnet.padding": PADDING, "midnet.min_size": "1",
                     "midnet.size_rule": "any H and W (padded inside the module)"})
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
