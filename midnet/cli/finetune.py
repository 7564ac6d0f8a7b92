"""``midnet finetune``: a model adapted to a user's own pairs, early-stopped on a held-out part
(midnet/training/finetune.py)."""

from __future__ import annotations

import click

from ..choices import DEFAULT_MODEL
from .options import check_model


@click.command("finetune", short_help="Adapt a model to your own blur/sharp pairs in minutes.")
@click.argument("pairs", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Weights file to write (NAME.safetensors).")
@click.option("--base", default=DEFAULT_MODEL, show_default=True, callback=check_model,
              help="Model to start from: a preset with weights or a weights file.")
@click.option("--minutes", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Training time, counted from the first training step (loading, registering and scoring the "
                   "pairs come before it); a budget too short to train and score is refused.")
@click.option("--crop", type=click.IntRange(32, 2048), default=192, show_default=True, help="Training crop side.")
@click.option("--seed", default=0, show_default=True, help="Seeds the training crops.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def finetune_cmd(pairs, output, base, minutes, crop, seed, overwrite) -> None:
    """Fine-tune a model on PAIRS (a folder with blur/ and sharp/): early-stopped on a held-out part.

    One micrograph is held out when there are several; with a single pair, a strip of it
    one crop side away from every training crop. The table at the end scores the held-out
    part: the blurry input, the base model and the fine-tuned one. When no held-out score
    beat the base model's, nothing was learned: it says so, writes nothing and exits 1.
    """
    from ..training.finetune import FinetuneConfig, NothingLearned, finetune

    config = FinetuneConfig(base=base, minutes=minutes, crop=crop, seed=seed)
    try:
        result = finetune(pairs, output, config, overwrite, echo=lambda m: click.echo(m, err=True))
    except NothingLearned as exc:  # the table still says how the base model did; the error line says why
        _finetune_table(exc.result, base)
        raise
    _finetune_table(result, base)
    click.echo(f"wrote {result.weights} (best held-out score at step {result.best_step} of {result.steps})")


def _finetune_table(result, base: str) -> None:
    click.echo(f"held out: {result.held_out}; base model: {base}")
    click.echo(f"{'':<24} {'PSNR dB':>8} {'SSIM':>7}")
    for label, (psnr_db, ssim_value) in result.rows.items():
        click.echo(f"{label:<24} {psnr_db:>8.2f} {ssim_value:>7.4f}")
