"""Reading micrographs: TIFF through tifffile, PNG/JPEG/BMP through Pillow.

Arrays keep their dtype (uint8, uint16, float) and are (H, W) or (H, W, C). Nothing
assumes 8 bits: intensity scaling always goes through :func:`dtype_range`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MidnetError

TIFF_SUFFIXES = {".tif", ".tiff"}
PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
IMAGE_SUFFIXES = TIFF_SUFFIXES | PIL_SUFFIXES


@dataclass
class ImageData:
    """A decoded image and what is needed to write it back the same way."""

    array: np.ndarray
    path: Path
    format: str  # "tiff", "png", "jpeg", "bmp"
    metadata: dict[str, Any] = field(default_factory=dict)


def read_image(path: str | os.PathLike) -> ImageData:
    """Decode one image file; a bad file raises :class:`MidnetError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise MidnetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise MidnetError(f"{path}: unsupported file type {suffix!r}; use TIFF, PNG, JPEG or BMP")
    if path.stat().st_size == 0:
        raise MidnetError(f"{path}: file is empty")
    try:
        if suffix in TIFF_SUFFIXES:
            array, fmt, meta = _read_tiff(path)
        else:
            array, fmt, meta = _read_pil(path)
    except MidnetError:
        raise
    except Exception as exc:  # decoders raise many types for truncated or corrupt files
        raise MidnetError(f"{path}: cannot decode image ({' '.join(str(exc).split())[:200]}); is it complete?") from exc
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise MidnetError(f"{path}: unsupported image shape {array.shape}; expected gray, RGB or RGBA")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    return ImageData(array=array, path=path, format=fmt, metadata=meta)


def _read_tiff(path: Path):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        array = series.asarray()
        meta = {"pages": len(tif.pages), "shape": series.shape}
    return array, "tiff", meta


def _read_pil(path: Path):
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        info = dict(im.info)
        fmt = (im.format or path.suffix.lstrip(".")).lower()
        mode = im.mode
        if mode in ("I;16", "I;16B", "I;16L"):
            array = np.asarray(im, dtype=np.uint16)
        elif mode == "I":  # 16-bit PNGs often decode as 32-bit int
            array = np.asarray(im)
            array = array.astype(np.uint16) if array.min() >= 0 and array.max() <= 65535 else array
        elif mode == "F":
            array = np.asarray(im, dtype=np.float32)
        elif mode in ("L", "RGB", "RGBA", "LA"):
            array = np.asarray(im)
        elif mode in ("1", "P", "CMYK", "YCbCr", "LAB", "HSV"):
            array = np.asarray(im.convert("RGBA" if "transparency" in info else "RGB"))
        else:
            raise MidnetError(f"{path}: unsupported image mode {mode!r}")
    return np.ascontiguousarray(array), fmt, {"info": info, "mode": mode}


def dtype_range(dtype: np.dtype) -> float:
    """Full-scale value of an integer dtype (255, 65535...); 1.0 for floats."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).max)
    return 1.0


def to_gray_float(array: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: channels averaged (alpha dropped), scaled by the dtype's range."""
    a = array
    if a.ndim == 3:
        colour = a[..., : 3 if a.shape[2] >= 3 else 1]
        a = colour.astype(np.float32).mean(axis=2)
    out = a.astype(np.float32) / np.float32(dtype_range(array.dtype))
    if not np.isfinite(out).all():
        raise MidnetError("image holds NaN or infinite values; clean or re-export it")
    return out
