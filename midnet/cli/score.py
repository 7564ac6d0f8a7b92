"""``midnet score``: how out of focus each micrograph is, without a reference (midnet/quality/focus.py)."""

from __future__ import annotations

import json
import sys

import click

from ..errors import MidnetError
from .options import infobar_option, recursive_option
from .printing import finite


@click.command("score", short_help="Focus score of micrographs: blur in px/nm, confidence, verdict.")
@click.argument("inputs", nargs=-1, required=True)
@recursive_option
@infobar_option()
@click.option("--pixel-size", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Pixel size in nm when the files' metadata lacks it (gives blur_nm).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Also write the scores as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list to stdout (nothing else goes there).")
@click.option("--sort", "sort_blur", is_flag=True, help="Blurriest first.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              help="Write focus.csv and focus_report.png (histogram, thumbnails of the blurriest) here.")
def score_cmd(inputs, recursive, infobar, pixel_size, csv_path, as_json, sort_blur, report_dir) -> None:
    """Estimate how out of focus each micrograph is (no reference needed); see docs/results.md section 8."""
    from tqdm import tqdm

    from ..quality import focus
    from ..images.batch import collect_inputs

    try:
        files = collect_inputs(inputs, recursive)
    except MidnetError as exc:
        raise click.UsageError(str(exc)) from None
    if not files:
        raise click.UsageError(f"no images found in {', '.join(inputs)} (TIFF, PNG, JPEG or BMP)")
    records, failed = [], []
    for path, _ in tqdm(files, desc="score", unit="file", file=sys.stderr, disable=None):
        try:
            records += focus.score_file(path, infobar=infobar, pixel_size_nm=pixel_size)
        except MidnetError as exc:
            failed.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
    if sort_blur:
        records.sort(key=lambda r: -focus.blur_key(r))
    click.echo(json.dumps(finite(records)) if as_json else focus.table(records))
    if csv_path:
        click.echo(f"wrote {focus.write_csv(records, csv_path)}", err=True)
    if report_dir and records:
        click.echo("wrote " + " and ".join(map(str, focus.write_report(records, report_dir, infobar))), err=True)
    click.echo(focus.summary(records) + (f", {len(failed)} failed" if failed else ""), err=True)
    for why in failed:
        click.echo(f"failed: {why}", err=True)
    if failed:
        sys.exit(1)
