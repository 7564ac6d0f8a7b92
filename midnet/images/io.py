"""Reading and writing micrographs: TIFF through tifffile, PNG/JPEG/BMP through Pillow.

Arrays keep their dtype (uint8, uint16, float) and are (H, W) or (H, W, C). Nothing
assumes 8 bits: intensity scaling always goes through :func:`dtype_range`.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MidnetError, one_line
from .publish import atomic_write, write_error

TIFF_SUFFIXES = {".tif", ".tiff"}
PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
IMAGE_SUFFIXES = TIFF_SUFFIXES | PIL_SUFFIXES

# Most pixels one file may decode to (all pages of a stack together), checked from the
# header before any pixel is decoded: a 1.5 MB zlib TIFF can claim 40000x40000 pixels.
# 2**30 admits the largest frames SEM software stores (Zeiss 32768x24576, TESCAN and
# others 16384x16384) and refuses the 1.6-gigapixel fuzzed file; restoring 2**30 16-bit
# pixels already takes well over 10 GiB of memory. MIDNET_MAX_PIXELS or read_image(...,
# max_pixels=) raise it for a trusted file.
MAX_PIXELS = 2**30
MAX_PIXELS_ENV = "MIDNET_MAX_PIXELS"
_PILLOW_LIMIT_LOCK = threading.Lock()  # Pillow's limit is a module global: one reader at a time changes it


@dataclass
class ImageData:
    """A decoded image and what is needed to write it back the same way."""

    array: np.ndarray
    path: Path
    format: str  # "tiff", "png", "jpeg", "bmp"
    metadata: dict[str, Any] = field(default_factory=dict)
    # a TIFF whose pages differ in size: every page, as read (``array`` is then the first page alone)
    pages: list[np.ndarray] | None = None

    def frames(self) -> tuple[tuple[int, ...], np.ndarray | list[np.ndarray]]:
        """(stack shape, frames): every 2-D frame (gray, or H x W x C) stacked as (N, ...), and the
        leading shape they came from (``()`` for a single frame, ``(pages,)`` for a TIFF stack...).
        Pages of different sizes cannot be stacked: they come as a list of ``(pages,)``."""
        if self.pages is not None:
            return (len(self.pages),), self.pages
        a = self.array
        pages = int(self.metadata.get("pages", 1)) if self.format == "tiff" else 1
        frame_dims = 3 if self.metadata.get("axes", "").endswith("S") else 2
        if pages > 1 or a.ndim > frame_dims + (0 if frame_dims == 3 else 1):
            lead = a.shape[: a.ndim - frame_dims]
            return lead, a.reshape((-1,) + a.shape[a.ndim - frame_dims :])
        return (), a[None]


def read_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> ImageData:
    """Decode one image file; a bad file raises :class:`MidnetError` naming it.

    A file whose header promises more than ``max_pixels`` pixels (default: see
    :func:`pixel_limit`) is refused before decoding; float pixels must be finite.
    """
    path = Path(path)
    limit = pixel_limit(max_pixels)
    if not path.is_file():
        raise MidnetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise MidnetError(f"{path}: unsupported file type {suffix!r}; use TIFF, PNG, JPEG or BMP")
    if path.stat().st_size == 0:
        raise MidnetError(f"{path}: file is empty")
    try:
        if suffix in TIFF_SUFFIXES:
            array, fmt, meta = _read_tiff(path, limit)
        else:
            array, fmt, meta = _read_pil(path, limit)
    except MidnetError:
        raise
    except Exception as exc:  # decoders raise many types for truncated or corrupt files
        raise MidnetError(f"{path}: cannot decode image ({one_line(exc, 200)}); is it complete?") from exc
    if isinstance(array, list):  # pages of different sizes: each checked as a single image
        pages = [_checked_frame(page, path, meta) for page in array]
        return ImageData(array=pages[0], path=path, format=fmt, metadata=meta, pages=pages)
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
    check_finite(array, path)
    return ImageData(array=array, path=path, format=fmt, metadata=meta)


def _checked_frame(array: np.ndarray, path: Path, meta: dict) -> np.ndarray:
    """One page of a TIFF whose pages differ in size, checked as read_image checks a single image."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise MidnetError(f"{path}: a page of unsupported shape {array.shape}; expected gray, RGB or RGBA pages")
    check_finite(array, path)
    return array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array


