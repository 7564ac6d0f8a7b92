"""``midnet deblur`` on Dask: --cluster / --scheduler batches, and Zarr inputs restored block by block.

The options live here (``dask_options``) and so does the branch of the command that uses them
(:func:`deblur_on_dask`), so that the deblur command itself stays one call longer. The work is done by
midnet/distributed.py (files as tasks) and midnet/lazy.py (images larger than memory).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import MidnetError


def dask_options(command):
    """--cluster, --scheduler, --report, --log and --quiet of ``midnet deblur``."""
    options = [
        click.option("--cluster", default=None, metavar="local:N",
                     help="Restore on a local Dask cluster of N worker processes (files are tasks; threads per "
                          "worker: cores / N). Needs the dask extra; see docs/cluster.md."),
        click.option("--scheduler", default=None, metavar="ADDRESS",
                     help="Restore on the workers of a running dask.distributed scheduler (tcp://HOST:8786), "
                          "e.g. started by dask-jobqueue on SLURM or dask-kubernetes; see docs/cluster.md."),
        click.option("--report", "report_file", type=click.Path(dir_okay=False), default=None,
                     help="With --cluster/--scheduler: write one JSON line per file (input, output, status, "
                          "seconds, worker, error)."),
        click.option("--log", "log_file", type=click.Path(dir_okay=False), default=None,
                     help="With --cluster/--scheduler or Zarr inputs: also log every file and the cluster's "
                          "warnings to this file (unattended runs)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar; print only the summary and failures."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def wants_dask(inputs, cluster: str | None, scheduler: str | None, report_file=None, log_file=None) -> bool:
    """Whether ``midnet deblur`` goes through :func:`deblur_on_dask`: a cluster, or a Zarr input."""
    dask = bool(cluster or scheduler or any(is_zarr(Path(i)) for i in inputs))
    if (report_file or log_file) and not dask:
        raise click.UsageError("--report and --log go with --cluster, --scheduler or Zarr inputs "
                               "(on one machine: --cluster local:1)")
    return dask


def is_zarr(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or path.name.lower().endswith(".ome.zarr")


def deblur_on_dask(inputs, outdir: str, restorer: dict, infobar, *, recursive: bool, overwrite: bool, suffix: str,
                   fmt: str, compare: bool, uncertainty: bool, dry_run: bool, only_blurry: bool,
                   cluster: str | None, scheduler: str | None, report_file, log_file, quiet: bool) -> None:
    """The --cluster / --scheduler / Zarr branch of ``midnet deblur`` (its options mean what they mean there).

    ``restorer`` holds :func:`midnet.restore.make_restorer`'s keyword arguments, as the command built them.
    """
    from ..batch import collect_inputs, dry_run_lines, plan_jobs
    from ..distributed import RestorerSpec, log_to_file

    if cluster and scheduler:
        raise click.UsageError("give --cluster or --scheduler, not both")
    if only_blurry:
        raise click.UsageError("--only-blurry does not combine with --cluster, --scheduler or Zarr inputs yet; "
                               "select the files with `midnet score` first")
    zarrs = [Path(i) for i in inputs if is_zarr(Path(i))]
    files = [i for i in inputs if not is_zarr(Path(i))]
    try:
        jobs = plan_jobs(collect_inputs(files, recursive), Path(outdir), suffix, fmt, compare, uncertainty) if files else []
    except MidnetError as exc:
        raise click.UsageError(str(exc)) from None
    if not jobs and not zarrs:
        raise click.UsageError(f"no images found in {', '.join(inputs)} (TIFF, PNG, JPEG, BMP or Zarr)")
    if dry_run:
        for line in dry_run_lines(jobs, overwrite) + _zarr_plan(zarrs, Path(outdir), suffix):
            click.echo(line)
        return
    spec = RestorerSpec(restorer, infobar, uncertainty, compare)
    with log_to_file(log_file):
        failed = _run(jobs, zarrs, Path(outdir), suffix, spec, overwrite, cluster, scheduler, report_file, quiet)
    if failed:
        sys.exit(1)


def _zarr_plan(zarrs: list[Path], outdir: Path, suffix: str) -> list[str]:
    from ..lazy import output_name

    return [f"{z} -> {output_name(z, outdir, suffix)} (OME-Zarr, block by block)" for z in zarrs]


def _run(jobs, zarrs, outdir, suffix, spec, overwrite, cluster, scheduler, report_file, quiet) -> bool:
    """Restore everything; print the summary; True when something failed."""
    from ..batch import Report
    from ..distributed import dask_client, run_distributed

    report = Report()
    if jobs and not (cluster or scheduler):  # files beside Zarr inputs, no cluster: the ordinary batch
        from ..batch import run_batch

        restorer = spec.build()
        report = run_batch(jobs, spec.frame_restorer(restorer), overwrite, provenance=lambda: restorer.provenance)
    if cluster or scheduler:
        with dask_client(cluster, scheduler, quiet) as client:
            if jobs:
                report = run_distributed(jobs, client, spec, overwrite, report_file, quiet)
            _restore_zarrs(zarrs, outdir, suffix, spec, overwrite, quiet, client, report)
    else:
        _restore_zarrs(zarrs, outdir, suffix, spec, overwrite, quiet, None, report)
    click.echo(report.summary(), err=True)
    if not quiet:
        for _, why in report.skipped:
            click.echo(f"skipped: {why}", err=True)
    for _, why in report.failed:
        click.echo(f"failed: {why}", err=True)
    return bool(report.failed)


def _restore_zarrs(zarrs, outdir, suffix, spec, overwrite, quiet, client, report) -> None:
    if not zarrs:
        return
    from ..lazy import restore_zarr_file

    for source in zarrs:
        status, why = restore_zarr_file(source, outdir, suffix, spec, overwrite, client, quiet)
        if status == "restored":
            report.restored.append(source)
        else:
            (report.skipped if status == "skipped" else report.failed).append((source, why))
