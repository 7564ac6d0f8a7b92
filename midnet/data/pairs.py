"""A pair folder holds ``blur/`` and ``sharp/`` with files matched by name."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from skimage.transform import AffineTransform

from ..errors import MidnetError
from ..images.intensity import IntensityMap
from ..images.intensity import measure as measure_intensity
from ..images.infobar import InfobarSpec, resolve_infobar
from ..images.io import IMAGE_SUFFIXES, dtype_range, read_image, to_gray_float
from .local_shift import LocalShifts, measure_local_shifts
from .register import MAX_SHIFT_PX, align_to, measure_shift, measure_transform, register

Align = Literal["affine", "shift", "none"]
ALIGNMENTS: tuple[str, ...] = get_args(Align)


@dataclass
class Pair:
    """One micrograph: blurry input and sharp target, gray float32 in [0, 1], info bar removed."""

    name: str
    blur: np.ndarray
    sharp: np.ndarray
    infobar: int  # rows removed from the bottom of the original frame
    shift: tuple[float, float]  # (dy, dx) that moves sharp onto blur, by masked normalised cross-correlation
    aligned: bool  # True when blur and sharp were registered (and cropped to their common field)
    full_scale: float  # the files' full-scale value (255, 65535; 1.0 for float): their quantisation step
    transform: AffineTransform | None = None  # sharp pixel (x, y) -> blur pixel, when registered affinely

    @functools.cached_property
    def intensity(self) -> IntensityMap:
        """The blurry frame's percentile map; training applies it to both exposures (midnet/images/intensity.py)."""
        return measure_intensity(self.blur)

    @functools.cached_property
    def sharp_intensity(self) -> IntensityMap:
        """The sharp frame's own percentile map: what the restorer measures on an in-focus frame."""
        return measure_intensity(self.sharp)

    @functools.cached_property
    def local_shifts(self) -> LocalShifts:
        """What registration left, patch by patch (``data.target_shift: local``; measured when first asked)."""
        return measure_local_shifts(self.blur, self.sharp)


def find_pairs(root: str | Path) -> list[tuple[str, Path, Path]]:
    """(name, blur file, sharp file) for every name present in both folders, sorted by name."""
    root = Path(root)
    blur_dir, sharp_dir = root / "blur", root / "sharp"
    for d in (blur_dir, sharp_dir):
        if not d.is_dir():
            raise MidnetError(f"{root}: no '{d.name}/' folder; a pair folder holds blur/ and sharp/ with matching names")

    def images(d: Path) -> dict[str, Path]:
        return {p.stem: p for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}

    blur, sharp = images(blur_dir), images(sharp_dir)
    only_blur, only_sharp = sorted(set(blur) - set(sharp)), sorted(set(sharp) - set(blur))
    if only_blur or only_sharp:
        parts = []
        if only_blur:
            parts.append(f"blur/ only: {', '.join(only_blur)}")
        if only_sharp:
            parts.append(f"sharp/ only: {', '.join(only_sharp)}")
        raise MidnetError(f"{root}: unmatched names ({'; '.join(parts)}); give each blurry image a sharp one of the same name")
    if not blur:
        raise MidnetError(f"{root}: no images in blur/ and sharp/ (TIFF, PNG, JPEG or BMP)")
    return [(name, blur[name], sharp[name]) for name in sorted(blur)]


def load_pairs(
    root: str | Path,
    infobar: InfobarSpec = "auto",
    names: list[str] | None = None,
    align: Align | bool = "affine",
    warn_shift: bool = True,
) -> list[Pair]:
    """Load the pairs of ``root`` (optionally only ``names``), info bar removed.

    The two exposures as saved do not line up: an SEM's focus change moves the image
    (the shared pairs by 5-15 px) and stretches it (by ~1.8% across). ``align="affine"``
    (the default) resamples the blurry frame onto the sharp one (:mod:`midnet.data.register`:
    ``measure_transform``, ``register``); ``"shift"`` only crops both to their overlap at the
    best integer shift; ``"none"`` leaves them, warning about a shift over a pixel. ``True`` and
    ``False`` mean ``"shift"`` and ``"none"`` (the settings of runs made before affine).
    """
    align = {True: "shift", False: "none"}.get(align, align) if isinstance(align, bool) else align
    if align not in ALIGNMENTS:
        raise MidnetError(f"unknown alignment {align!r}; use {', '.join(ALIGNMENTS)}")
    found = find_pairs(root)
    if names is not None:
        known = {n for n, _, _ in found}
        missing = [n for n in names if n not in known]
        if missing:
            raise MidnetError(f"{root}: no pair named {', '.join(missing)}; available: {', '.join(sorted(known))}")
        found = [f for f in found if f[0] in names]
    pairs = []
    for name, blur_path, sharp_path in found:
        blur, sharp, rows, full_scale = _read_pair(root, name, blur_path, sharp_path, infobar)
        blur, sharp, shift, aligned, transform = _line_up(name, blur, sharp, align, warn_shift)
        pairs.append(Pair(name, np.ascontiguousarray(blur), np.ascontiguousarray(sharp), rows, shift, aligned,
                          full_scale, transform))
    return pairs


