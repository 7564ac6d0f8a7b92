"""All of one client's results as one zip, built in a temporary file (never in memory) and removed once sent."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from starlette.background import BackgroundTask

from . import files


def client_zip(data: Path, jobs: list[dict], name_of: Callable[[str], str]) -> tuple[Path, BackgroundTask]:
    """(zip of the jobs' results, the task that removes it after the response). Names repeated among the uploads
    get (2), (3)... so that no entry hides another."""
    folder = data / "tmp"
    folder.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="results-", suffix=".zip")
    os.close(fd)
    seen: dict[str, int] = {}
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for job in jobs:
                name = _unique(name_of(job["name"]), seen)
                zf.write(files.result_path(data, job["id"], job["ext"]), arcname=name)
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp), BackgroundTask(os.unlink, tmp)


def _unique(name: str, seen: dict[str, int]) -> str:
    count = seen.get(name, 0) + 1
    seen[name] = count
    if count == 1:
        return name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem} ({count}).{suffix}" if dot else f"{name} ({count})"
