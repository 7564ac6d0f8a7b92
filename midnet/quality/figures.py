"""Pictures for people: before/after comparisons with a zoomed detail, and the comparison grid."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..images.io import data_ceiling, dtype_range, write_image

if TYPE_CHECKING:  # for the annotation only: midnet.quality.compare needs no pictures
    from .compare import Comparison


def to_display(array: np.ndarray, full_scale: float | None = None) -> np.ndarray:
    """8-bit gray view of any image (colour averaged, alpha dropped)."""
    a = array
    if a.ndim == 3:
        a = a[..., : 3 if a.shape[2] >= 3 else 1].astype(np.float64).mean(axis=2)
    scale = full_scale or dtype_range(array.dtype)
    return np.clip(np.round(a.astype(np.float64) / scale * 255), 0, 255).astype(np.uint8)


def _zoom(a: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)


def _resize(a: np.ndarray, width: int) -> np.ndarray:
    from PIL import Image

    if a.shape[1] <= width:
        return a
    h = round(a.shape[0] * width / a.shape[1])
    return np.asarray(Image.fromarray(a).resize((width, h), Image.Resampling.LANCZOS))


def compare_figure(before: np.ndarray, after: np.ndarray, path: str | Path, detail: tuple[int, int, int] | None = None,
                   labels: tuple[str, ...] = ("input", "restored"), extra: list[np.ndarray] | None = None) -> Path:
    """Side by side (top) and a zoom (up to 4x) of one detail of each (bottom), as an 8-bit PNG.

    The input is labelled "input", not "blurry": an in-focus frame is restored too, and the picture
    must not call it blurry (``deblur --only-blurry`` labels it with its measured blur).
    ``detail`` is (top, left, size) in pixels; by default a square at the centre of the frame.
    ``extra`` adds more restored versions (e.g. other methods) to the right.
    """
    from PIL import Image, ImageDraw

    # integer files on the data's bit depth: 12-bit data in a 16-bit file would show nearly black
    full = data_ceiling(before) if np.issubdtype(before.dtype, np.integer) else dtype_range(before.dtype)
    panels = [to_display(before, full), to_display(after, full)] + [to_display(e, full) for e in extra or []]
    h, w = panels[0].shape
    if detail is None:
        size = max(16, min(h, w) // 4)
        detail = ((h - size) // 2, (w - size) // 2, size)
    top, left, size = detail
    width = min(w, max(200, 1800 // len(panels)))
    factor = max(1, min(4, width // size))
    gap = 8
    overview = [_resize(p, width) for p in panels]
    zooms = [_resize(_zoom(p[top : top + size, left : left + size], factor), width) for p in panels]
    ov_h, zm_h = overview[0].shape[0], zooms[0].shape[0]
    label_h = 18
    canvas = np.full((label_h + ov_h + gap + zm_h, len(panels) * (width + gap) - gap), 255, np.uint8)
    for i, (ov, zm) in enumerate(zip(overview, zooms)):
        x = i * (width + gap)
        canvas[label_h : label_h + ov_h, x : x + width] = ov
        canvas[label_h + ov_h + gap :, x : x + zm.shape[1]] = zm
    im = Image.fromarray(canvas)
    draw = ImageDraw.Draw(im)
    scale = width / w
    for i, text in enumerate(labels[: len(panels)]):
        x = i * (width + gap)
        draw.text((x + 2, 3), text, fill=0)
        draw.rectangle([x + left * scale, label_h + top * scale, x + (left + size) * scale, label_h + (top + size) * scale],
                       outline=255)
    return write_image(Path(path), np.asarray(im), fmt="png")


def figure_grid(result: Comparison, path: str | Path, zoom: int = 2) -> Path:
    """Rows: micrographs; columns: each method's crop of the same detail, then the sharp exposure."""
    from PIL import Image, ImageDraw

    columns = result.methods + ["sharp"]
    size = max(c[columns[0]].shape[0] for c in result.crops.values()) * zoom
    label_h, gap = 16, 4
    names = list(result.crops)
    canvas = np.full((label_h + len(names) * (size + gap), len(columns) * (size + gap)), 255, np.uint8)
    for r, name in enumerate(names):
        for c, m in enumerate(columns):
            crop = np.clip(np.round(result.crops[name][m] * 255), 0, 255).astype(np.uint8)
            crop = _zoom(crop, zoom)
            y, x = label_h + r * (size + gap), c * (size + gap)
            canvas[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
    im = Image.fromarray(canvas)
    draw = ImageDraw.Draw(im)
    for c, m in enumerate(columns):
        draw.text((c * (size + gap) + 2, 2), m, fill=0)
    for r, name in enumerate(names):  # the micrograph's name on a white tab at the row's top-left
        y = label_h + r * (size + gap)
        fold = f" (fold {result.folds[name]})" if name in result.folds else ""
        box = draw.textbbox((2, y + 1), name + fold)
        draw.rectangle((0, y, box[2] + 2, box[3] + 2), fill=255)
        draw.text((2, y + 1), name + fold, fill=0)
    return write_image(Path(path), np.asarray(im), fmt="png")
