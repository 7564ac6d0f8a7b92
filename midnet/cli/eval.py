"""``midnet eval``: PSNR/SSIM of one restorer on whole registered micrographs (midnet/quality/evaluate.py)."""

from __future__ import annotations

import json
import sys

import click

from ..choices import METHODS, NETWORK, REGIONS, REGISTERED_PATCH, REGISTERED_PX
from ..errors import MidnetError
from .options import device_option, infobar_option, model_option, pairs_option, precision_option
from .printing import finite


@click.command("eval", short_help="PSNR/SSIM of a restorer on whole micrographs vs the input.")
@model_option
@click.option("--method", type=click.Choice(METHODS), default=NETWORK,
              show_default=True, help="A network (--model) or a classical method (--calib).")
@click.option("--calib", type=click.Path(dir_okay=False), help="Calibration JSON from 'midnet calibrate'.")
@pairs_option
@infobar_option()
@click.option("--names", default=None, help="Comma-separated micrograph names to score (default: all).")
@click.option("--align", type=click.Choice(["affine", "shift", "none"]), default="affine", show_default=True,
              help="Register each blurry frame onto its sharp one first, measured on that pair alone and the same "
                   "for every method: affine (a refocused SEM shifts and stretches the frame), shift (integer "
                   "shift, both cropped to the overlap) or none (score the frames as given).")
@click.option("--no-align", is_flag=True, help="Same as --align none.")
@click.option("--tile", type=click.IntRange(min=32), default=None, help="Restore in tiles of this size.")
@device_option
@click.option("--protocol", type=click.Choice(["micrograph", "paper"]), default="micrograph", show_default=True,
              help="'paper': score the paper's random test tiles (split by --seed; LEAKS, for comparison only).")
@click.option("--seed", default=0, show_default=True, help="Seed of the paper protocol's random split (the run's seed).")
@click.option("--tta", is_flag=True, help="Score the eight-view test-time augmentation (as deblur --tta).")
@click.option("--region", type=click.Choice(REGIONS), default="all", show_default=True,
              help=f"'registered': a diagnostic that scores only the {REGISTERED_PATCH} px squares where the "
                   f"registered pair lines up to {REGISTERED_PX} px (measured on the pair alone); 'all' is the "
                   "protocol.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout (nothing else goes there).")
@precision_option("fp32", " Scores are measured in fp32 unless asked.")
def eval_cmd(model_name, method, calib, data, infobar, names, align, no_align, tile, device, protocol, seed,
             tta, region, as_json, precision) -> None:
    """PSNR/SSIM of a restorer on whole micrographs, beside the blurry input's."""
    from tqdm import tqdm

    from ..quality.evaluate import score_restorer
    from ..inference.restore import make_restorer
    from ..inference.settings import RestoreSettings

    if protocol == "paper" and region != "all":
        raise MidnetError("--region registered measures whole micrographs; the paper protocol's resized tiles "
                          "have no such region: use --protocol micrograph")
    restorer = make_restorer(RestoreSettings(model=model_name, method=method, calibration=calib, tile=tile, device=device,
                                             engine="torch", precision=precision, tta=tta))  # scores: no engine race
    label = f"model {model_name}" if method == NETWORK else f"{method} ({calib or 'built-in parameters'})"
    label += " with 8-view TTA" if tta else ""
    align = "none" if no_align else align
    pairs = _pairs_to_score(protocol, data, infobar, seed, names, align)
    if method == NETWORK:
        _warn_if_trained_on(model_name, [p.name for p in pairs])
    bar = tqdm(total=len(pairs), unit="image", desc="eval", file=sys.stderr, disable=None)
    result = score_restorer(restorer, pairs, align=False, on_image=lambda _: bar.update(1), region=region)  # registered above
    bar.close()
    if as_json:  # strict JSON: an infinite PSNR (identical images) becomes null
        click.echo(json.dumps(finite(result), allow_nan=False))
        return
    registered = "paper tiles, registered affine" if protocol == "paper" else f"registered: {align}"
    click.echo(f"{label} on {data} ({registered}, info bar excluded)")
    _print_scores(result, region)


def _pairs_to_score(protocol: str, data: str, infobar, seed: int, names: str | None, align: str) -> list:
    """The pairs `midnet eval` scores: whole registered micrographs, or the paper's (leaking) test tiles."""
    if protocol == "paper":
        from pathlib import Path

        from ..data.paper_protocol import LEAK_WARNING, paper_split

        click.echo(f"warning: {LEAK_WARNING}", err=True)
        return paper_split(Path(data), infobar, seed)[1]
    from ..data import load_pairs

    return load_pairs(data, infobar, names.split(",") if names else None, align=align, warn_shift=False)


def _print_scores(result: dict, region: str) -> None:
    if region == "registered":
        click.echo(f"diagnostic, not the protocol: scored only where the pair lines up to {REGISTERED_PX} px, "
                   f"{result['mean']['scored_fraction']:.0%} of the frames on average")
    click.echo(f"{'micrograph':<16} {'PSNR dB':>8} {'SSIM':>7} {'input dB':>9} {'input SSIM':>10} {'gain dB':>8}")
    for im in result["images"] + [dict(result["mean"], name="mean")]:
        click.echo(
            f"{im['name']:<16} {im['psnr']:>8.2f} {im['ssim']:>7.4f} {im['input_psnr']:>9.2f} "
            f"{im['input_ssim']:>10.4f} {im['psnr'] - im['input_psnr']:>+8.2f}"
        )


def _warn_if_trained_on(model_name: str, names: list[str]) -> None:
    """Scores on micrographs a model was trained on say nothing about unseen ones: say so."""
    from ..models.zoo import trained_on

    seen = sorted(set(trained_on(model_name)) & set(names))
    if seen:
        click.echo(f"warning: {model_name} was trained on {', '.join(seen)}; their scores are not held-out results",
                   err=True)
