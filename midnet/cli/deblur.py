"""``midnet deblur``: micrograph files, folders or patterns restored by the frame pipeline (midnet/pipeline.py).

The Dask branch of the command (--cluster, --scheduler, Zarr and very large TIFF inputs) lives in
midnet/cli/cluster.py with its options.
"""

from __future__ import annotations

import sys

import click

from ..choices import NETWORK
from ..errors import MidnetError
from .cluster import dask_options, deblur_on_dask, wants_dask
from .options import deblur_output_options, engine_options, restore_options, restore_settings, triage_options


@click.command("deblur", short_help="Restore micrograph files, folders or glob patterns.")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@restore_options
@deblur_output_options
@engine_options
@click.option("--dry-run", is_flag=True, help="List what would be written, write nothing.")
@triage_options
@dask_options
def deblur_cmd(inputs, outdir, model_name, method, calib, infobar, tile, overlap, device, recursive, overwrite,
               suffix, fmt, compare, engine, precision, tta, uncertainty, dry_run, only_blurry, blur_threshold,
               cluster, scheduler, report_file, log_file, quiet) -> None:
    """Restore micrographs: files, folders or glob patterns (INPUTS) into OUTDIR.

    Zarr / OME-Zarr inputs (NAME.zarr) are read lazily and restored block by block into OUTDIR/NAME.ome.zarr;
    so is a tiled grey TIFF named here whose pixels exceed the limit of MIDNET_MAX_PIXELS (default 2**30),
    which would otherwise be refused. See docs/cluster.md.
    """
    from ..images.batch import dry_run_lines
    from ..pipeline import make_triage

    settings = restore_settings(model_name, method, calib, infobar, tile, overlap, device, engine, precision, tta,
                                uncertainty, only_blurry, blur_threshold)
    if wants_dask(inputs, cluster, scheduler, report_file, log_file):  # midnet/cli/cluster.py: files as Dask tasks, Zarr block by block
        return deblur_on_dask(inputs, outdir, settings, recursive=recursive, overwrite=overwrite, suffix=suffix,
                              fmt=fmt, compare=compare, dry_run=dry_run, cluster=cluster, scheduler=scheduler,
                              report_file=report_file, log_file=log_file, quiet=quiet)
    jobs = _planned_jobs(inputs, outdir, recursive, suffix, fmt, compare, uncertainty)
    triage = make_triage(settings)  # midnet/quality/focus.py: score every input, keep those worth restoring
    if triage is not None:
        jobs = triage.select(jobs)
    if dry_run:
        for line in dry_run_lines(jobs, overwrite) + [why for _, why in (triage.skipped if triage else [])]:
            click.echo(line)
        return
    pipeline, report, interrupted = _run_with_progress(settings, triage, jobs, overwrite)
    for line in pipeline.report_lines(report):
        click.echo(line, err=True)
    if interrupted is not None:
        click.echo(interrupted.summary(), err=True)
        sys.exit(interrupted.exit_code)
    if report.failed:
        sys.exit(1)


def _planned_jobs(inputs, outdir: str, recursive: bool, suffix: str, fmt, compare: bool, uncertainty: bool) -> list:
    """Every input found and the outputs it will have; nothing found or a bad plan is a usage error."""
    from pathlib import Path

    from ..images.batch import collect_inputs, plan_jobs

    try:
        files = collect_inputs(inputs, recursive)
        if not files:
            raise MidnetError(f"no images found in {', '.join(inputs)} (TIFF, PNG, JPEG or BMP)")
        return plan_jobs(files, Path(outdir), suffix, fmt, compare, uncertainty)
    except MidnetError as exc:
        raise click.UsageError(str(exc)) from None


def _run_with_progress(settings, triage, jobs: list, overwrite: bool):
    """(pipeline, report, the interruption or None): the batch under its files and tiles bars."""
    from ..images.batch import Interrupted
    from ..pipeline import FramePipeline
    from ..images.progress import BatchProgress

    interrupted = None
    with BatchProgress(len(jobs)) as progress:
        pipeline = FramePipeline.build(settings, progress.on_tile, triage)
        if pipeline.engine_choice is not None:  # --engine auto says what it picked, above the bars
            progress.write(pipeline.engine_choice.summary())
        progress.begin()  # the model is loaded: the bars' clocks start with the first file
        try:
            report = pipeline.run(jobs, overwrite, on_done=progress.file_done)
        except Interrupted as stop:  # Ctrl+C or SIGTERM: say what was done, then exit 130 or 143
            report, interrupted = stop.report, stop
            report.skipped += triage.skipped if triage is not None else []
    return pipeline, report, interrupted