def _read_pair(root, name: str, blur_path: Path, sharp_path: Path, infobar: InfobarSpec):
    """(blur, sharp, info bar rows, full scale): both exposures gray [0, 1], the info bar cut."""
    blur_img, sharp_img = read_image(blur_path), read_image(sharp_path)
    if blur_img.array.shape[:2] != sharp_img.array.shape[:2]:
        raise MidnetError(
            f"{sharp_path}: size {sharp_img.array.shape[:2]} differs from {blur_path} {blur_img.array.shape[:2]}; "
            "pairs must show the same field of view at the same size"
        )
    rows = max(resolve_infobar(infobar, blur_img.array), resolve_infobar(infobar, sharp_img.array))
    try:
        blur = to_gray_float(blur_img.array)
        sharp = to_gray_float(sharp_img.array)
    except MidnetError as exc:
        raise MidnetError(f"{blur_path.parent.parent / name}: {exc}") from None
    for img, arr in ((blur_img, blur), (sharp_img, sharp)):
        if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
            raise MidnetError(f"{img.path}: float pixels outside [0, 1]; scale the pair to [0, 1] or save it as 8/16-bit")
    if rows:
        blur, sharp = blur[:-rows], sharp[:-rows]
    return blur, sharp, rows, dtype_range(blur_img.array.dtype)


def _line_up(name: str, blur: np.ndarray, sharp: np.ndarray, align: str, warn_shift: bool):
    """(blur, sharp, shift, aligned, transform) as ``align`` asks (see :func:`load_pairs`)."""
    shift = measure_shift(blur, sharp)
    shifted = max(abs(shift[0]), abs(shift[1])) > MAX_SHIFT_PX
    transform = None
    if align == "affine":
        transform = measure_transform(sharp, blur, shift=shift)  # the whole-frame match once, not twice
        blur, sharp = register(sharp, blur, transform)
    elif shifted and align == "shift":
        blur, sharp = align_to(blur, sharp, shift)
    elif shifted and warn_shift:
        warnings.warn(
            f"{name}: sharp is shifted by ({shift[0]:+.1f}, {shift[1]:+.1f}) px from blur; align it to train on it",
            stacklevel=4,  # the caller of load_pairs
        )
    return blur, sharp, shift, align == "affine" or (shifted and align == "shift"), transform


def split_names(names: list[str], val: list[str] | None = None, folds: int = 0, fold: int = 0) -> tuple[list[str], list[str]]:
    """(train, validation) names, always split by micrograph.

    ``val`` names are held out as given; otherwise ``folds`` > 1 holds out fold ``fold``
    of the sorted names cut into ``folds`` contiguous groups (3 folds over 7: 3, 2, 2).
    """
    names = sorted(names)
    if val:
        unknown = sorted(set(val) - set(names))
        if unknown:
            raise MidnetError(f"validation names not in the data: {', '.join(unknown)}; available: {', '.join(names)}")
        held = sorted(val)
    elif folds > 1:
        if folds > len(names):
            raise MidnetError(f"{folds} folds need at least {folds} micrographs, the data has {len(names)}")
        if not 0 <= fold < folds:
            raise MidnetError(f"fold must lie in 0..{folds - 1}, got {fold}")
        held = [str(n) for n in np.array_split(np.array(names, dtype=object), folds)[fold]]
    else:
        held = []
    train = [n for n in names if n not in held]
    if not train:
        raise MidnetError("no micrograph left to train on after holding out the validation ones")
    return train, held
