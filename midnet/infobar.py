"""The SEM info bar: the band of text on a uniform background at the bottom of a frame.

JEOL, FEI/Thermo, Zeiss, Hitachi and TESCAN all write magnification, voltage, scale bar
and date into such a band. It is not image content: never train on it, never score it,
and copy it to the output untouched.
"""

from __future__ import annotations

from typing import Literal, Union

import numpy as np

from .errors import MidnetError

InfobarSpec = Union[int, Literal["auto", "none"]]

MIN_ROWS = 8  # thinner bands are lines or noise, not a vendor's info bar
MAX_FRACTION = 0.3  # no vendor's bar takes more than this of the frame height
BACKGROUND_FRACTION = 0.35  # in a bar row, this much is background level (dense text covers the rest)


def _row_background(gray: np.ndarray, level: float, tol: float) -> np.ndarray:
    """Fraction of each row within ``tol`` of the background ``level``."""
    return (np.abs(gray - level) <= tol).mean(axis=1)


def detect_infobar(image: np.ndarray) -> int:
    """Number of bottom rows that form an info bar (0 when there is none).

    The bottom row's most common level is taken as the bar's background; the bar is
    the run of bottom rows in which at least 35% of the pixels sit at that level (text
    and scale bar cover the rest). Image rows above have texture and break the run.
    """
    a = np.asarray(image)
    gray = a if a.ndim == 2 else a[..., : min(3, a.shape[2])].astype(np.float64).mean(axis=2)
    gray = gray.astype(np.float64)
    h = gray.shape[0]
    if h < 4 * MIN_ROWS:
        return 0
    span = float(gray.max() - gray.min()) or 1.0
    tol = 0.02 * span
    bottom = gray[-1]
    values, counts = np.unique(np.round(bottom / tol), return_counts=True)
    level = float(values[np.argmax(counts)] * tol)
    if counts.max() < BACKGROUND_FRACTION * bottom.size:
        return 0
    is_bar = _row_background(gray, level, tol) >= BACKGROUND_FRACTION
    rows = 0
    for flag in is_bar[::-1]:
        if not flag:
            break
        rows += 1
    if rows < MIN_ROWS or rows > MAX_FRACTION * h:
        return 0
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
