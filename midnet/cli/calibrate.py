"""``midnet calibrate``: the classical methods' PSF and parameters fitted on pairs (midnet/quality/calibration.py)."""

from __future__ import annotations

import click

from ..choices import CLASSICAL_METHODS
from ..errors import MidnetError
from .options import infobar_option, pairs_option


@click.command("calibrate", short_help="Fit the classical methods' PSF and parameters on pairs.")
@pairs_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Calibration JSON to write.")
@click.option("--names", default=None, help="Comma-separated micrographs to fit on (default: all).")
@click.option("--methods", default=",".join(CLASSICAL_METHODS), show_default=True, help="Methods to fit.")
@infobar_option()
@click.option("--overwrite", is_flag=True, help="Replace an existing calibration file.")
def calibrate_cmd(data, output, names, methods, infobar, overwrite) -> None:
    """Fit the classical methods' PSF and parameters on training pairs (max PSNR)."""
    from pathlib import Path

    from ..quality.calibration import calibrate
    from ..data import load_pairs
    from ..images.publish import check_writable

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    bad = sorted(set(chosen) - set(CLASSICAL_METHODS))
    if bad:
        raise MidnetError(f"unknown method {', '.join(bad)}; use {', '.join(CLASSICAL_METHODS)}")
    if Path(output).exists() and not overwrite:  # before minutes of fitting, not after
        raise MidnetError(f"{output} exists; choose another -o or pass --overwrite")
    check_writable(output)
    pairs = load_pairs(data, infobar, names.split(",") if names else None, align="affine")
    click.echo(f"fitting {', '.join(chosen)} on {len(pairs)} micrographs...", err=True)
    params = calibrate(pairs, chosen)
    params.save(output, overwrite=overwrite)
    click.echo(params.model_dump_json(indent=2))
