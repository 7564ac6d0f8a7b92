"""The data folder of a server: one folder per job, named by the job's id, holding files with fixed names.

No name a client sends is ever part of a path: the uploaded file's name is kept in the
database for display and downloads only, and its suffix is used only after it matched one of
the formats midnet reads. Every file is written to a temporary name and renamed in one step
(:func:`midnet.images.publish.atomic_write`), before the database row that points at it is committed.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import MidnetError
from ..images.io import IMAGE_SUFFIXES
from ..images.publish import atomic_write

DATABASE = "midnet-serve.sqlite3"
JOBS = "jobs"
INPUT, RESULT = "input", "result"  # + the upload's suffix
PREVIEWS = {"input": "preview-input.png", "result": "preview-result.png"}  # never an upload's name
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{20,64}")  # what secrets.token_urlsafe makes, and nothing else
MAX_NAME = 200


def valid_id(job_id: str) -> bool:
    return bool(_JOB_ID.fullmatch(job_id))


def job_dir(data: Path, job_id: str) -> Path:
    if not valid_id(job_id):  # never a path from outside: the callers check, this makes sure
        raise MidnetError("not a job id")
    return data / JOBS / job_id


def input_path(data: Path, job_id: str, ext: str) -> Path:
    return job_dir(data, job_id) / f"{INPUT}{ext}"


def result_path(data: Path, job_id: str, ext: str) -> Path:
    return job_dir(data, job_id) / f"{RESULT}{ext}"


def preview_path(data: Path, job_id: str, kind: str) -> Path:
    return job_dir(data, job_id) / PREVIEWS[kind]


def display_name(filename: str | None) -> tuple[str, str]:
    """(name to show, lower-case suffix) of an uploaded file's name; a :class:`MidnetError` for a format midnet
    does not read. Folders a browser or script put in the name are dropped; control characters too."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if c.isprintable()).strip() or "micrograph"
    suffix = Path(base).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        shown = f"{suffix!r}" if suffix else "no suffix"
        raise MidnetError(f"{base[:MAX_NAME]}: unsupported file type ({shown}); use TIFF, PNG, JPEG or BMP "
                          "(.tif, .tiff, .png, .jpg, .jpeg, .bmp)")
    if len(base) > MAX_NAME:
        base = base[: MAX_NAME - len(suffix)] + suffix
    return base, suffix


def save_upload(stream: BinaryIO, target: Path, chunk: int = 2**16) -> int:
    """Copy an upload to ``target`` atomically, in small chunks (never the whole file in memory, nor blocks big
    enough to stay in a request thread's malloc arena); its size in bytes."""
    size = 0
    with atomic_write(target) as tmp, open(tmp, "wb") as out:
        while block := stream.read(chunk):
            out.write(block)
            size += len(block)
    return size


def display_range(frame: np.ndarray) -> tuple[float, float]:
    """The grey levels a preview maps to black and white: a uint8 frame as it is, any other its own range.

    The result's preview uses its input's range, so a restoration that brightens or darkens
    shows as such."""
    if frame.dtype == np.uint8:
        return 0.0, 255.0
    lo, hi = float(np.min(frame)), float(np.max(frame))
    return lo, (hi if hi > lo else lo + 1.0)


def write_preview(frame: np.ndarray, target: Path, levels: tuple[float, float]) -> Path:
    """An 8-bit PNG of one frame (gray or RGB; alpha dropped) at full resolution, written atomically."""
    from PIL import Image

    a = np.asarray(frame)
    if a.ndim == 3:
        a = a[..., :3] if a.shape[2] >= 3 else a[..., 0]  # RGB(A) -> RGB, gray + alpha -> gray
    lo, hi = levels
    scaled = a if a.dtype == np.uint8 and (lo, hi) == (0.0, 255.0) else (
        np.clip((a.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255) + 0.5).astype(np.uint8)
    with atomic_write(target) as tmp:
        Image.fromarray(np.ascontiguousarray(scaled)).save(tmp, format="PNG", compress_level=1)
    return target


def remove_job(data: Path, job_id: str) -> None:
    shutil.rmtree(job_dir(data, job_id), ignore_errors=True)


def remove_orphans(data: Path, known: set[str]) -> list[str]:
    """Remove job folders no row names: uploads or expiries a stopped server left half-done."""
    folder = data / JOBS
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        if entry.name not in known:
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed
