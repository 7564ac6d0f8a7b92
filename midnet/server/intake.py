"""An upload becomes a job: saved under a server-made name, decoded within the pixel limit, scored, previewed.

Nothing of a bad file stays: its folder is removed and the client gets one line saying what
is wrong with it, naming the file as the client named it (never a server path).
"""

from __future__ import annotations

import math
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from ..errors import MidnetError, one_line
from . import files, memory
from .store import JobStore

# Decoding and scoring take a few copies of a frame each: two at a time, on two threads of their own however
# many users upload at once, so that the number of frames decoded at once does not grow with the number of
# users. What they free is handed back to the system after each file (midnet/server/memory.py): malloc would
# otherwise keep it in its arenas, and the server's peak would grow with the number of files it has scored.
_INSPECTORS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="midnet-intake")


def new_id() -> str:
    """An unguessable job or client id: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def accept(store: JobStore, data: Path, client: str, filename: str | None, stream: BinaryIO) -> str:
    """Make a job of one uploaded file and queue it; its id. A :class:`MidnetError` for a file that cannot be one."""
    name, ext = files.display_name(filename)
    job_id = new_id()
    source = files.input_path(data, job_id, ext)
    try:
        size = files.save_upload(stream, source)
        info = _INSPECTORS.submit(_inspect_and_give_back, data, job_id, source, size).result()
        store.add(job_id, client, name, ext, info)  # the last step: the row appears with its files in place
    except MidnetError as exc:
        files.remove_job(data, job_id)
        raise MidnetError(one_line(str(exc).replace(str(source), name), 400)) from None
    except BaseException:
        files.remove_job(data, job_id)
        raise
    return job_id


def _inspect_and_give_back(data: Path, job_id: str, source: Path, size: int) -> dict:
    try:
        return _inspect(data, job_id, source, size)
    finally:  # the frames are gone once _inspect returned, a bad file's too
        memory.give_back()


def _inspect(data: Path, job_id: str, source: Path, size: int) -> dict:
    """Decode the file (pixels over MIDNET_MAX_PIXELS are refused from its header, before decoding), score its
    first frame and write its preview; what the page shows about it."""
    from ..quality.focus import score
    from ..images.io import read_image

    img = read_image(source)
    lead, frames = img.frames()
    first = frames[0]
    levels = files.display_range(first)
    files.write_preview(first, files.preview_path(data, job_id, "input"), levels)
    return {
        "width": int(first.shape[1]), "height": int(first.shape[0]), "pages": int(frames.shape[0]),
        "channels": int(first.shape[2]) if first.ndim == 3 else 1, "dtype": str(first.dtype), "bytes": size,
        "levels": list(levels), "score": _score(score, first),
    }


def _score(score, frame) -> dict | None:
    """The focus score of the first frame as the page shows it; None for a frame too small or flat to judge."""
    try:
        s = score(frame)
    except MidnetError:
        return None
    blur = s.blur_px if math.isfinite(s.blur_px) else None
    return {"blur_px": None if blur is None else round(blur, 2), "confidence": round(s.confidence, 3),
            "verdict": s.verdict}
