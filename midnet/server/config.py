"""What a server is started with: where it listens, who may use it, how much it accepts, how it restores.

Imports nothing heavy: ``midnet serve`` checks its options (a host that needs a token, a data
folder that cannot be written) before torch or FastAPI load.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MidnetError
from ..inference.settings import RestoreSettings

TOKEN_ENV = "MIDNET_SERVE_TOKEN"  # the access token, when not given as --token (kept out of `ps` listings)
DEFAULT_MAX_UPLOAD_MB = 512  # a 16-bit 16384x16384 frame is 512 MiB: the largest a facility PC restores in one go
DEFAULT_QUEUE = 200  # files waiting at once, over all users: a day's work of a busy microscope
DEFAULT_RETENTION_HOURS = 24.0
MIN_TOKEN_CHARS = 16  # shorter tokens can be guessed over the network


@dataclass(frozen=True)
class ServerConfig:
    data: Path
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    retention_hours: float = DEFAULT_RETENTION_HOURS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 2**20
    queue_size: int = DEFAULT_QUEUE
    restore: RestoreSettings = field(default_factory=RestoreSettings)  # as `midnet deblur`'s options make it

    def checked(self) -> "ServerConfig":
        """This config, or a :class:`MidnetError` saying what to change."""
        if not is_loopback(self.host) and not self.token:
            raise MidnetError(f"--host {self.host} lets other machines reach the server: give an access token with "
                              f"--token or the {TOKEN_ENV} environment variable (e.g. `python -c \"import secrets; "
                              "print(secrets.token_urlsafe())\"`)")
        if self.token is not None and len(self.token) < MIN_TOKEN_CHARS:
            raise MidnetError(f"the access token has {len(self.token)} characters; give at least {MIN_TOKEN_CHARS} "
                              "(e.g. from `python -c \"import secrets; print(secrets.token_urlsafe())\"`)")
        if self.retention_hours <= 0 or self.queue_size < 1 or self.max_upload_bytes < 1:
            raise MidnetError("--retention, --queue and --max-upload-mb must be positive")
        check_data_folder(self.data)
        return self


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_data_folder(data: Path) -> None:
    """A :class:`MidnetError` unless ``data`` is, or can be made, a writable folder."""
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MidnetError(f"cannot use {data} as the data folder: {exc.strerror or exc}; choose another --data") from None
    if not os.access(data, os.W_OK | os.X_OK):
        raise MidnetError(f"cannot write the data folder {data}; choose another --data or change its permissions")
