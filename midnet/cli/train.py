"""``midnet train``: a run of midnet/training/ from a YAML config, checkpointed and resumable."""

from __future__ import annotations

import sys

import click


@click.command("train", short_help="Train or fine-tune a network on blur/sharp pairs.")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value, e.g. optim.lr=5e-4.")
@click.option("--data", type=click.Path(file_okay=False), help="Pair folder (same as --set data.path=...).")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (same as --set out=...).")
@click.option("--resume", is_flag=True, help="Continue the checkpoint in the run folder exactly.")
@click.option("--print-config", is_flag=True, help="Print the resolved config and exit.")
def train_cmd(config, overrides, data, out, resume, print_config) -> None:
    """Train or fine-tune a network on blur/sharp pairs (YAML CONFIG, e.g. configs/cpu.yaml)."""
    from pathlib import Path

    from ..training import ConfigUsageError, dump_config, load_config, train

    values = {}
    if data:
        values["data.path"] = data
    if out:
        values["out"] = out
    if config is None and resume and out and (Path(out) / "config.yaml").is_file():
        config = str(Path(out) / "config.yaml")  # resume the run as it was configured
    try:
        cfg = load_config(config, list(overrides), values)
    except ConfigUsageError as exc:  # a bad --set is the command line's fault: exit 2, as for any usage error
        raise click.UsageError(str(exc)) from None
    if print_config:
        click.echo(dump_config(cfg), nl=False)
        return
    summary = train(cfg, resume=resume, echo=lambda m: click.echo(m, err=True))
    best = summary["best_val_psnr"]
    click.echo(
        f"{'stopped' if summary['stopped'] else 'finished'} at step {summary['iteration']}; weights: {summary['weights']}"
        + (f"; best validation PSNR {best:.2f} dB" if best is not None else ""),
        err=True,
    )
    if summary["signal"]:  # checkpointed, but not finished: 143 for SIGTERM, 130 for SIGINT, as shells expect
        sys.exit(128 + summary["signal"])
