"""One frame pipeline: the restorer a :class:`~midnet.inference.settings.RestoreSettings` asks for, and the wiring around it.

`midnet deblur`, `midnet watch` and `midnet serve` build one :class:`FramePipeline` per process
and hand it their files; on Dask (``deblur --cluster/--scheduler``, midnet/cluster/files.py) every
worker process builds one and each task restores its file with it. It holds what each of them
would otherwise rewrite: the restorer made by :func:`~midnet.inference.restore.make_restorer`; the domain
watch (does a frame look like what the network was trained on); the spread of the eight views
with ``uncertainty``; the only-blurry triage (score each input, restore only those worth it);
the before/after picture; the batch with provenance; and the lines a batch prints at its end.
Each frame's info bar is resolved once (:func:`~midnet.inference.restore.infobar_rows`) and handed to the
domain check, the restorer and the triage's score of the result.

It is the top of the core: it composes midnet/quality/ (the domain watch, the focus triage)
around midnet/inference/, and the rooms (cli, watch, server, cluster) build on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .images.batch import Job, Report, Restored, attempt, run_batch
from .quality.domain import DomainWatch
from .quality.focus import OnlyBlurry
from .inference.engine_choice import Choice
from .inference.restore import NetworkRestorer, Restorer, infobar_rows, make_restorer
from .inference.settings import RestoreSettings

TileCallback = Callable[[int, int], None]


@dataclass
class FramePipeline:
    """A restorer and its per-frame wiring, built once by :meth:`build` and used for every file.

    ``watch`` and ``triage`` gather what a batch reports at its end; :meth:`fresh` gives the same
    restorer with nothing gathered yet (a long-running watcher reports file by file).
    """

    settings: RestoreSettings
    restorer: Restorer
    watch: DomainWatch | None = None  # None: a classical method, or weights that record no domain
    triage: OnlyBlurry | None = None  # None unless settings.only_blurry

    @classmethod
    def build(cls, settings: RestoreSettings, on_tile: TileCallback | None = None,
              triage: OnlyBlurry | None = None, watch: DomainWatch | None = None) -> "FramePipeline":
        """Make the restorer (loads the model; ``engine="auto"`` measures or reads its choice) and its wiring.

        ``triage``: the :class:`~midnet.quality.focus.OnlyBlurry` that already selected the jobs (its scores
        label the pictures and the report), else a new one when ``settings.only_blurry``. ``watch``: the
        :class:`~midnet.quality.domain.DomainWatch` (of :func:`domain_watch`) a command already holds for its
        warning, else a new one.
        """
        restorer = make_restorer(settings, on_tile)
        return cls(settings, restorer, watch or domain_watch(settings), triage or make_triage(settings))

    @property
    def engine_choice(self) -> Choice | None:
        """What ``engine="auto"`` measured or read (a command reports it), None when the engine was named."""
        return self.restorer.choice if isinstance(self.restorer, NetworkRestorer) else None

    def fresh(self) -> "FramePipeline":
        """The same restorer (nothing reloaded), with no frame seen and no file scored yet."""
        triage = make_triage(self.settings)
        return dataclasses.replace(self, watch=self.watch.fresh() if self.watch else None, triage=triage)

    def select(self, jobs: list[Job]) -> list[Job]:
        """The jobs worth restoring: all of them, or with ``only_blurry`` those the focus score finds blurry
        (the others go into the report as skipped)."""
        return self.triage.select(jobs) if self.triage is not None else list(jobs)

    def restore_one(self, frame: np.ndarray) -> Restored:
        """One 2-D frame restored (with its spread when ``uncertainty``), checked against the domain and scored."""
        return self._frame_restorer()(frame)

    def compare_writer(self, before: np.ndarray, after: np.ndarray, path: Path) -> Path:
        """The before/after picture (with both focus scores under ``only_blurry``)."""
        if self.triage is not None:
            return self.triage.compare_writer(before, after, path)
        from .quality.figures import compare_figure

        return compare_figure(before, after, path)

    def run(self, jobs: Sequence[Job], overwrite: bool = False,
            on_done: Callable[[Job, str], None] | None = None) -> Report:
        """Restore ``jobs`` as :func:`~midnet.images.batch.run_batch` does (atomic, no overwrite unless asked, a bad file
        reported and passed), every output recording the restorer's provenance; the files the triage left out
        are added to the report as skipped."""
        done = on_done
        if self.triage is not None:  # the triage keeps each restored file's score for its report line
            done = lambda job, status: (self.triage.file_done(job, status), on_done and on_done(job, status))  # noqa: E731
        report = run_batch(jobs, self._frame_restorer(), overwrite, on_done=done, compare_writer=self.compare_writer,
                           provenance=lambda: self.restorer.provenance)
        if self.triage is not None:
            report.skipped += self.triage.skipped
        return report

    def restore_file(self, job: Job, overwrite: bool = False, inputs: set[Path] | None = None) -> tuple[str, str]:
        """(status, why on one line) of one job, as :meth:`run` would give it, without the batch's clean-up of dead
        runs' temporaries (a long-running caller does that once, not per file); the triage scores it first.

        ``inputs``: the resolved inputs of the batch the job belongs to (:func:`~midnet.images.batch.attempt` refuses an
        output among them); by default the job's own source, for a caller that takes files one at a time."""
        if self.triage is not None and not self.triage.select([job]):
            return "skipped", self.triage.skipped[-1][1]
        inputs = {job.source.resolve()} if inputs is None else inputs
        status, why = attempt(job, self._frame_restorer(), overwrite, inputs, self.compare_writer,
                              lambda: self.restorer.provenance)
        if self.triage is not None:
            self.triage.file_done(job, status)
        return status, why

    def report_lines(self, report: Report) -> list[str]:
        """What a batch says at its end, one line each: the triage's scores, the summary, every file skipped or
        failed and why, and a warning when frames lay outside the network's training domain."""
        lines = self.triage.lines() if self.triage is not None else []
        lines.append(report.summary())
        lines += [f"skipped: {why}" for _, why in report.skipped]
        lines += [f"failed: {why}" for _, why in report.failed]
        if self.watch is not None and self.watch.outside and report.restored:  # about outputs: none, no warning
            lines.append(f"warning: {self.watch.summary()}")
        return lines

    def _frame_restorer(self) -> Callable[[np.ndarray], Restored]:
        """What the batch calls on each frame: its info bar resolved once, the domain check, the restoration (and
        spread), the triage's score of the result."""
        spec, watch, triage = self.settings.infobar, self.watch, self.triage
        restore = self.restorer.deblur_with_spread if self.settings.uncertainty else self.restorer.deblur

        def one(frame: np.ndarray) -> Restored:
            rows = infobar_rows(frame, spec)  # None: the restorer resolves it (or refuses the frame) itself
            if watch is not None:
                watch.check(frame, rows)
            out = restore(frame, spec if rows is None else rows)
            if triage is not None:
                triage.score_restored(out, rows)
            return out

        return one


def make_triage(settings: RestoreSettings) -> OnlyBlurry | None:
    """The only-blurry triage ``settings`` ask for (None without ``only_blurry``): cheap, no model loaded, so a
    command can select its jobs (or list them in a dry run) before it builds the pipeline."""
    return OnlyBlurry(settings.blur_threshold, settings.infobar) if settings.only_blurry else None


def domain_watch(settings: RestoreSettings) -> DomainWatch | None:
    """A DomainWatch for a network whose weights record their training domain, else None: what a pipeline checks
    its frames with, and what a Dask run's client gathers its workers' checks in (no model loaded)."""
    return DomainWatch.for_model(settings.network, settings.infobar) if settings.network is not None else None
