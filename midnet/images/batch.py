"""Restoring many files: input discovery, output planning, a batch that survives bad files.

Inputs are never modified; an output equal to an input is refused; midnet's own outputs among the
inputs (a second run into the input folder) are skipped, saying why; an existing output is never
replaced unless ``overwrite``, not even one another run writes meanwhile; every output is written to
a temporary file and published in one step. A name with control characters or other odd text is
quoted in every message, so that each message stays one line.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MidnetError
from .io import IMAGE_SUFFIXES, ImageData, read_image, write_image
from .publish import OutputExists, check_writable, remove_stale_temporaries

FORMAT_SUFFIX = {"tif": ".tif", "tiff": ".tiff", "png": ".png"}  # --format: both TIFF spellings, as users write them
COMPARE = "_compare"  # a before/after picture is NAME{suffix}_compare.png
UNCERTAINTY = "_uncertainty"  # the per-pixel spread of --uncertainty is NAME{suffix}_uncertainty.tif
Restored = np.ndarray | tuple[np.ndarray, np.ndarray]  # a restored frame, or (frame, spread) with --uncertainty


@dataclass
class Job:
    source: Path
    output: Path
    compare: Path | None = None
    uncertainty: Path | None = None
    skip: str | None = None  # why the source is not restored: midnet wrote it (see plan_jobs)
    origin: Path | None = None  # then: the input it was made from


@dataclass
class Report:
    restored: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    cleaned: list[Path] = field(default_factory=list)  # temporaries of dead runs removed from the output folders

    def summary(self) -> str:
        return f"{len(self.restored)} restored, {len(self.skipped)} skipped, {len(self.failed)} failed"


class Interrupted(KeyboardInterrupt):
    """A batch stopped by SIGINT (Ctrl+C) or SIGTERM: ``report`` holds what it did before, of ``total`` jobs."""

    def __init__(self, signum: int, report: Report, total: int):
        super().__init__(signum)
        self.signum, self.report, self.total = signum, report, total

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM: what shells report for a process a signal ended

    def summary(self) -> str:
        done = len(self.report.restored) + len(self.report.skipped) + len(self.report.failed)
        return (f"interrupted by {signal.Signals(self.signum).name}: {self.total - done} of {self.total} files not "
                "restored (the one being restored was not written: outputs appear whole or not at all); the same "
                "command again restores them (outputs already written are skipped unless --overwrite)")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised wherever the batch is, as Python raises KeyboardInterrupt for SIGINT."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _sigterm_interrupts():
    """While a batch runs, SIGTERM interrupts it as Ctrl+C does: by default it would end the process without a
    word of what was done. Only the main thread can take signals; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise _Terminated(signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def shown(path: str | os.PathLike) -> str:
    """``path`` as messages show it: quoted like a Python string when odd (a newline, a tab, another
    control character, a name with leading or trailing spaces), as it is otherwise."""
    text = str(path)
    return repr(text) if _odd(text) else text


def _odd(text: str) -> bool:
    return not text.isprintable() or any(part != part.strip() for part in re.split(r"[\\/]", text))


def _one_line(message: str, paths: Iterable[Path | None]) -> str:
    """``message`` as one line: the odd names among ``paths`` quoted (see :func:`shown`), any other line
    break made a space and any other control character escaped."""
    odd = {str(t) for p in paths if p is not None for t in (p, p.name) if _odd(str(t))}
    names = [re.escape(t) for t in sorted(odd, key=len, reverse=True)]  # a whole path before its name
    pattern = re.compile("|".join(names + [r"[ \t]*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+[ \t]*"]))
    text = pattern.sub(lambda m: repr(m.group()) if m.group() in odd else " ", message)
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def collect_inputs(inputs: Sequence[str], recursive: bool = False) -> list[tuple[Path, Path]]:
    """(file, base folder) for every image named, in a named folder, or matched by a glob."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(f for f in p.glob(pattern) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            found += [(f, p) for f in files if not f.name.startswith(".")]
        elif p.is_file():
            found.append((p, p.parent))
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=recursive) if Path(m).is_file())
            found += [(m, m.parent) for m in matches]
        else:
            raise MidnetError(f"{shown(item)}: no such file or folder")
    unique, seen = [], set()
    for f, base in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((f, base))
    return unique


def plan_jobs(
    inputs: Iterable[tuple[Path, Path]], outdir: Path, suffix: str = "", fmt: str = "same", compare: bool = False,
    uncertainty: bool = False,
) -> list[Job]:
    """A job per input. Inputs that midnet wrote itself are marked to be skipped (:func:`_mark_own_outputs`);
    two inputs that would be written to one file are a :class:`MidnetError`."""
    jobs = []
    for source, base in inputs:
        rel = source.relative_to(base) if source.is_relative_to(base) else Path(source.name)
        ext = source.suffix if fmt == "same" else FORMAT_SUFFIX[fmt]
        output = outdir / rel.parent / f"{rel.stem}{suffix}{ext}"
        cmp = outdir / rel.parent / f"{rel.stem}{suffix}{COMPARE}.png" if compare else None
        spread = outdir / rel.parent / f"{rel.stem}{suffix}{UNCERTAINTY}.tif" if uncertainty else None
        jobs.append(Job(source, output, cmp, spread))
    _mark_own_outputs(jobs, suffix)
    seen: dict[Path, Path] = {}
    for job in jobs:  # two inputs must never write the same output
        if job.skip:
            continue
        for target in (job.output, job.compare, job.uncertainty):
            if target is None:
                continue
            key = target.resolve()
            if key in seen:
                raise MidnetError(_one_line(
                    f"{seen[key]} and {job.source} would both be written to {target}; restore them into "
                    "different -o folders or give a folder input (its sub-folders are kept)",
                    [seen[key], job.source, target]))
            seen[key] = job.source
    return jobs


def _mark_own_outputs(jobs: Sequence[Job], suffix: str) -> None:
    """Mark the inputs midnet wrote, so that a run into the input folder does not restore them again."""
    planned = {t.resolve(): (job.source, kind, "") for job in jobs
               for t, kind in ((job.output, "output"), (job.compare, "--compare picture"),
                               (job.uncertainty, "--uncertainty map")) if t is not None}
    stems = {(job.source.parent.resolve(), job.source.stem): job.source for job in reversed(jobs)}
    for job in jobs:
        made = _made_from(job.source, planned, stems, suffix)
        if made is not None:
            origin, kind, note = made
            job.skip, job.origin = f"midnet's {kind} of {origin}{note}", origin


def _made_from(source: Path, planned: dict, stems: dict, suffix: str) -> tuple[Path, str, str] | None:
    """(input, what, note) when ``source`` is midnet's output: the output or picture this plan gives another
    input (an -o folder inside a folder input), NAME{suffix}.* beside an input NAME.*, or a ``--compare``
    picture NAME[{suffix}]_compare.png beside it."""
    key = source.resolve()
    if key in planned and planned[key][0].resolve() != key:  # its own output is refused, not skipped
        return planned[key]
    folder, stem = key.parent, source.stem
    for side, ext, kind in ((COMPARE, ".png", "--compare picture"), (UNCERTAINTY, ".tif", "--uncertainty map")):
        if source.suffix.lower() == ext and stem.endswith(side):
            base = stem[: -len(side)]
            for name in ([base[: -len(suffix)]] if suffix and base.endswith(suffix) else []) + [base]:
                if (folder, name) in stems:
                    return stems[folder, name], kind, ""
    if suffix and stem.endswith(suffix) and (folder, stem[: -len(suffix)]) in stems:
        return stems[folder, stem[: -len(suffix)]], "output", f" (named with --suffix {suffix})"
    return None


def restore_pages(img: ImageData, restore_one: Callable[[np.ndarray], Restored]) -> Restored:
    """Apply ``restore_one`` to every page of a stack (every 2-D frame), or to the single image.

    When ``restore_one`` gives (frame, spread) pairs, so does this: both stacked like the pages.
    """
    lead, flat = img.frames()
    if not lead:
        return restore_one(flat[0])
    results = [restore_one(frame) for frame in flat]
    if img.pages is not None:  # pages of different sizes stay a list (midnet.images.io writes them page by page)
        return ([r[0] for r in results], [r[1] for r in results]) if isinstance(results[0], tuple) else results
    if isinstance(results[0], tuple):
        frames, spreads = (np.stack(part) for part in zip(*results))
        return frames.reshape(lead + frames.shape[1:]), spreads.reshape(lead + spreads.shape[1:])
    out = np.stack(results)
    return out.reshape(lead + out.shape[1:])


Provenance = dict | Callable[[], dict] | None  # what every output records (Restorer.provenance)


def run_batch(
    jobs: Sequence[Job],
    restore_one: Callable[[np.ndarray], np.ndarray],
    overwrite: bool = False,
    on_done: Callable[[Job, str], None] | None = None,
    compare_writer: Callable[[np.ndarray, np.ndarray, Path], None] | None = None,
    provenance: Provenance = None,
) -> Report:
    """Restore every job; a bad file is reported and the batch goes on. Each skip and failure has one line why.

    ``provenance`` (the restorer's :attr:`~midnet.inference.restore.Restorer.provenance`, or a function giving it) goes
    into every output's metadata.

    First removes from the output folders the temporaries that runs which died on this host left there.
    SIGINT (Ctrl+C) or SIGTERM stops it at once with :class:`Interrupted`, which holds the report so far:
    the file being restored leaves nothing (outputs are written whole or not at all).
    """
    report = Report()
    for folder in sorted({t.parent for job in jobs for t in (job.output, job.compare) if t is not None}):
        report.cleaned += remove_stale_temporaries(folder)
    inputs = {job.source.resolve() for job in jobs if job.skip is None}
    with _sigterm_interrupts():
        try:
            for job in jobs:
                status, why = attempt(job, restore_one, overwrite, inputs, compare_writer, provenance)
                if status == "restored":
                    report.restored.append(job.source)
                else:
                    (report.skipped if status == "skipped" else report.failed).append((job.source, why))
                if on_done:
                    on_done(job, status)
        except KeyboardInterrupt as exc:  # what was done is the caller's to say, and which signal stopped it
            signum = exc.signum if isinstance(exc, _Terminated) else signal.SIGINT
            raise Interrupted(signum, report, len(jobs)) from None
    return report


def attempt(job: Job, restore_one, overwrite: bool, inputs: set[Path], compare_writer=None,
            provenance: Provenance = None) -> tuple[str, str]:
    """(status, why on one line) of one job, with every guarantee of :func:`run_batch` but the clean-up of dead
    runs' temporaries: what a batch spread over processes (midnet/cluster/files.py) runs per file. ``inputs``:
    the resolved inputs of the batch (an output among them is refused); status is restored, skipped or failed."""
    status, why = _attempt(job, restore_one, overwrite, inputs, compare_writer, provenance)
    return status, (_one_line(why, [job.source, job.output, job.compare, job.origin]) if why else why)


def _attempt(job: Job, restore_one, overwrite: bool, inputs: set[Path], compare_writer,
             provenance: Provenance = None) -> tuple[str, str]:
    """(status, why) of one job: any error of this file is its failure, never the end of the batch."""
    try:
        return _run_job(job, restore_one, overwrite, inputs, compare_writer, provenance)
    except MidnetError as exc:
        return "failed", _with_name(str(exc), job.source)
    except MemoryError:
        return "failed", (f"{job.source}: out of memory while reading or restoring it; free memory, or give a "
                          "smaller --tile (tiles bound the restoration's memory, not the file's)")
    except Exception as exc:  # keep going: one bad file must not stop a batch
        return "failed", f"{job.source}: {type(exc).__name__}: {str(exc)[:300]}"


def _run_job(job: Job, restore_one, overwrite: bool, inputs: set[Path], compare_writer,
             provenance: Provenance = None) -> tuple[str, str]:
    if job.skip:
        return "skipped", f"{job.source}: {job.skip}; not restored again"
    if job.output.resolve() in inputs or (job.output.exists() and job.output.samefile(job.source)):
        raise MidnetError(f"{job.output}: output would overwrite an input; choose another -o folder or a --suffix")
    for target in (job.output, job.compare, job.uncertainty):
        if target is not None and os.path.lexists(target) and not overwrite:
            return "skipped", f"{target} exists (use --overwrite to replace it)"
    check_writable(job.output)  # before the restoration is computed, not after
    img = read_image(job.source)
    restored = restore_pages(img, restore_one)
    restored, spread = restored if isinstance(restored, tuple) else (restored, None)
    provenance = provenance() if callable(provenance) else provenance  # read after the restoration: what ran
    try:
        write_image(job.output, restored, like=img, fmt=None, replace=overwrite, provenance=provenance)
    except OutputExists:
        return "skipped", f"{job.output} was written meanwhile by another run; kept it (--overwrite replaces it)"
    if job.uncertainty is not None and spread is not None:
        spread = [s.astype(np.float32) for s in spread] if isinstance(spread, list) else spread.astype(np.float32)
        write_image(job.uncertainty, spread, fmt="tiff", replace=overwrite,
                    provenance=provenance and dict(provenance, content="uncertainty: spread of the eight views"))
    if job.compare is not None and compare_writer is not None:
        lead, flat = img.frames()  # a stack's picture shows its first frame
        first = restored[0] if isinstance(restored, list) else restored.reshape(flat.shape)[0] if lead else restored
        compare_writer(flat[0], first, job.compare)
    return "restored", ""


def _with_name(message: str, source: Path) -> str:
    return message if str(source) in message else f"{source}: {message}"


def dry_run_lines(jobs: Sequence[Job], overwrite: bool) -> list[str]:
    lines = []
    for job in jobs:
        names = [job.source, job.output, job.compare, job.origin]
        if job.skip:
            lines.append(_one_line(f"{job.source} (would be skipped: {job.skip})", names))
            continue
        exists = os.path.lexists(job.output)
        state = "exists, would be replaced" if exists and overwrite else (
            "exists, would be skipped" if exists else "would be written")
        lines.append(_one_line(f"{job.source} -> {job.output} ({state})", names))
        if job.compare:
            lines.append(_one_line(f"{job.source} -> {job.compare} (comparison)", names))
    return lines
