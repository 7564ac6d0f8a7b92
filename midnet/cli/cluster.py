"""``midnet deblur`` on Dask: --cluster / --scheduler batches, and Zarr inputs (and tiled TIFFs too large for
memory) restored block by block.

The options live here (``dask_options``) and so does the branch of the command that uses them
(:func:`deblur_on_dask`), so that the deblur command itself stays one call longer. The work is done by
midnet/cluster/files.py (files as tasks) and midnet/cluster/large_images.py (images larger than memory).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..errors import MidnetError
from .options import option_group


dask_options = option_group(  # --cluster, --scheduler, --report, --log and --quiet of `midnet deblur`
    click.option("--cluster", default=None, metavar="local:N",
                 help="Restore on a local Dask cluster of N worker processes (files are tasks; threads per "
                      "worker: cores / N). Needs the dask extra; see docs/cluster.md."),
    click.option("--scheduler", default=None, metavar="ADDRESS",
                 help="Restore on the workers of a running dask.distributed scheduler (tcp://HOST:8786), "
                      "e.g. started by dask-jobqueue on SLURM or dask-kubernetes; see docs/cluster.md."),
    click.option("--report", "report_file", type=click.Path(dir_okay=False), default=None,
                 help="With --cluster/--scheduler or block-by-block inputs: write one JSON line per file "
                      "(input, output, status, seconds, worker, error; on a cluster also frames, outside_domain)."),
    click.option("--log", "log_file", type=click.Path(dir_okay=False), default=None,
                 help="With --cluster/--scheduler or block-by-block inputs: also log every file and the cluster's "
                      "warnings to this file (unattended runs)."),
    click.option("--quiet", "-q", is_flag=True, help="No progress bar; print only the summary and failures."),
)


def wants_dask(inputs, cluster: str | None, scheduler: str | None, report_file=None, log_file=None) -> bool:
    """Whether ``midnet deblur`` goes through :func:`deblur_on_dask`: a cluster, or an input read block by block."""
    dask = bool(cluster or scheduler or any(is_lazy(Path(i)) for i in inputs))
    if (report_file or log_file) and not dask:
        raise click.UsageError("--report and --log go with --cluster, --scheduler or Zarr inputs "
                               "(on one machine: --cluster local:1)")
    return dask


def is_zarr(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or path.name.lower().endswith(".ome.zarr")


def is_lazy(path: Path) -> bool:
    """Whether an input is read lazily and restored block by block (midnet/cluster/large_images.py) into OUT/NAME.ome.zarr."""
    return is_zarr(path) or is_large_tiled_tiff(path)


def is_large_tiled_tiff(path: Path) -> bool:
    """A tiled grey TIFF named on the command line whose pixels (all pages) exceed :func:`midnet.images.io.pixel_limit`.

    The in-memory path refuses such a file (restoring 2**30 pixels whole takes well over 10 GiB); its tiles
    can be read one by one (tifffile's Zarr store), so it is restored block by block instead. A strip TIFF
    has no such blocks and a colour one no grey plane to restore: both stay on the in-memory path's refusal.
    Lowering MIDNET_MAX_PIXELS sends smaller tiled TIFFs block by block too.
    """
    from ..images.io import TIFF_SUFFIXES, pixel_limit

    if path.suffix.lower() not in TIFF_SUFFIXES or not path.is_file():
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            tiled, shape, axes = series.keyframe.is_tiled, series.shape, series.axes
        limit = pixel_limit()
    except Exception:  # not a TIFF tifffile can parse, a bad MIDNET_MAX_PIXELS: the in-memory path says why
        return False
    if not tiled or "S" in axes or "Y" not in axes or "X" not in axes:
        return False
    pixels = 1
    for side in shape:
        pixels *= int(side)
    return pixels > limit


CLUSTER_MODULES = ("dask", "distributed")  # --cluster / --scheduler on files
BLOCK_MODULES = ("dask", "zarr", "ome_zarr")  # inputs restored block by block


def require_dask(inputs, cluster: str | None, scheduler: str | None) -> None:
    """One line naming what asked for the dask extra and how to install it, when a module it needs is missing."""
    import importlib.util

    lazy = [str(i) for i in inputs if is_lazy(Path(i))]
    needed = dict.fromkeys((CLUSTER_MODULES if cluster or scheduler else ()) + (BLOCK_MODULES if lazy else ()))
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if not missing:
        return
    why = ("--cluster" if cluster else "--scheduler" if scheduler else
           f"{lazy[0]} (restored block by block: a Zarr store, or a tiled TIFF over the pixel limit)")
    raise MidnetError(f"{why} needs the dask extra, not installed here ({', '.join(missing)} missing): "
                      'pip install "midnet[dask]"')


def deblur_on_dask(inputs, outdir: str, settings, *, recursive: bool, overwrite: bool, suffix: str, fmt: str,
                   compare: bool, dry_run: bool, cluster: str | None, scheduler: str | None, report_file, log_file,
                   quiet: bool) -> None:
    """The --cluster / --scheduler / Zarr branch of ``midnet deblur`` (its options mean what they mean there).

    ``settings`` is the :class:`~midnet.inference.settings.RestoreSettings` the command built from its options.
    """
    from ..images.batch import collect_inputs, dry_run_lines, plan_jobs

    require_dask(inputs, cluster, scheduler)
    from ..cluster.files import RestorerSpec, log_to_file, parse_local

    if cluster and scheduler:
        raise click.UsageError("give --cluster or --scheduler, not both")
    if cluster:  # local:N checked before any file is planned or any worker started
        try:
            parse_local(cluster)
        except MidnetError as exc:
            raise click.UsageError(str(exc)) from None
    if settings.only_blurry:
        raise click.UsageError("--only-blurry does not combine with --cluster, --scheduler or Zarr inputs yet; "
                               "select the files with `midnet score` first")
    zarrs = [Path(i) for i in inputs if is_lazy(Path(i))]  # Zarr stores and large tiled TIFFs: block by block
    if zarrs and settings.views:  # refused before any work (midnet.cluster.large_images.block_spec)
        raise click.UsageError(f"--tta and --uncertainty do not apply to Zarr or large tiled TIFF inputs ({zarrs[0]}, "
                               "restored block by block); drop them, or restore those inputs apart")
    files = [i for i in inputs if Path(i) not in zarrs]
    try:
        jobs = (plan_jobs(collect_inputs(files, recursive), Path(outdir), suffix, fmt, compare, settings.uncertainty)
                if files else [])
    except MidnetError as exc:
        raise click.UsageError(str(exc)) from None
    if not jobs and not zarrs:
        raise click.UsageError(f"no images found in {', '.join(inputs)} (TIFF, PNG, JPEG, BMP or Zarr)")
    if dry_run:
        for line in dry_run_lines(jobs, overwrite) + _zarr_plan(zarrs, Path(outdir), suffix):
            click.echo(line)
        return
    spec = RestorerSpec(settings)  # the jobs carry the --compare pictures
    with log_to_file(log_file):
        failed = _run(jobs, zarrs, Path(outdir), suffix, spec, overwrite, cluster, scheduler, report_file, quiet)
    if failed:
        sys.exit(1)


def _zarr_plan(zarrs: list[Path], outdir: Path, suffix: str) -> list[str]:
    from ..cluster.large_images import output_name

    return [f"{z} -> {output_name(z, outdir, suffix)} (OME-Zarr, block by block)" for z in zarrs]


def _run(jobs, zarrs, outdir, suffix, spec, overwrite, cluster, scheduler, report_file, quiet) -> bool:
    """Restore everything, one --report line per input; print the summary; True when something failed."""
    from ..images.batch import Report
    from ..cluster.files import dask_client, open_report, run_distributed
    from ..pipeline import FramePipeline, domain_watch

    report = Report()
    watch = domain_watch(spec.settings) if jobs else None  # files only: block-by-block inputs are not checked
    with open_report(report_file) as out:  # one report: the files' lines, then the Zarr inputs'
        if cluster or scheduler:
            with dask_client(cluster, scheduler, quiet) as client:
                if jobs:  # each worker's pipeline checks its frames; ``watch`` gathers their records
                    report = run_distributed(jobs, client, spec, overwrite, out, quiet, watch=watch)
                _restore_zarrs(zarrs, outdir, suffix, spec, overwrite, quiet, client, report, out)
        else:
            if jobs:  # files beside Zarr inputs, no cluster: the single-process batch's per-file step
                report = _files_here(jobs, FramePipeline.build(spec.settings, watch=watch), overwrite, out)
            _restore_zarrs(zarrs, outdir, suffix, spec, overwrite, quiet, None, report, out)
    click.echo(report.summary(), err=True)
    if not quiet:
        for _, why in report.skipped:
            click.echo(f"skipped: {why}", err=True)
    for _, why in report.failed:
        click.echo(f"failed: {why}", err=True)
    if watch is not None and watch.outside and report.restored:  # about outputs: none, no warning
        click.echo(f"warning: {watch.summary()}", err=True)
    return bool(report.failed)


def _files_here(jobs, pipeline, overwrite, out):
    """The files of a run without a cluster, as run_batch restores them (the frame ``pipeline``'s
    :meth:`~midnet.pipeline.FramePipeline.restore_file` per file, its domain watch gathering every frame), with
    a --report line each; ``worker`` is null (this process)."""
    from ..images.batch import Report
    from ..cluster.files import add_line, record
    from ..images.publish import remove_stale_temporaries

    report = Report()
    for folder in sorted({t.parent for job in jobs for t in (job.output, job.compare) if t is not None}):
        report.cleaned += remove_stale_temporaries(folder)  # those of dead runs, as run_batch does
    inputs = {job.source.resolve() for job in jobs if job.skip is None}
    for job in jobs:
        start = time.perf_counter()
        status, why = pipeline.restore_file(job, overwrite, inputs)
        add_line(report, out, record(job, status, why, time.perf_counter() - start))
    return report


def _restore_zarrs(zarrs, outdir, suffix, spec, overwrite, quiet, client, report, out) -> None:
    """Each block-by-block input into the report and its --report line (``worker`` null: on a cluster its planes
    may run on several)."""
    if not zarrs:
        return
    from ..cluster.files import add_line, report_line
    from ..cluster.large_images import output_name, restore_zarr_file

    for source in zarrs:
        start = time.perf_counter()
        status, why = restore_zarr_file(source, outdir, suffix, spec, overwrite, client, quiet)
        add_line(report, out, report_line(source, output_name(source, outdir, suffix), status, why,
                                          time.perf_counter() - start))
