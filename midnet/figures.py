"""Pictures for people: before/after comparisons with a zoomed detail."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import dtype_range, write_image


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
                   labels: tuple[str, ...] = ("blurry", "restored"), extra: list[np.ndarray] | None = None) -> Path:
    """Side by side (top) and a 3x zoom of one detail of each (bottom), as an 8-bit PNG.

    ``detail`` is (top, left, size) in pixels; by default a square at the centre of the frame.
    ``extra`` adds more restored versions (e.g. other methods) to the right.
    """
    from PIL import Image, ImageDraw

    full = dtype_range(before.dtype)
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
