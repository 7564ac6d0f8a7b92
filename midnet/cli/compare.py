"""``midnet compare``: every method on every micrograph in one PSNR/SSIM table and a picture grid (midnet/quality/compare.py)."""

from __future__ import annotations

import sys

import click

from ..choices import CLASSICAL_METHODS, DEFAULT_MODEL, INPUT
from .options import infobar_option, pairs_option


@click.command("compare", short_help="Every method on every micrograph: PSNR/SSIM table, pictures.")
@pairs_option
@click.option("--methods", default=",".join((INPUT, *CLASSICAL_METHODS, DEFAULT_MODEL)), show_default=True,
              help=f"Comma-separated: {', '.join((INPUT, *CLASSICAL_METHODS))}, preset names or weights files "
                   "(a path may hold {fold}: one model per fold); LABEL=METHOD names the column.")
@click.option("--folds", default=0, show_default=True, type=click.IntRange(0, 100),
              help="k-fold by micrograph: classical methods calibrated per fold; 0 uses built-in parameters.")
@infobar_option()
@click.option("--markdown", is_flag=True, help="Print the table as Markdown.")
@click.option("--figure", type=click.Path(dir_okay=False), help="Also write a grid of the same detail from every method.")
def compare_cmd(data, methods, folds, infobar, markdown, figure) -> None:
    """One PSNR/SSIM table of every method on every micrograph, and a picture grid."""
    from tqdm import tqdm

    from ..quality.compare import compare
    from ..quality.figures import figure_grid

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    bar = tqdm(desc="compare", unit="restoration", file=sys.stderr, disable=None)
    result = compare(data, chosen, folds=folds, infobar=infobar, on_step=lambda _: bar.update(1))
    bar.close()
    click.echo(result.markdown() if markdown else result.table())
    if figure:
        click.echo(f"wrote {figure_grid(result, figure)}", err=True)
