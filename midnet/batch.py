"""Restoring many files: input discovery, output planning, a batch that survives bad files.

Inputs are never modified; an output equal to an input is refused; existing outputs are
skipped unless ``overwrite``; every output is written to a temporary file and renamed.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import MidnetError
from .io import IMAGE_SUFFIXES, ImageData, read_image, write_image

FORMAT_SUFFIX = {"tif": ".tif", "png": ".png"}


@dataclass
class Job:
    source: Path
    output: Path
    compare: Path | None = None


@dataclass
class Report:
    restored: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.restored)} restored, {len(self.skipped)} skipped, {len(self.failed)} failed"


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
            raise MidnetError(f"{item}: no such file or folder")
    unique, seen = [], set()
    for f, base in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((f, base))
    return unique


def plan_jobs(
    inputs: Iterable[tuple[Path, Path]], outdir: Path, suffix: str = "", fmt: str = "same", compare: bool = False
) -> list[Job]:
    jobs = []
    for source, base in inputs:
        rel = source.relative_to(base) if source.is_relative_to(base) else Path(source.name)
        ext = source.suffix if fmt == "same" else FORMAT_SUFFIX[fmt]
        output = outdir / rel.parent / f"{rel.stem}{suffix}{ext}"
        cmp = outdir / rel.parent / f"{rel.stem}{suffix}_compare.png" if compare else None
        jobs.append(Job(source, output, cmp))
    seen: dict[Path, Path] = {}
    for job in jobs:  # two inputs must never write the same output
        for target in (job.output, job.compare):
            if target is None:
                continue
            key = target.resolve()
            if key in seen:
                raise MidnetError(
                    f"{seen[key]} and {job.source} would both be written to {target}; "
                    "restore them into different -o folders or give a folder input (its sub-folders are kept)"
                )
            seen[key] = job.source
    return jobs


def restore_pages(img: ImageData, restore_one: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``restore_one`` to every page of a stack (every 2-D frame), or to the single image."""
    a = img.array
    pages = int(img.metadata.get("pages", 1)) if img.format == "tiff" else 1
    axes = img.metadata.get("axes", "")
    sample_axis = axes.endswith("S")
    frame_dims = 3 if sample_axis else 2
    if pages > 1 or a.ndim > frame_dims + (0 if sample_axis else 1):
        lead = a.shape[: a.ndim - frame_dims]
        flat = a.reshape((-1,) + a.shape[a.ndim - frame_dims :])
        out = np.stack([restore_one(frame) for frame in flat])
        return out.reshape(lead + out.shape[1:])
    return restore_one(a)


def run_batch(
    jobs: Sequence[Job],
    restore_one: Callable[[np.ndarray], np.ndarray],
    overwrite: bool = False,
    on_file: Callable[[Job], None] | None = None,
    on_done: Callable[[Job, str], None] | None = None,
    compare_writer: Callable[[np.ndarray, np.ndarray, Path], None] | None = None,
) -> Report:
    report = Report()
    inputs = {j.source.resolve() for j in jobs}
    for job in jobs:
        if on_file:
            on_file(job)
        status = "restored"
        try:
            if job.output.resolve() in inputs or (job.output.exists() and job.output.samefile(job.source)):
                raise MidnetError(f"{job.output}: output would overwrite an input; choose another -o folder or a --suffix")
            if job.output.exists() and not overwrite:
                report.skipped.append((job.source, f"{job.output} exists (use --overwrite to replace it)"))
                status = "skipped"
                continue
            img = read_image(job.source)
            restored = restore_pages(img, restore_one)
            write_image(job.output, restored, like=img, fmt=None)
            if job.compare is not None and compare_writer is not None:
                stack = img.format == "tiff" and int(img.metadata.get("pages", 1)) > 1
                # a stack's picture shows its first page
                compare_writer(img.array[0] if stack else img.array, restored[0] if stack else restored, job.compare)
            report.restored.append(job.source)
        except MidnetError as exc:
            report.failed.append((job.source, _with_name(str(exc), job.source)))
            status = "failed"
        except MemoryError:
            report.failed.append((job.source, f"{job.source}: out of memory; use a smaller --tile"))
            status = "failed"
        except Exception as exc:  # keep going: one bad file must not stop a batch
            report.failed.append((job.source, f"{job.source}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"))
            status = "failed"
        finally:
            if on_done:
                on_done(job, status)
    return report


def _with_name(message: str, source: Path) -> str:
    return message if str(source) in message or source.name in message else f"{source}: {message}"


def dry_run_lines(jobs: Sequence[Job], overwrite: bool) -> list[str]:
    lines = []
    for job in jobs:
        state = "exists, would be replaced" if job.output.exists() and overwrite else (
            "exists, would be skipped" if job.output.exists() else "would be written")
        lines.append(f"{job.source} -> {job.output} ({state})")
        if job.compare:
            lines.append(f"{job.source} -> {job.compare} (comparison)")
    return lines

