"""Reading micrographs: TIFF through tifffile, PNG/JPEG/BMP through Pillow.

Arrays keep their dtype (uint8, uint16, float) and are (H, W) or (H, W, C). Nothing
assumes 8 bits: intensity scaling always goes through :func:`dtype_range`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
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
    axes = meta.get("axes", "YX")
    leading = axes[: -3 if axes.endswith("S") else -2]  # axes before a frame's YX(S)
    stack = fmt == "tiff" and (meta.get("pages", 1) > 1 or leading != "")
    frame = array.shape[1:] if stack else array.shape  # a stack's frames are checked like single images
    if stack and array.ndim not in (3, 4):
        raise MidnetError(f"{path}: unsupported TIFF layout {meta.get('axes')} {array.shape}; save one frame per page")
    if len(frame) not in (2, 3) or (len(frame) == 3 and frame[2] not in (1, 2, 3, 4)):
        raise MidnetError(f"{path}: unsupported image shape {array.shape}; expected gray, RGB or RGBA")
    if len(frame) == 3 and frame[2] == 1:
        array = array[..., 0]
    return ImageData(array=array, path=path, format=fmt, metadata=meta)


# Tags tifffile writes itself from the array and the arguments of imwrite.
_STRUCTURAL_TAGS = {
    254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 282, 283, 284, 296, 305, 306, 317,
    320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347, 270, 34665, 34853,
}
_BYTE_LIKE = {1, 2, 6, 7}  # BYTE, ASCII, SBYTE, UNDEFINED: copied as raw bytes


def _read_tiff(path: Path):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        array = series.asarray()
        page = tif.pages[0]
        tags = page.tags
        extratags = []
        for tag in tags.values():
            if tag.code in _STRUCTURAL_TAGS:
                continue
            if int(tag.dtype) in _BYTE_LIKE:
                tif.filehandle.seek(tag.valueoffset)
                raw = tif.filehandle.read(tag.valuebytecount)
                value = raw.rstrip(b"\0").decode("latin-1") if int(tag.dtype) == 2 else raw
                extratags.append((tag.code, int(tag.dtype), tag.count if int(tag.dtype) != 2 else 0, value, True))
            elif isinstance(tag.value, (int, float)) or (
                isinstance(tag.value, tuple) and all(isinstance(v, (int, float)) for v in tag.value)
            ):
                extratags.append((tag.code, int(tag.dtype), tag.count, tag.value, True))
            # anything else (parsed structures tifffile cannot write back) is dropped
        meta = {
            "pages": len(series.pages) if hasattr(series, "pages") else len(tif.pages),
            "axes": series.axes,
            "bigtiff": tif.is_bigtiff,
            "photometric": int(page.photometric),
            "planar": int(page.planarconfig),
            "compressed": int(page.compression) != 1,
            "description": page.description or None,
            "software": page.software or None,
            "datetime": tags["DateTime"].value if "DateTime" in tags else None,
            "resolution": (tags["XResolution"].value, tags["YResolution"].value) if "XResolution" in tags else None,
            "resolutionunit": int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else None,
            "extratags": extratags,
            "vendor": [name for name in ("fei", "sem", "sis", "olympus", "tvips", "nih") if getattr(tif, f"is_{name}", False)],
        }
        if array.ndim == 3 and meta["photometric"] == 2 and meta["planar"] == 2:  # planar RGB: make it (H, W, C)
            array = np.moveaxis(array, 0, -1)
    return array, "tiff", meta


def _png_bit_depth(path: Path) -> int:
    """Bits per sample from a PNG's IHDR chunk (byte 24 of the file)."""
    with open(path, "rb") as f:
        head = f.read(26)
    return head[24] if len(head) == 26 and head[12:16] == b"IHDR" else 8


def _read_pil(path: Path):
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        info = dict(im.info)
        fmt = (im.format or path.suffix.lstrip(".")).lower()
        mode = im.mode
        if fmt == "png" and mode in ("RGB", "RGBA") and _png_bit_depth(path) == 16:
            # Pillow decodes 16-bit colour PNGs to 8 bits: refuse rather than lose the low byte
            raise MidnetError(f"{path}: 16-bit colour PNG cannot be read without losing precision; "
                              "save it as 16-bit TIFF or as grayscale PNG")
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


def write_image(path: str | os.PathLike, array: np.ndarray, like: ImageData | None = None, fmt: str | None = None) -> Path:
    """Write ``array`` to ``path`` atomically (temporary file, then rename), keeping ``like``'s metadata.

    ``fmt`` ("tiff", "png", "jpeg", "bmp") defaults to the suffix of ``path``.
    """
    path = Path(path)
    fmt = fmt or _format_of(path)
    with atomic_write(path) as tmp:
        if fmt == "tiff":
            _write_tiff(tmp, array, like)
        else:
            _write_pil(tmp, array, like, fmt)
    return path


