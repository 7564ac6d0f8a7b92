"""Intensity normalisation: the network sees every frame on one scale, however it was stored.

A micrograph's numbers depend on the file (8, 12 or 16 bits, float in any range) and on
the microscope's brightness and contrast, none of which says anything about the
specimen. As CSBDeep does (``normalize(x, 1, 99.8)``), each frame is mapped affinely so
that its 1st percentile lands on 0 and its 99.8th on 1 before the network sees it, and
the network's output goes back through the inverse map. Any gain, offset or bit depth
then gives the network the same input, up to the file's quantisation and clipping.

Training applies the same map, measured on the blurry frame of a pair, to both of its
exposures: the network learns the blur in this normalised space and nothing about how
bright a training file happened to be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MidnetError

PERCENTILES = (1.0, 99.8)  # CSBDeep's defaults: robust to hot pixels and a few saturated ones
SAMPLE_PIXELS = 1 << 22  # percentiles from a regular subsample: exact enough, bounded memory on huge frames
FLAT_SPAN = 1e-6  # a span below this share of the frame's values is flat: shift only (from_sample)
# the exported graphs measure with these three constants too (midnet/export/intensity_graph.py)


@dataclass(frozen=True)
class IntensityMap:
    """``(x - low) / span``: the frame's percentiles onto 0 and 1."""

    low: float
    span: float

    def forward(self, values: np.ndarray) -> np.ndarray:
        """float32 values on the network's scale (a new array)."""
        out = np.asarray(values, dtype=np.float32).copy()
        out -= np.float32(self.low)
        out /= np.float32(self.span)
        return out

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Back to the frame's own scale, in place where the array is float32."""
        out = np.asarray(values, dtype=np.float32)
        out *= np.float32(self.span)
        out += np.float32(self.low)
        return out


def sample_step(size: int) -> int:
    """The stride of the regular grid the percentiles are measured on, for a frame of ``size`` pixels."""
    return max(1, int(np.ceil(np.sqrt(size / SAMPLE_PIXELS))))


def _subsample(values: np.ndarray) -> np.ndarray:
    """A regular grid of at most about SAMPLE_PIXELS values, without copying the whole frame."""
    flat_step = sample_step(values.size)
    return values[::flat_step, ::flat_step] if values.ndim >= 2 else values[::flat_step * flat_step]


def measure(values: np.ndarray, percentiles: tuple[float, float] = PERCENTILES) -> IntensityMap:
    """The map that puts ``values``' low and high percentiles on 0 and 1.

    A frame with no spread between the percentiles (flat, or nearly all one value) is
    only shifted: dividing by a span of almost nothing would turn its noise into contrast.
    """
    return from_sample(_subsample(values), percentiles)


def from_sample(sample: np.ndarray, percentiles: tuple[float, float] = PERCENTILES) -> IntensityMap:
    """:func:`measure` on an already subsampled frame (``frame[::s, ::s]``, s = :func:`sample_step`): how a
    frame too large for memory is measured from a strided read (midnet/cluster/large_images.py), with the same result."""
    sample = np.asarray(sample, dtype=np.float32)
    if not np.isfinite(sample).all():
        raise MidnetError("image holds NaN or infinite values; clean or re-export it")
    low, high = (float(v) for v in np.percentile(sample, percentiles))
    span = high - low
    full = float(sample.max() - sample.min())
    if not span > FLAT_SPAN * max(full, abs(high), 1e-30):
        span = full if full > 0 else 1.0
    return IntensityMap(low, span)
