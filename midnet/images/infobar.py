"""The SEM info bar: the band of text on a uniform background at the bottom of a frame.

JEOL, FEI/Thermo, Zeiss, Hitachi and TESCAN all write magnification, voltage, scale bar
and date into such a band. It is not image content: never train on it, never score it,
and copy it to the output untouched.
"""

from __future__ import annotations

from typing import Literal, Union

import numpy as np

from ..errors import MidnetError
from .io import check_finite, dtype_range, to_gray_float

InfobarSpec = Union[int, Literal["auto", "none"]]

MIN_ROWS = 8  # thinner bands are lines or noise, not a vendor's info bar
MAX_FRACTION = 0.3  # no vendor's bar takes more than this of the frame height
BACKGROUND_FRACTION = 0.35  # in a bar row, this much is background level (dense text covers the rest)


CHUNK_PIXELS = 1 << 22  # rows are turned to float32 gray this many pixels at a time (16 MiB)
SCAN_ROWS = 64  # the bar is searched upwards this many rows at a time: bars are tens of rows high


def _gray_rows(a: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` as float32 gray on the dtype's own scale (io.to_gray_float, scaled back)."""
    out = to_gray_float(a[start:stop])
    out *= np.float32(dtype_range(a.dtype))
    return out


def _gray_span(a: np.ndarray, step: int) -> float:
    """max - min of the gray frame, in Python floats (float32 max - min may overflow)."""
    if a.ndim == 2:
        return float(a.max()) - float(a.min())
    lo, hi = np.inf, -np.inf
    for start in range(0, a.shape[0], step):  # by blocks of rows: never a float copy of the whole frame
        gray = _gray_rows(a, start, start + step)
        lo, hi = min(lo, float(gray.min())), max(hi, float(gray.max()))
    return hi - lo


def _background_level(bottom: np.ndarray, tol: float) -> float | None:
    """The bottom row's most common level (in steps of ``tol``), or None when it covers too little of the row."""
    # one row, so float64 is cheap here, and a tiny tol (a float image of span 1e-44) cannot underflow
    values, counts = np.unique(np.round(bottom.astype(np.float64) / tol), return_counts=True)
    if counts.max() < BACKGROUND_FRACTION * bottom.size:
        return None
    return float(values[np.argmax(counts)] * tol)


def detect_infobar(image: np.ndarray) -> int:
    """Number of bottom rows that form an info bar (0 when there is none).

    The bottom row's most common level is taken as the bar's background; the bar is
    the run of bottom rows in which at least 35% of the pixels sit at that level (text
    and scale bar cover the rest). Image rows above have texture and break the run.
    Rows are read upwards in float32 blocks and reading stops where the run breaks or
    passes MAX_FRACTION of the height: no float copy of the frame, whatever its size.
    """
    a = np.asarray(image)
    h = a.shape[0]
    if h < 4 * MIN_ROWS:
        return 0
    check_finite(a)  # NaN or Inf would turn the span below into NaN, with numpy warnings
    step = max(1, CHUNK_PIXELS // max(1, a.shape[1]))
    tol = 0.02 * (_gray_span(a, step) or 1.0)
    level = _background_level(_gray_rows(a, h - 1, h)[0], tol)
    if level is None:
        return 0
    # a run longer than MAX_FRACTION of the height is no vendor's bar: reading one row more tells
    rows = _bar_run(a, level, tol, lowest=max(0, h - int(MAX_FRACTION * h) - 1), step=min(step, SCAN_ROWS))
    if rows < MIN_ROWS or rows > MAX_FRACTION * h:
        return 0
    return rows


def _bar_run(a: np.ndarray, level: float, tol: float, lowest: int, step: int) -> int:
    """Bottom rows (down to row ``lowest``) with BACKGROUND_FRACTION of their pixels within ``tol`` of ``level``."""
    rows = 0
    for stop in range(a.shape[0], lowest, -step):  # upwards, a block at a time, until the run breaks
        diff = _gray_rows(a, max(lowest, stop - step), stop)
        diff -= np.float32(level)
        np.abs(diff, out=diff)
        is_bar = (diff <= np.float32(tol)).mean(axis=1) >= BACKGROUND_FRACTION
        run = is_bar.size if is_bar.all() else int(np.argmin(is_bar[::-1]))
        rows += run
        if run < is_bar.size:
            break
    return rows


def resolve_infobar(spec: InfobarSpec | str | None, image: np.ndarray) -> int:
    """Rows of info bar for ``spec``: an int, ``"auto"`` (detected) or ``"none"``/None (0)."""
    if spec is None or spec == "none":
        return 0
    if spec == "auto":
        return detect_infobar(image)
    try:
        rows = int(spec)
    except (TypeError, ValueError):
        raise MidnetError(f"infobar must be 'auto', 'none' or a number of rows, got {spec!r}") from None
    h = np.asarray(image).shape[0]
    if not 0 <= rows < h:
        raise MidnetError(f"infobar of {rows} rows does not fit an image {h} rows high")
    return rows
