"""``midnet watch``: the command line of midnet/watch.py, with the restore options of ``midnet deblur``."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

import click

from ..errors import MidnetError
from .options import engine_options, naming_options, recursive_option, restore_options, restore_settings, triage_options


@click.command("watch", short_help="Restore every micrograph written into a folder, as it arrives.")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--settle", type=click.FloatRange(min=0), default=2.0, show_default=True, metavar="SECONDS",
              help="Take a file once its size and time have not changed for this long (raise it for slow shares).")
@click.option("--poll", type=click.FloatRange(min=0.05), default=1.0, show_default=True, metavar="SECONDS",
              help="Look at the folder this often.")
@recursive_option
@restore_options
@naming_options
@engine_options
@triage_options
def watch_cmd(folder, outdir, settle, poll, recursive, suffix, fmt, compare, **options) -> None:
    """Restore every micrograph that appears in FOLDER into OUTDIR, until stopped (Ctrl+C, SIGTERM).

    Files already restored (their output exists) are skipped, so a restart picks up what arrived
    meanwhile; several watchers may share a folder. See docs/watch.md.
    """
    from pathlib import Path

    from ..pipeline import FramePipeline
    from ..watch import WatchPlan, Watcher

    settings = restore_settings(**options)
    plan = WatchPlan(Path(folder), Path(outdir), recursive, suffix, fmt, compare, settings.uncertainty)
    try:
        plan.check()
    except MidnetError as exc:
        raise click.UsageError(str(exc)) from None
    plan.outdir.mkdir(parents=True, exist_ok=True)
    pipeline = FramePipeline.build(settings)
    echo = lambda line: click.echo(line, err=True)  # noqa: E731  (stdout stays free for a caller's own use)
    if pipeline.engine_choice is not None:  # --engine auto says what it picked
        echo(pipeline.engine_choice.summary())
    echo(f"watching {folder}{' and its sub-folders' if recursive else ''} into {outdir}: a file is taken "
         f"{settle:g} s after it stops changing; stop with Ctrl+C")
    watcher = Watcher(plan, pipeline, settle=settle, poll=poll, echo=echo)
    with _stop_on_signals() as stop:
        tally = watcher.run(stop)
    for line in tally.summary():
        echo(line)
    if tally.counts["failed"]:
        sys.exit(1)


@contextmanager
def _stop_on_signals():
    """An event set by the first SIGINT or SIGTERM: the file being restored is finished, then the summary.
    A second signal interrupts at once (its outputs are atomic: nothing half-written is left under its name)."""
    stop = threading.Event()

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
