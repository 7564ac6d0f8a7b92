"""The class of the ``midnet`` group: how every command's errors reach the user."""

from __future__ import annotations

import click

from ..errors import MidnetError, one_line


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
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug or an environment problem: still one line by default
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {type(exc).__name__}: {one_line(exc)} (rerun with --debug for details)", err=True)
            ctx.exit(1)
