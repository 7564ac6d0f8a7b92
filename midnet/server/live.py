"""A server in a thread of this process, on a free loopback port: for the browser tests and the docs'
screenshot script, which drive the real page over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

from .config import ServerConfig


@dataclass
class Live:
    url: str
    server: object  # midnet.server.routes.Server: its worker, store and data folder


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def live_server(config: ServerConfig, restoration, start_worker: bool = True):
    """Serve ``config`` (its port replaced by a free one) until the block ends; yields a :class:`Live`."""
    import uvicorn

    from .app import create_app

    config = replace(config, port=free_port(config.host))
    app = create_app(config, restoration, start_worker=start_worker)
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="midnet-live-server", daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > end:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Live(f"http://{config.host}:{config.port}/", app.app.state.server)
    finally:
        server.should_exit = True
        thread.join(15)