def pixel_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels`` if given, else $MIDNET_MAX_PIXELS, else :data:`MAX_PIXELS`."""
    if max_pixels is not None:
        if int(max_pixels) < 1:
            raise MidnetError(f"max_pixels must be a positive number of pixels, got {max_pixels!r}")
        return int(max_pixels)
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return MAX_PIXELS
    try:
        value = int(float(text)) if "e" in text.lower() else int(text)  # 2e9 and 2_000_000_000 both read
    except ValueError:
        value = 0
    if value < 1:
        raise MidnetError(f"{MAX_PIXELS_ENV}={text!r} is not a number of pixels; set it to e.g. {2 * MAX_PIXELS} or unset it")
    return value


def check_pixels(path: Path, width: int, height: int, frames: int, limit: int) -> None:
    """Refuse an image of ``frames`` x ``width`` x ``height`` pixels over ``limit``, before it is decoded."""
    pixels = int(width) * int(height) * int(frames)
    if pixels <= limit:
        return
    what = f"{width}x{height}" + (f" x {frames} frames" if frames > 1 else "")
    raise MidnetError(f"{path}: {what} is {pixels:,} pixels, over the limit of {limit:,} that guards against "
                      f"decompression bombs; if you trust the file, set {MAX_PIXELS_ENV}={pixels} (or read_image's max_pixels)")


def check_finite(array: np.ndarray, source: str | os.PathLike | None = None) -> None:
    """Raise :class:`MidnetError` when float pixels hold NaN or +-Inf (integer pixels always pass).

    min and max carry NaN and reach +-Inf, so two reductions decide it: no isfinite() mask
    of the whole frame, and no numpy RuntimeWarning before the one-line error.
    """
    a = np.asarray(array)
    if not np.issubdtype(a.dtype, np.floating) or a.size == 0:
        return
    if np.isfinite(a.min()) and np.isfinite(a.max()):
        return
    where = f"{source}: " if source is not None else ""
    raise MidnetError(f"{where}image holds NaN or infinite values; clean or re-export it")


# Tags tifffile writes itself from the array and the arguments of imwrite.
_STRUCTURAL_TAGS = {
    254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 282, 283, 284, 296, 305, 306, 317,
    320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347, 270, 34665, 34853,
}
_BYTE_LIKE = {1, 2, 6, 7}  # BYTE, ASCII, SBYTE, UNDEFINED: copied as raw bytes


def _decode_series(path: Path, series, limit: int) -> np.ndarray:
    """The series' pixels, once its shape (read from the page headers) is under ``limit``."""
    shape, axes = tuple(series.shape), series.axes
    samples = shape[axes.index("S")] if "S" in axes else 1
    if "Y" in axes and "X" in axes:
        height, width = shape[axes.index("Y")], shape[axes.index("X")]
    else:  # no named image plane: count every element
        height, width = int(np.prod(shape, dtype=np.int64)) // samples, 1
    check_pixels(path, width, height, int(np.prod(shape, dtype=np.int64)) // samples // max(1, width * height), limit)
    try:
        return series.asarray()
    except (ImportError, KeyError, ValueError) as exc:  # what tifffile versions raise for a missing codec
        compression = series.keyframe.compression
        if int(compression) != 1 and ("imagecodecs" in str(exc) or isinstance(exc, ImportError)):
            # tifffile decodes LZW, JPEG, zstd... only through imagecodecs (a midnet dependency)
            raise MidnetError(f"{path}: TIFF compressed with {compression.name} needs the imagecodecs package; "
                              "pip install imagecodecs") from exc
        raise


def _read_tiff(path: Path, limit: int = MAX_PIXELS):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        array = _decode_series(path, series, limit) if len(tif.series) == 1 else _every_page(path, tif, limit)
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
        pages = len(series.pages) if hasattr(series, "pages") else len(tif.pages)
        axes = series.axes
        if len(tif.series) > 1:  # every series' pages: stacked when they share a shape, else a list of pages
            pages = len(array)
            axes = "I" + (series.axes[-3:] if series.axes.endswith("S") else series.axes[-2:])
        meta = {
            "pages": pages,
            "axes": axes,
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
        if meta["planar"] == 2 and series.axes.endswith("SYX") and not isinstance(array, list) and array.ndim >= 3:
            # planar (one plane per sample): hand out (..., H, W, C) like every other colour image;
            # axes follow the array, and "planar" tells _write_tiff to store planes again
            array = np.moveaxis(array, -3, -1)
            meta["axes"] = series.axes[:-3] + "YXS"
    return array, "tiff", meta


def _every_page(path: Path, tif, limit: int) -> np.ndarray | list[np.ndarray]:
    """The frames of every series of a TIFF holding several (pages written one by one, or of different sizes):
    one (N, ...) stack when they share shape and dtype, else the list of pages. The pixels of all of them are
    counted against ``limit`` before any is decoded."""
    total = sum(int(np.prod(s.shape, dtype=np.int64)) // (s.shape[s.axes.index("S")] if "S" in s.axes else 1)
                for s in tif.series)
    if total > limit:
        raise MidnetError(f"{path}: its {len(tif.series)} images are {total:,} pixels together, over the limit of "
                          f"{limit:,} that guards against decompression bombs; if you trust the file, set "
                          f"{MAX_PIXELS_ENV}={total} (or read_image's max_pixels)")
    frames = []
    for series in tif.series:
        data = _decode_series(path, series, limit)
        frame_dims = 3 if series.axes.endswith("S") else 2
        frames += list(data.reshape((-1,) + data.shape[data.ndim - frame_dims:]))
    if len({(f.shape, f.dtype) for f in frames}) == 1:
        return np.stack(frames)
    return frames


def _png_bit_depth(path: Path) -> int:
    """Bits per sample from a PNG's IHDR chunk (byte 24 of the file)."""
    with open(path, "rb") as f:
        head = f.read(26)
    return head[24] if len(head) == 26 and head[12:16] == b"IHDR" else 8


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk; None when the file does not start like a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) == 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return None


def _open_pil(path: Path, limit: int):
    """``Image.open`` (header only) with midnet's pixel limit in place of Pillow's.

    Pillow's own decompression-bomb check would warn above its 89-megapixel default and
    raise above twice that, in its own words: it runs at ``limit`` instead, its warning
    silenced and its error turned into one line; check_pixels then has the last word.
    """
    from PIL import Image

    with _PILLOW_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limit
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as exc:  # more than twice the limit
            raise MidnetError(f"{path}: image is over {2 * limit:,} pixels, twice the limit that guards against "
                              f"decompression bombs; if you trust the file, raise {MAX_PIXELS_ENV} (or read_image's "
                              "max_pixels)") from exc
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    try:
        check_pixels(path, im.size[0], im.size[1], 1, limit)
    except MidnetError:
        im.close()
        raise
    return im


def _read_pil(path: Path, limit: int = MAX_PIXELS):
    size = _png_size(path)
    if size is not None:  # the PNG header alone decides: refuse before Pillow reads any further chunk
        check_pixels(path, size[0], size[1], 1, limit)
    with _open_pil(path, limit) as im:
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


def write_image(path: str | os.PathLike, array: np.ndarray, like: ImageData | None = None, fmt: str | None = None,
                replace: bool = True, provenance: dict[str, Any] | None = None) -> Path:
    """Write ``array`` to ``path`` atomically (temporary file, then rename), keeping ``like``'s metadata.

    ``fmt`` ("tiff", "png", "jpeg", "bmp") defaults to the suffix of ``path``. ``replace=False`` never
    replaces an existing ``path``, even one written meanwhile by another process (:class:`midnet.images.publish.OutputExists`).
    Every error is a :class:`MidnetError` that names ``path``, never the temporary file.
    ``provenance`` (how the image was made: engine, precision, weights SHA-256, version...; see
    :meth:`midnet.inference.restore.Restorer.provenance`) is stored as JSON: in TIFF tag :data:`PROVENANCE_TAG`,
    in a PNG text chunk and a JPEG comment named :data:`PROVENANCE_KEY`; :func:`read_provenance` reads it.
    """
    path = Path(path)
    fmt = fmt or _format_of(path)
    record = json.dumps(provenance, sort_keys=True, ensure_ascii=True) if provenance else None
    if isinstance(array, list) and fmt != "tiff":  # checked before the temporary is made
        raise MidnetError(f"{path}: pages of different sizes can only be written as TIFF; use --format same or tif")
    with atomic_write(path, replace=replace) as tmp:
        try:
            if isinstance(array, list):
                _write_tiff_pages(tmp, array, like, record)
            elif fmt == "tiff":
                _write_tiff(tmp, array, like, record)
            else:
                _write_pil(tmp, array, like, fmt, record)
        except MemoryError:
            raise
        except Exception as exc:  # encoders raise many types, and name the file they were given: the temporary
            raise write_error(exc, path, tmp) from exc
    return path


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    if suffix in (".jpg", ".jpeg"):
        return "jpeg"
    if suffix in (".png", ".bmp"):
        return suffix[1:]
    raise MidnetError(f"{path}: cannot write {suffix!r} files; use .tif, .png, .jpg or .bmp")


# A private TIFF tag (the reusable range 65000-65535) holding the provenance JSON: the source's own
# ImageDescription (a microscope's metadata) stays as it was; ImageJ, Fiji and tifffile list the tag.
PROVENANCE_TAG = 65117
PROVENANCE_KEY = "midnet"  # PNG text chunk keyword, JPEG comment prefix


def read_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance record midnet wrote into an image file (TIFF, PNG or JPEG), or None."""
    path = Path(path)
    if _format_of(path) == "tiff":
        import tifffile

        with tifffile.TiffFile(path) as tif:
            tag = tif.pages[0].tags.get(PROVENANCE_TAG)
            text = tag.value if tag is not None else None
    else:
        from PIL import Image

        with Image.open(path) as im:
            text = im.info.get(PROVENANCE_KEY)
            comment = im.info.get("comment", b"")
            if text is None and comment.startswith(PROVENANCE_KEY.encode() + b" "):
                text = comment[len(PROVENANCE_KEY) + 1:].decode("ascii")
    return json.loads(text) if text else None


def _write_tiff(path: str, array: np.ndarray, like: ImageData | None, provenance: str | None = None) -> None:
    import tifffile

    kwargs = _tiff_options(array, like, provenance)
    if kwargs.pop("planar", False):
        # _read_tiff handed planes out as (..., H, W, C): store them as planes again (planarconfig 2),
        # the layout a copied shape description of the source also describes
        array, kwargs["planarconfig"] = np.moveaxis(array, -1, -3), "separate"
    tifffile.imwrite(path, array, **kwargs)


def _tiff_options(array: np.ndarray, like: ImageData | None, provenance: str | None, first: bool = True) -> dict:
    """tifffile's keyword arguments that write ``array`` as ``like`` was stored (its tags only where ``first``)."""
    meta = like.metadata if like is not None and like.format == "tiff" else {}
    info = like.metadata.get("info", {}) if like is not None and like.format != "tiff" else {}
    kwargs: dict[str, Any] = {"metadata": None, "software": meta.get("software") or "midnet"}
    if not first:
        meta, info = {k: meta[k] for k in ("pages", "photometric", "compressed") if k in meta}, {}
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
    # a restored file's provenance is its own: a copied one (a source that midnet wrote) is replaced
    extratags = [t for t in meta.get("extratags") or () if t[0] != PROVENANCE_TAG]
    if provenance:
        extratags.append((PROVENANCE_TAG, 2, 0, provenance, True))
    if extratags:
        kwargs["extratags"] = extratags
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
    kwargs["bigtiff"] = bool(meta.get("bigtiff")) or array.nbytes > 2**32 - 2**25
    kwargs["planar"] = meta.get("planar") == 2 and str(meta.get("axes", "")).endswith("YXS") and array.ndim == len(
        meta["axes"])
    return kwargs


def _write_tiff_pages(path: str, pages: list[np.ndarray], like: ImageData | None, provenance: str | None) -> None:
    """Pages of different sizes, one after the other: each as a single image would be written, the source's tags
    and the provenance on the first page (where readers look for them)."""
    import tifffile

    single = ImageData(pages[0], like.path, like.format, {**like.metadata, "pages": 1}) if like is not None else None
    with tifffile.TiffWriter(path, bigtiff=sum(p.nbytes for p in pages) > 2**32 - 2**25) as tif:
        for i, page in enumerate(pages):
            kwargs = _tiff_options(page, single, provenance if i == 0 else None, first=i == 0)
            kwargs.pop("bigtiff", None), kwargs.pop("planar", None)  # the file's, and no planar pages here
            tif.write(page, **kwargs)


def _write_pil(path: str, array: np.ndarray, like: ImageData | None, fmt: str, provenance: str | None = None) -> None:
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
            if isinstance(v, str) and k not in ("dpi", PROVENANCE_KEY):
                text.add_text(k, v)
        if tmeta.get("description"):
            text.add_text("Description", tmeta["description"])
        if provenance:
            text.add_text(PROVENANCE_KEY, provenance)
        save["pnginfo"] = text
    elif fmt == "jpeg":
        save.update(quality=95, subsampling=0)
        if provenance:
            save["comment"] = f"{PROVENANCE_KEY} {provenance}".encode("ascii")
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


MIN_GRID_LEVELS = 16  # a grid is the data's own only over at least this many of its steps (data_grid)


def data_grid(array: np.ndarray) -> int:
    """The step between the data's grey levels: 2**k when every value is a multiple of 2**k, else 1.

    Some detectors shift 12-bit data left into 16 bits (x16): every value is then a multiple of
    16, and a restored frame must stay on that grid, or it holds levels the data cannot have.
    A frame spanning fewer than ``MIN_GRID_LEVELS`` steps of its grid has no grid to speak of
    (a flat frame of 128 is no 1-bit image): its values are multiples of 2**k by chance.
    """
    if array.dtype.kind != "u" or array.size == 0:
        return 1
    bits = int(np.bitwise_or.reduce(array, axis=None))
    step = bits & -bits if bits else 1  # the lowest bit any value sets; an all-zero frame has no grid
    span = int(array.max()) - int(array.min())
    return step if span // step >= MIN_GRID_LEVELS else 1


def data_ceiling(array: np.ndarray, grid: int = 1) -> float:
    """The largest value the data's bit depth allows: 4095 for 12-bit data in a uint16 file.

    Detectors write 8, 10, 12, 14 or 16 bits and files round that up to 8 or 16, so the
    smallest 2**k - 1 (k even, from 8) that holds the frame's maximum is the data's ceiling:
    a restored 12-bit frame stays valid 12-bit data, as its 8-bit version stays within 255.
    With ``grid`` (see :func:`data_grid`) the levels are counted in steps of ``grid``: 12-bit
    data shifted left into 16 bits (grid 16) has the ceiling 4095 * 16 = 65536 - 16.
    """
    top = np.iinfo(array.dtype).max // grid
    if array.dtype.kind != "u" or array.size == 0:
        return float(top * grid)
    largest = int(array.max()) // grid
    bits = 8
    while (1 << bits) - 1 < largest and (1 << bits) - 1 < top:
        bits += 2
    return float(min((1 << bits) - 1, top) * grid)


def to_gray_float(array: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: channels averaged (alpha dropped), scaled by the dtype's range."""
    check_finite(array)  # before the float32 cast, which would also warn on float64 beyond float32's range
    a = np.asarray(array)
    channels = (3 if a.shape[2] >= 3 else 1) if a.ndim == 3 else 0
    # one float32 frame, summed into in place: no per-channel float copies of the frame
    out = (a[..., 0] if channels else a).astype(np.float32)
    for c in range(1, channels):
        out += a[..., c]
    out /= np.float32(dtype_range(a.dtype) * max(1, channels))
    return out
