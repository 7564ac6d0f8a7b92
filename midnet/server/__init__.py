"""``midnet serve``: a restoration page for a lab, and the JSON API it speaks to.

A room on the core: nothing in the core imports it. It restores through the same pipeline
``midnet deblur`` uses (:mod:`midnet.server.restoring`), one file at a time on a worker
thread (:mod:`midnet.server.worker`), with jobs kept in SQLite (:mod:`midnet.server.store`)
and files in a data folder (:mod:`midnet.server.files`). :func:`create_app` builds the
FastAPI application (:mod:`midnet.server.app`); FastAPI, uvicorn and python-multipart come
with ``pip install "midnet[serve]"``.

May import: the core (a room).
"""

from __future__ import annotations

from .config import ServerConfig

__all__ = ["ServerConfig", "create_app"]


def create_app(config: ServerConfig, *args, **kwargs):
    """The FastAPI application of ``config`` (imports FastAPI only when asked for)."""
    from .app import create_app as _create

    return _create(config, *args, **kwargs)
