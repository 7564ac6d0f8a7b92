"""``midnet serve``: the restoration page for a lab (midnet/server/), started from the command line.

Only click and the option names load before the command runs: ``midnet --help`` stays instant.
"""

from __future__ import annotations

import click

from .options import engine_choice_options, restore_options, restore_settings


@click.command("serve", short_help="A restoration web page for a lab: upload, compare, download.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs an access token.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--data", type=click.Path(file_okay=False), default=None,
              help="Folder for the jobs database and files (default: the user data folder, midnet/serve).")
@click.option("--token", envvar="MIDNET_SERVE_TOKEN", show_envvar=True, default=None,
              help="Access token every request must carry (required off loopback); prefer the environment variable.")
@click.option("--retention", type=click.FloatRange(min=0, min_open=True), default=24.0, show_default=True,
              metavar="HOURS", help="Finished jobs and their files are removed after this long.")
@click.option("--max-upload-mb", type=click.IntRange(min=1), default=512, show_default=True,
              help="Largest upload, MiB (pixels are also capped by MIDNET_MAX_PIXELS).")
@click.option("--queue", "queue_size", type=click.IntRange(min=1), default=200, show_default=True,
              help="Most files waiting at once, over all users; more are refused until some are done.")
@restore_options
@engine_choice_options
def serve_cmd(host, port, data, token, retention, max_upload_mb, queue_size, **restore) -> None:
    """Serve a page where anyone with a browser restores micrographs: drag files in, see each one's focus score,
    follow the queue, compare before and after, download the results (the same files `midnet deblur` writes).

    Jobs persist in DATA (SQLite and files): a restart loses no result and resumes unfinished work.
    The JSON API is described at /openapi.json. See docs/facilities.md for a lab PC, systemd and TLS.
    """
    from pathlib import Path

    from ..server.config import ServerConfig

    config = ServerConfig(data=Path(data) if data else _default_data(), host=host, port=port, token=token,
                          retention_hours=retention, max_upload_bytes=max_upload_mb * 2**20, queue_size=queue_size,
                          restore=restore_settings(**restore)).checked()
    _check_port(host, port)
    run_server(config)


def run_server(config) -> None:
    """Build the restorer (the model loads once), then serve until stopped (Ctrl-C, SIGTERM)."""
    import logging

    uvicorn = _server_packages()
    from ..server import create_app
    from ..server.restoring import Restoration

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    click.echo("loading the restorer...", err=True)
    restoration = Restoration(config.restore)
    click.echo(f"restoring with {restoration.describe()}; data in {config.data}", err=True)
    app = create_app(config, restoration)
    shown = f"[{config.host}]" if ":" in config.host else config.host
    click.echo(f"open http://{shown}:{config.port}/" + ("?token=<the token>" if config.token else ""), err=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", timeout_graceful_shutdown=5,
                server_header=False)


def _server_packages():
    from ..errors import MidnetError

    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401  (python-multipart: FastAPI's form parser)
        import uvicorn
    except ImportError as exc:
        raise MidnetError(f"midnet serve needs FastAPI, uvicorn and python-multipart ({exc.name} is missing): "
                          'pip install "midnet[serve]"') from None
    return uvicorn


def _default_data():
    import platformdirs

    return platformdirs.user_data_path("midnet") / "serve"


def _check_port(host: str, port: int) -> None:
    """A port another program holds is one clear line now, not a traceback after the model has loaded."""
    import socket

    from ..errors import MidnetError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise MidnetError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port or "
                              "--host") from None
