"""The ``midnet`` command: a thin layer over the package's API."""

from __future__ import annotations

import json
import sys

import click

from . import __version__
from .errors import MidnetError


class MidnetGroup(click.Group):
    """Turns midnet's errors into one line on stderr (a traceback only with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MidnetError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=MidnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="midnet")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Restore out-of-focus scanning-electron micrographs (MIDNet, Wang et al. 2024)."""
    ctx.ensure_object(dict)["debug"] = debug


@cli.command("models")
@click.option("--in-chans", default=1, show_default=True, type=click.IntRange(1, 4), help="Image channels.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_cmd(in_chans: int, as_json: bool) -> None:
    """List the model presets with their parameter counts."""
    from .models import PRESETS, count_parameters, create_model

    rows = []
    for name, preset in PRESETS.items():
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


def main() -> None:
    cli(prog_name="midnet", obj={})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
