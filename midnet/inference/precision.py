"""Reduced-precision inference: which number format a machine runs natively, and the copy that runs in it.

``precision`` of :class:`midnet.inference.settings.RestoreSettings` is ``fp32``, ``bf16``, ``fp16`` or
``auto`` (settled once by its ``resolved()``). A reduced-precision copy holds the fused inference copy's weights in bf16/fp16
and runs its body in that format; what the format would spoil stays in float32:

- the global residual, ``output = input + body(input)``: the restored frame is mostly its
  input, and rounding it to bf16's 8 significant bits would move a mid-gray pixel by up
  to 1/512 of full scale (a 16-bit file's 128 levels) whatever the network does;
- the normalisation statistics: ATen's ``layer_norm`` and adaptive average pool
  accumulate bf16/fp16 tensors in float32, and the tiled path's whole-frame channel
  means are summed in float64 (midnet/inference/tiling.py) before they are replayed;
- the intensity map and its inverse (midnet/images/intensity.py), which run on numpy float32.

``auto`` is bf16 on a CPU with native bf16 arithmetic (the ``avx512_bf16`` or
``amx_bf16`` flags: oneDNN then runs bf16 convolutions on the vector or matrix units) and
fp32 everywhere else, including GPUs (no GPU was available to run the quality test) and
CPUs whose bf16 would be emulated (slower than fp32, no gain). The quality test that
allows it is in docs/performance.md.
"""

from __future__ import annotations

import copy
import os

import torch
from torch import nn

from ..errors import MidnetError
from ..models.blocks import pad_to_multiple
from ..choices import PRECISIONS
from .runtime_info import cpu_flags  # empty off Linux: then ``auto`` stays fp32

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# The largest difference from the fp32 restorer each precision may make, on the network's
# normalised scale (the frame's 1st..99.8th percentile span is 1). Measured causes: fp32
# engines differ only in summation order (3.6e-7 seen); bf16 keeps 8 significant bits, a
# relative rounding of 2**-9 = 0.2% per stored activation, compounded over ~40 layers:
# 0.005-0.006 seen with the shipped weights on 128 px frames (whole or tiled, torch or
# OpenVINO), so 0.02 (3x that) flags anything worse than bf16 rounding. fp16 keeps 11 bits,
# 8x finer: 7.4e-4 seen, bound 2.5e-3.
TOLERANCE = {"fp32": 1e-4, "bf16": 2e-2, "fp16": 2.5e-3}
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo names (Linux); Zen 4+, Cooper Lake, Sapphire Rapids+


# oneDNN (torch's and OpenVINO's CPU kernels) levels below the one with bf16 instructions
_ISA_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI")


def native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (a bf16 dot-product or matrix instruction) and may use it.

    A user who caps oneDNN's instruction set (ONEDNN_MAX_CPU_ISA) below bf16 has taken it away:
    OpenVINO's CPU plugin then fails to run a bf16 graph ("Convolution node ... not initialized").
    """
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in _ISA_WITHOUT_BF16:
        return False
    return any(flag in cpu_flags() for flag in NATIVE_BF16_FLAGS)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32``, ``bf16`` or ``fp16``: what ``precision`` means on ``device`` (``auto`` decided here)."""
    if precision not in PRECISIONS:
        raise MidnetError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cpu" and native_bf16() else "fp32"


class ReducedPrecision(nn.Module):
    """A network run in bf16/fp16 with its input, global residual and output in float32 (module docstring)."""

    def __init__(self, net: nn.Module, precision: str):
        super().__init__()
        self.dtype = DTYPES[precision]
        self.precision = precision
        self.body = copy.deepcopy(net).to(self.dtype)
        self.padder_size = net.padder_size
        self.in_chans = net.in_chans
        self.exposes_residual = False  # it adds the body's residual itself, in float32
        self._residual = net.exposes_residual  # the NAFNet family; others are cast as a whole

    def forward(self, x: torch.Tensor):
        if not self._residual:
            out = self.body(x.to(self.dtype))
            return [o.float() for o in out] if isinstance(out, (list, tuple)) else out.float()
        h, w = x.shape[-2:]
        padded = pad_to_multiple(x, self.padder_size)
        out = self.body.residual(padded.to(self.dtype)).float()
        out += padded
        return out[..., :h, :w]


def reduced_precision(net: nn.Module, precision: str) -> nn.Module:
    """``net`` itself for fp32, else a :class:`ReducedPrecision` copy (the caller's module is not changed)."""
    if precision == "fp32":
        return net
    if precision not in DTYPES:
        raise MidnetError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    return ReducedPrecision(net, precision)
