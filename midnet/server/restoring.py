"""The server's one way to restore a file: the :class:`~midnet.pipeline.FramePipeline` ``midnet deblur`` uses.

A job's result is written by the same batch code, with the same settings and provenance, as
``midnet deblur INPUT -o FOLDER`` writes it, so the two are byte-identical
(tests/server/test_identity.py). The pipeline is built once (the model loads once); each file
gets a fresh view of it, so that a server running for weeks gathers no per-frame records.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import MidnetError
from ..inference.settings import RestoreSettings

TileCallback = Callable[[int, int], None]


class Restoration:
    """Restores one file at a time into a given output path; tile progress goes to the caller of :meth:`restore`."""

    def __init__(self, settings: RestoreSettings):
        """Build the pipeline of ``settings``. The server never triages nor writes a spread: a user who uploads a
        frame wants it restored, and sees its focus score beside it."""
        from ..pipeline import FramePipeline

        self.settings = settings.replace(only_blurry=False, blur_threshold=None, uncertainty=False)
        self._listener: TileCallback | None = None
        self.pipeline = FramePipeline.build(self.settings, on_tile=self._on_tile)

    def _on_tile(self, done: int, total: int) -> None:
        if self._listener is not None:
            self._listener(done, total)

    @property
    def provenance(self) -> dict:
        return self.pipeline.restorer.provenance

    def describe(self) -> dict:
        """What the page says it restores with."""
        choice = self.pipeline.engine_choice
        return {"method": self.settings.method, "model": self.settings.network,
                "engine": choice.summary() if choice is not None else self.pipeline.restorer.settings.engine}

    def restore(self, source: Path, output: Path, on_tile: TileCallback | None = None) -> tuple[dict, str | None]:
        """Restore ``source`` into ``output`` (replaced if there: a job run again after a crash); (provenance, a note
        when frames lay outside the model's training domain). A :class:`MidnetError` says why a file failed."""
        from ..images.batch import Job

        pipeline = self.pipeline.fresh()
        self._listener = on_tile
        try:
            report = pipeline.run([Job(source, output)], overwrite=True)
        finally:
            self._listener = None
        if report.failed or not report.restored:
            reasons = [why for _, why in report.failed + report.skipped]
            raise MidnetError(reasons[0] if reasons else "not restored")
        watch = pipeline.watch
        return self.provenance, (watch.summary() if watch is not None and watch.outside else None)
