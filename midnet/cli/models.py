"""``midnet models``: the presets of midnet/models/zoo.py with their parameter counts."""

from __future__ import annotations

import json

import click


@click.command("models", short_help="List the model presets with their parameter counts.")
@click.option("--in-chans", default=1, show_default=True, type=click.IntRange(1, 4), help="Image channels.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_cmd(in_chans: int, as_json: bool) -> None:
    """List the model presets with their parameter counts."""
    from ..models.zoo import PRESETS, count_parameters, create_model

    import torch

    rows = []
    for name, preset in PRESETS.items():
        with torch.device("meta"):  # shapes only: counts 88 M parameters without allocating them
            model = create_model(name, in_chans=in_chans)
        rows.append(
            {
                "name": name,
                "arch": model.config.arch,
                "params": count_parameters(model),
                "pretrained": preset.weights is not None,
                "description": preset.description,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'name':<14} {'arch':<8} {'params':>12}  {'weights':<8} description")
    for r in rows:
        weights = "shipped" if r["pretrained"] else "-"
        click.echo(f"{r['name']:<14} {r['arch']:<8} {r['params']:>12,}  {weights:<8} {r['description']}")
