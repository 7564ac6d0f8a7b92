"""The pixel size of a micrograph from what the microscope wrote with it.

Looked for, in this order (the first that gives a plausible size wins):

- FEI/Thermo TIFF tags 34680/34682: ``[Scan] PixelWidth=`` in metres;
- Zeiss TIFF tag 34118 (CZ_SEM): ``AP_PIXEL_SIZE`` / ``Pixel Size = 3.9 nm``;
- TESCAN TIFF tag 50431 (BYTE): a chain of blocks, each a uint32 size, a uint16 type
  and its data (1 a JPEG thumbnail, 2 the MAIN text ...); MAIN holds ``PixelSizeX=`` in
  metres. The layout is Gwyddion's (modules/file/tescan.c, written for MIRA files); the
  text is searched whatever the block chain, so a damaged chain still gives the size;
- a sidecar text file beside the image (same name, ``.txt``): JEOL's
  ``$$SM_MICRON_BAR`` (scale bar in pixels) with ``$$SM_MICRON_MARKER`` (its length,
  e.g. ``2um``), or Hitachi's ``PixelSize=`` in nanometres; or TESCAN's header beside a
  PNG export (``NAME-png.hdr`` or ``NAME.hdr``, ``[MAIN]`` with ``PixelSizeX=`` in metres);
- ImageJ's ImageDescription (``unit=nm|micron|um|mm``) with the TIFF resolution tags;
- TIFF/PNG resolution in pixels per centimetre or inch, only when it gives a pixel smaller
  than 10 um (a display resolution such as 72 or 300 dpi says nothing about the specimen).
"""

from __future__ import annotations

import re
from pathlib import Path

from .io import ImageData

MAX_PLAUSIBLE_NM = 10_000.0  # larger "pixels" come from display DPI, not from a microscope
_UNIT_NM = {"m": 1e9, "mm": 1e6, "cm": 1e7, "um": 1e3, "µm": 1e3, "micron": 1e3, "microns": 1e3, "nm": 1.0,
            "pm": 1e-3, "a": 0.1, "å": 0.1}
_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def _plausible(nm: float | None) -> float | None:
    return nm if nm is not None and 0 < nm < MAX_PLAUSIBLE_NM else None


def _tag_texts(meta: dict, code: int) -> list[str]:
    out = []
    for tag in meta.get("extratags") or []:
        if tag[0] == code:
            value = tag[3]
            out.append(value.decode("latin-1", "replace") if isinstance(value, (bytes, bytearray)) else str(value))
    return out


def _fei(meta: dict) -> float | None:
    for text in _tag_texts(meta, 34682) + _tag_texts(meta, 34680):
        m = re.search(r"^\s*PixelWidth\s*=\s*" + _NUMBER, text, re.MULTILINE)
        if m:
            return _plausible(float(m.group(1)) * 1e9)
    return None


def _zeiss(meta: dict) -> float | None:
    for text in _tag_texts(meta, 34118):
        m = re.search(r"Pixel Size\s*=\s*" + _NUMBER + r"\s*([a-zA-Zµ]+)", text)
        if m and m.group(2).lower() in _UNIT_NM:
            return _plausible(float(m.group(1)) * _UNIT_NM[m.group(2).lower()])
    return None


def _tescan_pixel(text: str) -> float | None:
    m = re.search(r"(?<![A-Za-z0-9_])PixelSizeX\s*=\s*" + _NUMBER, text)  # the first key may follow binary bytes
    return _plausible(float(m.group(1)) * 1e9) if m else None


def _tescan(meta: dict) -> float | None:
    for text in _tag_texts(meta, 50431):  # binary block headers decode to junk characters: the regex skips them
        nm = _tescan_pixel(text)
        if nm is not None:
            return nm
    return None


def _small_text(path: Path) -> str | None:
    if not path.is_file() or path.stat().st_size > 1_000_000:
        return None
    return path.read_text(encoding="latin-1", errors="replace")


def _sidecar(path: Path | None) -> float | None:
    if path is None:
        return None
    path = Path(path)
    for hdr in (path.with_name(f"{path.stem}-{path.suffix.lstrip('.')}.hdr"), path.with_suffix(".hdr")):  # TESCAN
        text = _small_text(hdr)
        if text is not None and text.lstrip().startswith("[MAIN]"):
            return _tescan_pixel(text)
    text = _small_text(path.with_suffix(".txt"))
    if text is None:
        return None
    bar = re.search(r"^\s*\$+SM_MICRON_BAR\s+" + _NUMBER, text, re.MULTILINE)
    marker = re.search(r"^\s*\$+SM_MICRON_MARKER\s+" + _NUMBER + r"\s*([a-zA-Zµ]+)", text, re.MULTILINE)
    if bar and marker and marker.group(2).lower() in _UNIT_NM and float(bar.group(1)) > 0:
        return _plausible(float(marker.group(1)) * _UNIT_NM[marker.group(2).lower()] / float(bar.group(1)))
    hitachi = re.search(r"^\s*PixelSize\s*=\s*" + _NUMBER, text, re.MULTILINE)
    return _plausible(float(hitachi.group(1))) if hitachi else None


def _per_pixel(value) -> float | None:
    if isinstance(value, tuple) and len(value) == 2:
        return value[0] / value[1] if value[1] else None
    return float(value) if value else None


def _resolution(meta: dict) -> float | None:
    res = meta.get("resolution")
    if res:
        px_per_unit = _per_pixel(res[0])
        if not px_per_unit:
            return None
        m = re.search(r"^unit=(\S+)", meta.get("description") or "", re.MULTILINE)  # ImageJ
        unit = m.group(1).lower() if m else None
        if unit in _UNIT_NM:
            return _plausible(_UNIT_NM[unit] / px_per_unit)
        per_unit_nm = {2: 2.54e7, 3: 1e7}.get(meta.get("resolutionunit"))
        return _plausible(per_unit_nm / px_per_unit) if per_unit_nm else None
    dpi = (meta.get("info") or {}).get("dpi")  # PNG pHYs, as Pillow reports it
    if dpi and float(dpi[0]) > 0:
        return _plausible(2.54e7 / float(dpi[0]))
    return None


def pixel_size_nm(image: ImageData) -> float | None:
    """Pixel size in nanometres from the vendor metadata, or None when none is trustworthy."""
    meta = image.metadata or {}
    for source in (lambda: _fei(meta), lambda: _zeiss(meta), lambda: _tescan(meta), lambda: _sidecar(image.path),
                   lambda: _resolution(meta)):
        try:
            nm = source()
        except (ValueError, TypeError, OSError, ZeroDivisionError):
            nm = None
        if nm is not None:
            return nm
    return None
