"""`midnet watch`: restore every micrograph a microscope writes into a folder, until stopped.

The folder is polled, not watched with inotify: inotify misses writes made over SMB and NFS
shares, where microscope PCs often export. A file is taken once its size and modification
time have not changed for ``settle`` seconds (seen on two polls at least), so a file still
being written is never read half-way; if it changes while it is restored, the output is
removed and the file waits to settle again.

What is done is recognised by its output (an output that exists is never replaced), so a
restart picks up whatever arrived while the watcher was stopped, and nothing per done file
is kept in memory. The state kept is bounded: the (size, mtime) of files that have not
settled yet, and of at most :data:`REMEMBERED` files that failed or that the only-blurry
triage left out (those are reported once, and tried again only when they change).

Several watchers may share one folder: each file is claimed with a lock (:func:`claim`)
that the system releases when its process dies, so no file is restored twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .images.batch import FORMAT_SUFFIX, Job, plan_jobs, shown
from .errors import MidnetError
from .images.io import IMAGE_SUFFIXES
from .pipeline import FramePipeline
from .images.publish import remove_stale_temporaries

REMEMBERED = 50_000  # failed or left-out files kept with their (size, mtime): about 200 bytes each
SHOWN_FAILURES = 20  # failures listed again in the summary on stop (each was reported when it happened)
CLAIMS = ".midnet-watch"  # hidden folder in OUT holding the claims (lock files) of files being restored


@dataclass(frozen=True)
class WatchPlan:
    """Where a watcher looks and where, under what names, it writes (the naming of `midnet deblur`)."""

    source: Path
    outdir: Path
    recursive: bool = False
    suffix: str = ""
    fmt: str = "same"
    compare: bool = False
    uncertainty: bool = False

    def check(self) -> None:
        """A usage error for a plan that cannot work (one line)."""
        if not self.source.is_dir():
            raise MidnetError(f"{shown(self.source)}: not a folder; watch a folder the microscope writes into")
        src, out = self.source.resolve(), self.outdir.resolve()
        if out == src:
            raise MidnetError("the output folder is the watched folder; choose another -o folder")
        if self.suffix and any(sep in self.suffix for sep in ("/", "\\")):
            raise MidnetError(f"--suffix {self.suffix!r} holds a path separator")

    def output_name(self, name: str) -> str:
        """The output's file name for an input named ``name``: as :func:`midnet.images.batch.plan_jobs` names it."""
        stem, ext = os.path.splitext(name)
        return f"{stem}{self.suffix}{ext if self.fmt == 'same' else FORMAT_SUFFIX[self.fmt]}"

    def job(self, path: Path) -> Job:
        return plan_jobs([(path, self.source)], self.outdir, self.suffix, self.fmt, self.compare, self.uncertainty)[0]


@dataclass(frozen=True)
class Seen:
    """A file as one poll saw it."""

    size: int
    mtime_ns: int
    since: float  # when this (size, mtime) was first seen, on the watcher's clock


def candidates(plan: WatchPlan) -> Iterator[tuple[os.DirEntry, Path]]:
    """(entry, its output folder) of every image file in the watched folder (and below it with ``recursive``),
    hidden files and the output folder left out. os.scandir: no stat per file unless asked."""
    skip = plan.outdir.resolve()
    stack = [(plan.source, plan.outdir)]
    while stack:
        folder, out = stack.pop()
        with contextlib.suppress(OSError), os.scandir(folder) as entries:  # a folder removed meanwhile: passed
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if plan.recursive and Path(entry.path).resolve() != skip:
                        stack.append((Path(entry.path), out / entry.name))
                elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES and entry.is_file():
                    yield entry, out


class OutputListing:
    """The names in each output folder, listed once per poll: telling 100,000 done files by their outputs takes
    one directory listing, not 100,000 stat calls."""

    def __init__(self):
        self.names: dict[Path, set[str]] = {}

    def has(self, folder: Path, name: str) -> bool:
        if folder not in self.names:
            try:
                with os.scandir(folder) as entries:
                    self.names[folder] = {e.name for e in entries}
            except OSError:  # not made yet: nothing is done there
                self.names[folder] = set()
        return name in self.names[folder]


@contextlib.contextmanager
def claim(lock: Path) -> Iterator[bool]:
    """Hold ``lock`` (True) or learn that another process holds it (False), without waiting.

    The lock is the system's (flock, or msvcrt's on Windows): it goes with the process, however that
    ends. The file is removed on release; a process that opened it before that finds it gone (another
    name, or none) and stands back, so two processes never both hold one name.
    """
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        held = _try_lock(fd) and _same_file(fd, lock)
        try:
            yield held
        finally:
            if held:
                with contextlib.suppress(OSError):
                    os.unlink(lock)
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by another process
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


