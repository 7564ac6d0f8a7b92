"""midnet/images/intensity.py's percentile map as graph operations, so an exported file takes raw values.

An exported graph that expects normalised input is run wrong by every host that is not
midnet (its user must apply the map by hand). The exported ONNX and TorchScript files
therefore hold the map themselves: they take the frame's own values (float32 of the
file's values, any range), measure the frame's 1st and 99.8th percentiles, map them onto
0 and 1, pad, run the network, crop and map back. Everything the measurement depends
on is read from midnet/images/intensity.py (PERCENTILES, SAMPLE_PIXELS, FLAT_SPAN); this
module only restates its arithmetic in two graph languages:

- the subsample's stride is the smallest integer ``s`` with ``s * s * SAMPLE_PIXELS >=
  H * W``, which is what ``max(1, ceil(sqrt(H * W / SAMPLE_PIXELS)))`` computes
  (intensity.sample_step); here in integers, because float32's ``sqrt`` rounds
  ``sqrt(4 + 2**-22)`` to exactly 2 and would take the wrong stride just above a boundary;
- each percentile is numpy's linear interpolation (``np.percentile``'s default) between
  the sorted sample's values at ranks ``floor(q (n - 1))`` and the next, with the rank and
  its fraction in exact integer arithmetic (q = 998/1000 for 99.8) whose products stay
  below 2**31 and whose divisions below 2**24 (OpenVINO computes int64 in int32 and
  divides integers through float32). The two values come from TopK, which every ONNX
  runtime has: the smallest ``rank + 2`` values for a low percentile, the largest
  ``n - rank`` for a high one, so no full sort is needed;
- a frame with no spread between its percentiles is only shifted (intensity.from_sample).

For a network with several input channels the percentiles are measured on the channel
mean, as midnet measures a grey frame before it repeats it across the channels.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..images import intensity

PREFIX = "midnet_raw/"  # every name this module adds to an ONNX graph: none can collide with the network's


def rank_fractions(percentiles: tuple[float, ...] = intensity.PERCENTILES) -> list[tuple[int, int]]:
    """Each percentile as an exact fraction (numerator, denominator) of the sample's last rank."""
    fractions = [Fraction(str(q)) / 100 for q in percentiles]
    return [(f.numerator, f.denominator) for f in fractions]


# ------------------------------------------------------------------ TorchScript


