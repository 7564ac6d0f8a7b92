"""The ``midnet`` command: a thin layer over the package's API, assembled here from one module per command.

Each command lives in its own module of this package (``midnet deblur`` in deblur.py, its Dask branch in
cluster.py, ...) and the options several commands share are written once, in options.py. Each command
imports what it uses inside its own body: ``midnet --help``, ``--version`` and a mistyped option must
answer before torch, scikit-image or SciPy would have loaded (seconds on a small CPU). Options are built
from midnet/choices.py, which imports nothing.

May import: the core and every room (each command is a room's entry point).
"""

from __future__ import annotations

import click

from ..inference.runtime_info import midnet_version
from .cache import cache_cmd
from .calibrate import calibrate_cmd
from .compare import compare_cmd
from .deblur import deblur_cmd
from .demo import demo_cmd
from .eval import eval_cmd
from .export import export_cmd
from .finetune import finetune_cmd
from .group import MidnetGroup
from .models import models_cmd
from .score import score_cmd
from .serve import serve_cmd
from .train import train_cmd
from .watch import watch_cmd


@click.group(cls=MidnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(midnet_version(), "--version", prog_name="midnet")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Restore out-of-focus scanning-electron micrographs (MIDNet, Wang et al. 2024)."""
    ctx.ensure_object(dict)["debug"] = debug


for _command in (models_cmd, train_cmd, calibrate_cmd, eval_cmd, deblur_cmd, finetune_cmd, demo_cmd, compare_cmd,
                 score_cmd, cache_cmd, export_cmd, serve_cmd, watch_cmd):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="midnet", obj={})