class Tally:
    """What a watcher did, for its summary on stop; bounded however long it runs."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.failures: deque[str] = deque(maxlen=SHOWN_FAILURES)

    def add(self, status: str, why: str = "") -> None:
        self.counts[status] += 1
        if status == "failed":
            self.failures.append(why)

    def summary(self) -> list[str]:
        c = self.counts
        lines = [f"stopped: {c['restored']} restored, {c['skipped']} skipped, {c['failed']} failed"]
        if c["failed"] > len(self.failures):
            lines.append(f"the last {len(self.failures)} failures:")
        return lines + [f"failed: {why}" for why in self.failures]


class Watcher:
    """Polls a folder and restores each file once it has settled; :meth:`run` until ``stop`` is set."""

    def __init__(self, plan: WatchPlan, pipeline: FramePipeline, settle: float = 2.0, poll: float = 1.0,
                 echo: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic):
        self.plan, self.pipeline, self.settle, self.poll = plan, pipeline, settle, poll
        self.echo, self.clock = echo, clock
        self.pending: dict[str, Seen] = {}  # files not settled yet
        self.passed: OrderedDict[str, tuple[int, int]] = OrderedDict()  # failed or left out, as they were then
        self.tally = Tally()

    def run(self, stop: threading.Event) -> Tally:
        """Poll and restore until ``stop`` is set (the file being restored is finished first)."""
        remove_stale_temporaries(self.plan.outdir)  # what a killed watcher left half-written
        while not stop.is_set():
            for path in self.scan():
                if stop.is_set():
                    break
                self.take(path)
            stop.wait(self.poll)
        return self.tally

    def scan(self) -> list[Path]:
        """One poll: the files settled now, oldest first; remembers the others' (size, mtime)."""
        now, outputs = self.clock(), OutputListing()
        pending: dict[str, Seen] = {}
        passed: OrderedDict[str, tuple[int, int]] = OrderedDict()
        ready: list[tuple[int, str]] = []
        for entry, out in candidates(self.plan):
            if outputs.has(out, self.plan.output_name(entry.name)):
                continue  # done, by this watcher, another, or before a restart
            try:
                st = entry.stat()
            except OSError:  # removed since it was listed
                continue
            key, now_seen = entry.path, (st.st_size, st.st_mtime_ns)
            if self.passed.get(key) == now_seen:
                passed[key] = now_seen
                continue
            before = self.pending.get(key)
            if before is not None and (before.size, before.mtime_ns) == now_seen:
                if now - before.since >= self.settle:
                    ready.append((st.st_mtime_ns, key))
                pending[key] = before
            else:
                pending[key] = Seen(*now_seen, now)
        self.pending = pending  # files gone from the folder are forgotten
        self.passed = passed
        return [Path(key) for _, key in sorted(ready)]

    def take(self, path: Path) -> None:
        """Restore one settled file unless another watcher holds it or finished it: one log line."""
        job = self.plan.job(path)
        digest = hashlib.sha256(str(job.output.resolve()).encode()).hexdigest()[:32]
        with claim(self.plan.outdir / CLAIMS / f"{digest}.lock") as held:
            if not held or os.path.lexists(job.output):
                return  # another watcher restores it, or has
            seen = self.pending.pop(str(path), None)
            start = time.perf_counter()
            one = self.pipeline.fresh()  # this file's domain check and score, nothing of the files before
            status, why = one.restore_file(job)
            seconds = time.perf_counter() - start
            if seen is not None and _changed(path, seen):
                self._written_while_changing(job, status)
                return
        self._report(job, one, status, why, seconds, seen)

    def _written_while_changing(self, job: Job, status: str) -> None:
        if status == "restored":  # made from a file that was still being written: not kept
            for target in (job.output, job.compare, job.uncertainty):
                if target is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(target)
        self.echo(_stamp(f"changed while it was read, taken again once it settles: {shown(job.source)}"))

    def _report(self, job: Job, one: FramePipeline, status: str, why: str, seconds: float, seen: Seen | None):
        self.tally.add(status, why)
        if status == "restored":
            self.echo(_stamp(f"restored {shown(job.source)} -> {shown(job.output)} ({seconds:.1f} s)"
                             + _notes(one, job)))
            return
        self.echo(_stamp(f"{status}: {why}"))
        if seen is not None:  # reported once: tried again only when the file changes
            self.passed[str(job.source)] = (seen.size, seen.mtime_ns)
            while len(self.passed) > REMEMBERED:
                self.passed.popitem(last=False)


def _changed(path: Path, seen: Seen) -> bool:
    try:
        st = path.stat()
    except OSError:
        return True
    return (st.st_size, st.st_mtime_ns) != (seen.size, seen.mtime_ns)


def _notes(one: FramePipeline, job: Job) -> str:
    """The rest of a restored file's line: its blur before and after (--only-blurry), and whether it looks unlike
    the network's training micrographs."""
    notes = []
    triage = one.triage
    if triage is not None and job.source in triage.before and job.source in triage.after:
        notes.append(f"blur {triage.before[job.source].blur_px:.1f} px before, "
                     f"{triage.after[job.source].blur_px:.1f} px after")
    if one.watch is not None and one.watch.outside:
        notes.append(f"unlike {one.watch.model}'s training micrographs: {'; '.join(one.watch.outside[0][1])}")
    return "; " + "; ".join(notes) if notes else ""


def _stamp(line: str) -> str:
    """A log line with the local date and time: a watcher runs for days."""
    return f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}"
