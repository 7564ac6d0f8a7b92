"""A network as ONE ONNX file that serves every frame size, exported once and cached.

:func:`export_onnx` writes midnet's fused inference copy (midnet/inference/fast.py) with dynamic
batch, height and width (torch.export's dynamic shapes through torch's ONNX exporter).
The graph is the network alone, on the normalised scale:

- input ``x``, float32 (N, C, H, W), the frame mapped by midnet/images/intensity.py (its 1st
  percentile onto 0, its 99.8th onto 1); output ``y``, same shape and scale; map it
  back with the inverse of that map;
- H and W must be multiples of the U-Net's stride, ``2 ** levels`` (16 for midnet-sem):
  midnet pads a frame at the bottom and right by reflection to that multiple and crops
  the output back (midnet/inference/tiling.py, predict_whole).

The size rule, the weights' SHA-256 (midnet/inference/cache.py), midnet's version and these rules
are in the file's ``metadata_props`` (keys ``midnet.*``), so a consumer can check them.
:func:`cached_onnx` keeps one such file per network in midnet's cache, named by the
weights' hash and the exporter's versions (torch, onnx, onnxscript): ``--engine onnx``
and any other engine that reads ONNX (OpenVINO) share it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .cache import cache_path, cached, weights_sha256
from ..errors import MidnetError, one_line
from .fast import inference_copy
from ..images.publish import atomic_write
from .runtime_info import midnet_version, package_version
from .tiling import final_output

GRAPH_VERSION = "1"  # bump when the exported graph changes (names, metadata, dynamic axes): old caches are not reused
INPUT, OUTPUT = "x", "y"
INSTALL_HINT = 'exporting to ONNX needs onnx and onnxscript: pip install "midnet[onnx]"'
PADDING = "bottom and right, by reflection (replicate where a side is too short), to a multiple of size_multiple; crop back"
NORMALISATION = ("input: the frame mapped affinely so that its 1st percentile is 0 and its 99.8th is 1; "
                 "output: on the same scale, mapped back with the inverse map")


def size_multiple(net: nn.Module) -> int:
    """The multiple H and W must have: the U-Net's stride (``padder_size``, 2 ** levels), 1 for other networks."""
    return net.padder_size


class FinalOutput(nn.Module):
    """The restored image of any midnet network as one tensor (multi-stage networks return every stage)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.padder_size, self.in_chans = net.padder_size, net.in_chans  # it stands for the network
        self.exposes_residual = False  # a multi-stage network's last stage has no residual of its own to split

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return final_output(self.net(x))


def cpu_inference_copy(net: nn.Module) -> nn.Module:
    """The fused inference copy of ``net`` on the CPU, never ``net`` itself moved (``.cpu()`` moves in place)."""
    fused = inference_copy(net)
    if fused is net and next(net.parameters()).device.type != "cpu":
        fused = copy.deepcopy(net)
    return fused.cpu()


def export_metadata(net: nn.Module) -> dict[str, str]:
    """The ``midnet.*`` metadata every exported file carries (ONNX metadata_props, TorchScript extra file)."""
    config = getattr(net, "config", None)
    m = size_multiple(net)
    return {
        "midnet.version": midnet_version(),
        "midnet.weights_sha256": weights_sha256(net),
        "midnet.config": config.model_dump_json() if hasattr(config, "model_dump_json") else "",
        "midnet.size_multiple": str(m),
        "midnet.min_size": str(m),
        "midnet.size_rule": f"H and W multiples of {m} (the U-Net's stride), at least {m}",
        "midnet.padding": PADDING,
        "midnet.normalisation": NORMALISATION,
        "midnet.input": INPUT,
        "midnet.output": OUTPUT,
        "midnet.axes": "bcyx",
    }


def export_onnx(net: nn.Module, path: str | os.PathLike, replace: bool = True) -> Path:
    """Write ``net``'s fused inference copy to ONE ONNX file with dynamic batch, height and width (atomically)."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (torch's exporter translates through it)
    except ImportError:
        raise MidnetError(INSTALL_HINT) from None
    fused = cpu_inference_copy(net)
    metadata = export_metadata(fused)
    program = _export_program(fused)
    program.model.metadata_props.update(metadata)
    program.model.doc_string = f"midnet {metadata['midnet.version']}: {metadata['midnet.size_rule']}; {NORMALISATION}"
    path = Path(path)
    with atomic_write(path, replace=replace) as tmp:
        program.save(tmp)
    return path


def _export_program(fused: nn.Module):
    """torch's ONNXProgram of ``fused`` with dynamic (batch, multiple * h, multiple * w), stdout kept clean."""
    from torch.export import Dim

    m = size_multiple(fused)
    chans = fused.in_chans
    # the example must not have a batch, height or width of 1 (torch.export specialises sizes 0 and 1) and
    # height != width (equal example sizes may be assumed equal)
    example = torch.zeros(2, chans, 4 * m, 6 * m)
    h, w = Dim("height_steps"), Dim("width_steps")
    dims = {0: Dim("batch"), 2: h * m if m > 1 else h, 3: w * m if m > 1 else w}
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:  # the exporter reports its progress on stdout, which a command may use for data
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.onnx.export(FinalOutput(fused).eval(), (example,), None, input_names=[INPUT],
                                     output_names=[OUTPUT], dynamo=True, verbose=False, dynamic_shapes=(dims,))
    except Exception as exc:
        raise MidnetError(f"export to ONNX failed ({type(exc).__name__}: {one_line(exc, 160)}); "
                          "use --engine torch") from exc
    finally:
        quiet.setLevel(level)


def runtime_tag() -> str:
    """The versions that shape an exported file, for its cache name."""
    onnx, onnxscript = package_version("onnx"), package_version("onnxscript")
    return f"torch{torch.__version__}-onnx{onnx}-onnxscript{onnxscript}-graph{GRAPH_VERSION}"


def model_key(net: nn.Module) -> str:
    """SHA-256 of the weights' hash and the architecture (two configs with equal tensors are different graphs)."""
    config = getattr(net, "config", None)
    arch = config.model_dump_json() if hasattr(config, "model_dump_json") else type(net).__name__
    return hashlib.sha256(json.dumps([weights_sha256(net), arch]).encode()).hexdigest()


def onnx_cache_path(net: nn.Module) -> Path:
    """Where the cache keeps ``net``'s ONNX file: named by its weights, architecture and the exporter's versions."""
    try:
        tag = runtime_tag()
    except ImportError:
        raise MidnetError(INSTALL_HINT) from None
    return cache_path("onnx", model_key(net), tag, ".onnx")


def cached_onnx(net: nn.Module) -> Path:
    """The cached ONNX file of ``net`` (fused or not), exported first when the cache has none."""
    return cached(onnx_cache_path(net), lambda tmp: export_onnx(net, tmp))
