"""MkDocs hooks of the documentation build (mkdocs.yml: ``hooks``).

Two repairs of generated reference pages, both in this build process only:

1. The docstrings name other objects with Sphinx roles (``:func:`make_restorer```), which
   mkdocstrings' parsers leave as text, so the page would read ":func: make_restorer".
   ``on_page_content`` drops the role and keeps the name as code.
2. click >= 8.3 marks an option without a default with a ``Sentinel.UNSET`` object where
   it used to hold None, and mkdocs-click 0.9 prints that object in the Default column of
   the CLI reference ("Sentinel.UNSET" beside ``-o``; the upstream fix, mkdocs/mkdocs-click
   pull request 95, is not released). mkdocs-click renders what ``command.get_params(ctx)``
   returns, which is ``command.params`` plus the ``--help`` option click makes per context,
   so resetting ``command.params`` alone left "Sentinel.UNSET" beside every ``-h, --help``.
   ``on_config``, before any page is rendered, wraps each command's ``get_params`` so that
   every option it returns has its UNSET default set back to None, and the table says
   "required" or "None" as mkdocs-click intends. Only this build process is affected.
"""

from __future__ import annotations

import re

import click

try:  # click >= 8.3
    from click._utils import UNSET
except ImportError:  # older click keeps None: nothing to do
    UNSET = None


def _commands(command: click.Command):
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _commands(sub)


def on_config(config, **kwargs):
    if UNSET is None:
        return config
    from midnet.cli import cli

    for command in _commands(cli):
        command.get_params = _without_unset(command.get_params)
    return config


def _without_unset(get_params):
    """``get_params`` whose every returned parameter shows None where click holds UNSET."""

    def get_params_shown(ctx: click.Context):
        params = get_params(ctx)
        for param in params:
            if param.default is UNSET:
                param.default = None
        return params

    return get_params_shown


# ":func:<code>name</code>" (also :meth:, :class:, ... and the "~" that shortens a dotted name)
SPHINX_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|data|attr|mod|obj|exc|const):<code>~?")


def on_page_content(html, **kwargs):
    return SPHINX_ROLE.sub("<code>", html)
