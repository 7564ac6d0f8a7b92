"""The FastAPI application: the page, its static files and the JSON API, behind :class:`~midnet.server.guard.Guard`.

FastAPI's interactive /docs and /redoc pages are off: they load their scripts from a CDN,
which a facility PC offline cannot reach. The API is described by /openapi.json.
"""

from __future__ import annotations

import contextlib
import logging
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from . import files, memory
from .config import ServerConfig, check_data_folder
from .guard import Guard
from .routes import Server, api_router, page_router
from .store import JobStore
from .worker import Worker, expire_old

log = logging.getLogger("midnet.server")


def create_app(config: ServerConfig, restoration, start_worker: bool = True):
    """The ASGI application serving ``config`` with ``restoration`` (:class:`~midnet.server.restoring.Restoration`
    or anything with its ``restore`` and ``describe``). ``start_worker=False`` queues without restoring (tests)."""
    data = Path(config.data)
    check_data_folder(data)
    memory.limit_arenas()  # before uvicorn's and the worker's threads start (midnet/server/memory.py)
    store = JobStore(data / files.DATABASE)
    server = Server(config, data, store, restoration, Worker(store, data, restoration, config.retention_hours * 3600))
    _recover(server)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if start_worker:
            server.worker.start()
        yield
        server.worker.stop()

    app = FastAPI(title="midnet serve", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Restore out-of-focus SEM micrographs: upload, follow, compare, download.")
    app.state.server = server
    app.include_router(page_router)
    app.include_router(api_router)
    with resources.as_file(resources.files("midnet.server") / "static") as static:
        app.mount("/static", StaticFiles(directory=static), name="static")
    return Guard(app, config.token, config.max_upload_bytes)


def _recover(server: Server) -> None:
    """Before the first request: jobs left running are queued again, expired ones and orphan folders removed."""
    resumed = server.store.requeue_running()
    expire_old(server.store, server.data, server.config.retention_hours * 3600)
    orphans = files.remove_orphans(server.data, server.store.ids())
    if resumed or orphans:
        log.info("resumed %d unfinished jobs, removed %d unfinished uploads", resumed, len(orphans))


def _version() -> str:
    from ..inference.runtime_info import midnet_version

    return midnet_version()