@contextlib.contextmanager
def atomic_write(path: Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    A crash or error leaves ``path`` as it was and no temporary behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        set_default_mode(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def set_default_mode(path: str | os.PathLike) -> None:
    """Give a temporary file the permissions a plain new file gets (mkstemp makes it owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    if suffix in (".jpg", ".jpeg"):
        return "jpeg"
    if suffix in (".png", ".bmp"):
        return suffix[1:]
    raise MidnetError(f"{path}: cannot write {suffix!r} files; use .tif, .png, .jpg or .bmp")


def _write_tiff(path: str, array: np.ndarray, like: ImageData | None) -> None:
    import tifffile

    meta = like.metadata if like is not None and like.format == "tiff" else {}
    info = like.metadata.get("info", {}) if like is not None and like.format != "tiff" else {}
    kwargs: dict[str, Any] = {"metadata": None, "software": meta.get("software") or "midnet"}
    if meta.get("description"):
        kwargs["description"] = meta["description"]
    elif isinstance(info.get("Description"), str):
        kwargs["description"] = info["Description"]
    if meta.get("resolution"):
        kwargs["resolution"] = meta["resolution"]
        if meta.get("resolutionunit"):
            kwargs["resolutionunit"] = meta["resolutionunit"]
    elif info.get("dpi"):
        kwargs["resolution"], kwargs["resolutionunit"] = tuple(float(v) for v in info["dpi"]), 2  # inch
    if meta.get("datetime"):
        kwargs["datetime"] = meta["datetime"]
    if meta.get("extratags"):
        kwargs["extratags"] = meta["extratags"]
    if meta.get("compressed"):
        kwargs["compression"] = "zlib"
    pages = meta.get("pages", 1)
    colour = array.ndim == (4 if pages > 1 else 3) and array.shape[-1] in (3, 4)
    # keep a MINISWHITE source's polarity (photometric 0): values are written as they are
    kwargs["photometric"] = "rgb" if colour else ("miniswhite" if meta.get("photometric") == 0 else "minisblack")
    if colour and array.shape[-1] == 4:
        kwargs["extrasamples"] = ("unassalpha",)
    if not colour and array.ndim == 3 and array.shape[-1] == 2 and pages == 1:
        kwargs["extrasamples"] = ("unassalpha",)
    big = bool(meta.get("bigtiff")) or array.nbytes > 2**32 - 2**25
    tifffile.imwrite(path, array, bigtiff=big, **kwargs)


def _write_pil(path: str, array: np.ndarray, like: ImageData | None, fmt: str) -> None:
    from PIL import Image, PngImagePlugin

    info = like.metadata.get("info", {}) if like is not None and like.format != "tiff" else {}
    tmeta = like.metadata if like is not None and like.format == "tiff" else {}
    a = array
    if a.dtype == np.uint16 and a.ndim == 3:
        raise MidnetError(f"{path}: 16-bit colour cannot be written as {fmt.upper()}; write TIFF (--format tif)")
    if a.dtype not in (np.uint8, np.uint16):
        if fmt != "tiff":
            raise MidnetError(f"{path}: {a.dtype} pixels cannot be written as {fmt.upper()}; write TIFF (--format tif)")
    if a.dtype == np.uint16 and fmt != "png":
        raise MidnetError(f"{path}: 16-bit pixels cannot be written as {fmt.upper()}; write TIFF or PNG")
    im = Image.fromarray(a)
    save: dict[str, Any] = {}
    dpi = info.get("dpi")
    if dpi is None and tmeta.get("resolution") and tmeta.get("resolutionunit") in (2, 3):
        per_inch = 1.0 if tmeta["resolutionunit"] == 2 else 2.54
        dpi = tuple(_rational(v) * per_inch for v in tmeta["resolution"])
    if dpi:
        save["dpi"] = tuple(float(v) for v in dpi)
    for key in ("icc_profile", "exif"):
        if info.get(key):
            save[key] = info[key]
    if fmt == "png":
        text = PngImagePlugin.PngInfo()
        for k, v in info.items():
            if isinstance(v, str) and k not in ("dpi",):
                text.add_text(k, v)
        if tmeta.get("description"):
            text.add_text("Description", tmeta["description"])
        save["pnginfo"] = text
    elif fmt == "jpeg":
        save.update(quality=95, subsampling=0)
    im.save(path, format=fmt.upper(), **save)


def _rational(value) -> float:
    if isinstance(value, tuple) and len(value) == 2:
        return value[0] / value[1] if value[1] else 0.0
    return float(value)


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