class RawInRawOut(nn.Module):
    """A traced network on the normalised scale, wrapped to take and return the frame's own values (scriptable)."""

    def __init__(self, net: nn.Module, multiple: int, channels: int = 1):
        super().__init__()
        self.net = net
        self.multiple = multiple
        self.channels = channels
        self.sample_pixels = int(intensity.SAMPLE_PIXELS)
        (self.low_num, self.low_den), (self.high_num, self.high_den) = rank_fractions()
        self.flat_span = float(intensity.FLAT_SPAN)

    def measure(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per frame of the batch: (low, span), each (N, 1, 1, 1), as intensity.measure gives them."""
        h, w = x.shape[-2], x.shape[-1]
        step = max(1, int(math.ceil(math.sqrt(h * w / self.sample_pixels))))
        if step * step * self.sample_pixels < h * w:  # float rounding put the estimate one below
            step += 1
        if step > 1 and (step - 1) * (step - 1) * self.sample_pixels >= h * w:
            step -= 1
        gray = x if self.channels == 1 else x.mean(dim=1, keepdim=True)
        flat = gray[:, :, ::step, ::step].reshape(x.shape[0], -1)
        n = flat.shape[1]
        low = self._percentile(flat, n, self.low_num, self.low_den)
        high = self._percentile(flat, n, self.high_num, self.high_den)
        full = flat.amax(dim=1) - flat.amin(dim=1)
        span = high - low
        floor = self.flat_span * torch.maximum(torch.maximum(full, high.abs()), torch.full_like(full, 1e-30))
        fallback = torch.where(full > 0, full, torch.ones_like(full))
        span = torch.where(span > floor, span, fallback)
        return low.reshape(-1, 1, 1, 1), span.reshape(-1, 1, 1, 1)

    def _percentile(self, flat: torch.Tensor, n: int, num: int, den: int) -> torch.Tensor:
        rank = num * (n - 1)
        lo, frac = rank // den, float(rank % den) / den
        if 2 * num < den:  # a low percentile: the smallest lo + 2 values, ascending
            values = torch.topk(flat, min(lo + 2, n), dim=1, largest=False, sorted=True).values
            a, b = values[:, lo], values[:, min(lo + 1, n - 1)]
        else:  # a high one: the largest n - lo values, descending
            j = n - 1 - lo
            values = torch.topk(flat, j + 1, dim=1, largest=True, sorted=True).values
            a, b = values[:, j], values[:, max(j - 1, 0)]
        return a + (b - a) * frac

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, span = self.measure(x)
        h, w = x.shape[-2], x.shape[-1]
        pad_h = (self.multiple - h % self.multiple) % self.multiple
        pad_w = (self.multiple - w % self.multiple) % self.multiple
        z = (x - low) / span
        if pad_h > 0 or pad_w > 0:  # midnet's padding (models/blocks.py, pad_to_multiple "reflect")
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            z = F.pad(z, [0, pad_w, 0, pad_h], mode=mode)
        return self.net(z)[:, :, :h, :w] * span + low


# ------------------------------------------------------------------ ONNX


class _Builder:
    """Appends ONNX nodes and constants with unique names under PREFIX."""

    def __init__(self):
        self.nodes, self.initializers, self._count = [], [], 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{PREFIX}{hint}_{self._count}"

    def const(self, value, dtype=np.int64) -> str:
        from onnx import numpy_helper

        name = self.name("c")
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs):
        from onnx import helper

        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.name(op_type), **attrs))
        return names[0] if outputs == 1 else names


def _step(b: _Builder, size: str) -> str:
    """The subsample's stride, int64 scalar: float estimate, then corrected in integers (module docstring).

    Products only, no integer division: OpenVINO runs int64 arithmetic in int32 and divides integers
    through float32, which rounds numerators from 2**24 on (20971519 // 4194304 came out 5, not 4).
    """
    pixels, one = b.const(intensity.SAMPLE_PIXELS), b.const(1)
    ratio = b.op("Div", b.op("Cast", size, to=1), b.const(float(intensity.SAMPLE_PIXELS), np.float32))
    step = b.op("Max", b.op("Cast", b.op("Ceil", b.op("Sqrt", ratio)), to=7), one)
    covered = b.op("Mul", b.op("Mul", step, step), pixels)
    step = b.op("Add", step, b.op("Cast", b.op("Less", covered, size), to=7))
    less = b.op("Sub", step, one)
    fits = b.op("Not", b.op("Less", b.op("Mul", b.op("Mul", less, less), pixels), size))
    return b.op("Sub", step, b.op("Cast", b.op("And", b.op("Greater", step, one), fits), to=7))


def _percentile(b: _Builder, flat: str, n: str, num: int, den: int) -> str:
    """numpy's linear-interpolated percentile num/den of each row of ``flat`` (N, n): (N,)."""
    last = b.op("Sub", n, b.const(1))
    # rank = num * last, split so that no product exceeds num * den and no division a numerator of 2**24
    # (OpenVINO: see _step); n itself stays near SAMPLE_PIXELS, below 2**24
    whole, part = b.op("Div", last, b.const(den)), b.op("Mul", b.op("Mod", last, b.const(den)), b.const(num))
    lo = b.op("Add", b.op("Mul", whole, b.const(num)), b.op("Div", part, b.const(den)))  # non-negative: floor
    frac = b.op("Div", b.op("Cast", b.op("Mod", part, b.const(den)), to=1), b.const(float(den), np.float32))
    if 2 * num < den:  # a low percentile: the smallest lo + 2 values, ascending
        k = b.op("Min", b.op("Add", lo, b.const(2)), n)
        first, second = lo, b.op("Min", b.op("Add", lo, b.const(1)), last)
        largest = 0
    else:  # a high one: the largest n - lo values, descending
        first = b.op("Sub", last, lo)
        k = b.op("Add", first, b.const(1))
        second = b.op("Max", b.op("Sub", first, b.const(1)), b.const(0))
        largest = 1
    values, _ = b.op("TopK", flat, b.op("Reshape", k, b.const([1])), outputs=2, axis=1, largest=largest, sorted=1)
    a, c = b.op("Gather", values, first, axis=1), b.op("Gather", values, second, axis=1)
    return b.op("Add", a, b.op("Mul", b.op("Sub", c, a), frac))


def _measure(b: _Builder, x: str, h: str, w: str, channels: int) -> tuple[str, str]:
    """(low, span) of each frame of ``x`` (N, C, H, W), each (N, 1, 1, 1)."""
    step = b.op("Reshape", _step(b, b.op("Mul", h, w)), b.const([1]))
    gray = x if channels == 1 else b.op("ReduceMean", x, b.const([1]), keepdims=1)
    big = b.const([np.iinfo(np.int64).max] * 2)
    sample = b.op("Slice", gray, b.const([0, 0]), big, b.const([2, 3]), b.op("Concat", step, step, axis=0))
    flat = b.op("Reshape", sample, b.const([0, -1]))
    n = b.op("Gather", b.op("Shape", flat), b.const(1), axis=0)
    (low_num, low_den), (high_num, high_den) = rank_fractions()
    low = _percentile(b, flat, n, low_num, low_den)
    high = _percentile(b, flat, n, high_num, high_den)
    axis = b.const([1])
    full = b.op("Sub", b.op("ReduceMax", flat, axis, keepdims=0), b.op("ReduceMin", flat, axis, keepdims=0))
    span = b.op("Sub", high, low)
    largest = b.op("Max", full, b.op("Abs", high), b.const(1e-30, np.float32))
    ok = b.op("Greater", span, b.op("Mul", largest, b.const(intensity.FLAT_SPAN, np.float32)))
    fallback = b.op("Where", b.op("Greater", full, b.const(0.0, np.float32)), full, b.const(1.0, np.float32))
    span = b.op("Where", ok, span, fallback)
    shape = b.const([-1, 1, 1, 1])
    return b.op("Reshape", low, shape), b.op("Reshape", span, shape)


def _pad_index(b: _Builder, length: str, multiple: int) -> tuple[str, str]:
    """(indices of a side padded to ``multiple`` by reflection, the pad's size): midnet's pad_to_multiple."""
    m = b.const(multiple)
    padded = b.op("Mul", b.op("Div", b.op("Add", length, b.const(multiple - 1)), m), m)
    i = b.op("Range", b.const(0), padded, b.const(1))
    mirror = b.op("Sub", b.op("Sub", b.op("Mul", length, b.const(2)), b.const(2)), i)
    reflected = b.op("Where", b.op("Less", i, length), i, mirror)
    return reflected, b.op("Sub", padded, length)


def _pad(b: _Builder, z: str, h: str, w: str, multiple: int) -> str:
    """``z`` padded at the bottom and right by reflection (replicate where a side is too short)."""
    rows, pad_h = _pad_index(b, h, multiple)
    cols, pad_w = _pad_index(b, w, multiple)
    short = b.op("Or", b.op("GreaterOrEqual", pad_h, h), b.op("GreaterOrEqual", pad_w, w))
    one = b.const(1)
    rows = b.op("Where", short, b.op("Min", b.op("Range", b.const(0), b.op("Add", h, pad_h), one),
                                     b.op("Sub", h, one)), rows)
    cols = b.op("Where", short, b.op("Min", b.op("Range", b.const(0), b.op("Add", w, pad_w), one),
                                     b.op("Sub", w, one)), cols)
    return b.op("Gather", b.op("Gather", z, rows, axis=2), cols, axis=3)


def wrap_onnx(model, multiple: int, channels: int = 1):
    """The ONNX ``model`` of the network on the normalised scale (one input, one output, NCHW, H and W
    multiples of ``multiple``), changed in place to take and return raw values of any size.

    The input and output keep their names; the network's nodes read and write internal ones.
    """
    graph = model.graph
    (source,), (result,) = graph.input, graph.output
    raw_in, raw_out = source.name, result.name
    inner_in, inner_out = PREFIX + "normalised_in", PREFIX + "normalised_out"
    for node in graph.node:
        node.input[:] = [inner_in if n == raw_in else n for n in node.input]
        node.output[:] = [inner_out if n == raw_out else n for n in node.output]
    b = _Builder()
    shape = b.op("Shape", raw_in)
    h, w = (b.op("Gather", shape, b.const(axis), axis=0) for axis in (2, 3))
    low, span = _measure(b, raw_in, h, w, channels)
    b.op("Identity", _pad(b, b.op("Div", b.op("Sub", raw_in, low), span), h, w, multiple))
    b.nodes[-1].output[0] = inner_in
    prelude = list(b.nodes)
    b.nodes.clear()
    ends = b.op("Concat", b.op("Reshape", h, b.const([1])), b.op("Reshape", w, b.const([1])), axis=0)
    crop = b.op("Slice", inner_out, b.const([0, 0]), ends, b.const([2, 3]))
    b.op("Add", b.op("Mul", crop, span), low)
    b.nodes[-1].output[0] = raw_out
    network = list(graph.node)
    del graph.node[:]
    graph.node.extend(prelude + network + b.nodes)
    graph.initializer.extend(b.initializers)
    _declare(graph, raw_in, raw_out)
    return model


def _declare(graph, raw_in: str, raw_out: str) -> None:
    """Input and output: float32 (N, C, H, W), every dimension dynamic."""
    from onnx import TensorProto, helper

    dims = ["batch", "channels", "height", "width"]
    graph.input[0].CopyFrom(helper.make_tensor_value_info(raw_in, TensorProto.FLOAT, dims))
    graph.output[0].CopyFrom(helper.make_tensor_value_info(raw_out, TensorProto.FLOAT, dims))


def stats_model(channels: int = 1, opset: int = 18):
    """An ONNX model of the measurement alone: ``x`` (N, C, H, W) in, ``low`` and ``span`` (N, 1, 1, 1) out.

    The same nodes :func:`wrap_onnx` puts before the network: what the tests compare with intensity.measure.
    """
    from onnx import TensorProto, helper

    b = _Builder()
    shape = b.op("Shape", "x")
    h, w = (b.op("Gather", shape, b.const(axis), axis=0) for axis in (2, 3))
    low, span = _measure(b, "x", h, w, channels)
    b.nodes += [helper.make_node("Identity", [low], ["low"]), helper.make_node("Identity", [span], ["span"])]
    graph = helper.make_graph(
        b.nodes, "midnet_intensity", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "c", "h", "w"])],
        [helper.make_tensor_value_info(v, TensorProto.FLOAT, ["n", 1, 1, 1]) for v in ("low", "span")],
        b.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
