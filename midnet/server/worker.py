"""The worker: one thread that restores the queued jobs one at a time, oldest first, and expires old ones.

The queue lives in the database, not in memory: fifty waiting files cost their rows and
their files on disk, so a full queue takes no more memory than an empty one
(benchmarks/bench_serve.py measures it). What a job freed is handed back to the system before
the next one (midnet/server/memory.py), else malloc's arenas would keep it and the peak would
grow with the number of files restored. A job's progress (tiles done of the current frame)
is kept in memory only: it means nothing after a restart, where the job starts over.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from ..errors import MidnetError, one_line
from . import files, memory
from .store import JobStore

log = logging.getLogger("midnet.server")
JANITOR_EVERY_S = 60.0


class Cancelled(BaseException):
    """Raised between tiles when a running job was cancelled: a BaseException, so the batch's per-file error
    handling (which reports a failure and goes on) lets it through to the worker."""


class Worker:
    def __init__(self, store: JobStore, data: Path, restoration, retention_s: float):
        self.store, self.data, self.restoration, self.retention_s = store, data, restoration, retention_s
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._current: str | None = None
        self._progress = 0.0
        self._last_janitor = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="midnet-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current job; one still running after ``timeout`` is queued again at the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def progress(self, job_id: str) -> float | None:
        """The running job's progress in 0..1 (None for any other job)."""
        return self._progress if job_id == self._current else None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._expire_if_due()
            job = self.store.claim_next()
            if job is None:
                self._wake.wait(timeout=JANITOR_EVERY_S / 4)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except Exception:  # a bug must not stop the queue: the job is failed, the next one runs
                log.exception("job %s", job["id"])
                self.store.finish(job["id"], "failed", "internal error while restoring; the server's log has details")
            finally:
                self._current = None
                memory.give_back()  # else the peak grows with the jobs run (midnet/server/memory.py)

    def _run(self, job: dict) -> None:
        job_id, ext = job["id"], job["ext"]
        source, output = files.input_path(self.data, job_id, ext), files.result_path(self.data, job_id, ext)
        self._current, self._progress = job_id, 0.0
        started = time.perf_counter()
        try:
            provenance, note = self.restoration.restore(source, output, self._tile_callback(job_id))
        except Cancelled:
            return self._cancelled(job_id, output)
        except MidnetError as exc:
            self.store.finish(job_id, "failed", self._shown(str(exc), job))
            return log.info("job %s failed: %s", job_id, self._shown(str(exc), job))
        if self.store.cancel_asked(job_id):
            return self._cancelled(job_id, output)
        self._write_result_preview(job, output)
        self.store.finish(job_id, "done", note, provenance)  # after every file of the job is in place
        log.info("job %s restored in %.1f s", job_id, time.perf_counter() - started)

    def _tile_callback(self, job_id: str):
        def on_tile(done: int, total: int) -> None:
            self._progress = done / max(total, 1)
            if self.store.cancel_asked(job_id):
                raise Cancelled
        return on_tile

    def _cancelled(self, job_id: str, output: Path) -> None:
        output.unlink(missing_ok=True)
        self.store.finish(job_id, "cancelled", "cancelled")

    def _write_result_preview(self, job: dict, output: Path) -> None:
        """The result's preview, from the file a user downloads, on the grey scale of the input's preview."""
        from ..images.io import read_image

        frame = read_image(output).frames()[1][0]
        levels = tuple(job["info"]["levels"])
        files.write_preview(frame, files.preview_path(self.data, job["id"], "result"), levels)

    def _shown(self, message: str, job: dict) -> str:
        """A message as a client may see it: the server's paths replaced by the uploaded file's name."""
        folder = files.job_dir(self.data, job["id"])
        for path in (files.input_path(self.data, job["id"], job["ext"]),
                     files.result_path(self.data, job["id"], job["ext"]), folder):
            message = message.replace(str(path), job["name"])
        return one_line(message, 400)

    def _expire_if_due(self) -> None:
        now = time.time()
        if now - self._last_janitor < JANITOR_EVERY_S:
            return
        self._last_janitor = now
        expire_old(self.store, self.data, self.retention_s)


def expire_old(store: JobStore, data: Path, retention_s: float) -> list[str]:
    """Forget the jobs finished more than ``retention_s`` ago: rows first, so no row ever points at missing files
    (a folder left by a crash in between is an orphan, removed at the next start)."""
    gone = store.expired(time.time() - retention_s)
    for job_id in gone:
        files.remove_job(data, job_id)
    if gone:
        log.info("expired %d finished jobs", len(gone))
    return gone
