"""Fixtures of the midnet serve tests: restorers built once, a server on a temporary data folder, test frames."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")


def micrograph(size: int = 128, seed: int = 0, dtype=np.uint16) -> np.ndarray:
    """Blurred blobs and noise under a bright info bar: structure the focus score can judge, a bar to keep."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.random((size, size)), 3)
    field = (field - field.min()) / (np.ptp(field) + 1e-9)
    field += rng.normal(0, 0.01, field.shape)
    top = np.iinfo(dtype).max
    out = np.clip(field * 0.8 * top, 0, top).astype(dtype)
    out[-size // 8:] = top // 10
    out[-size // 12:-size // 24, size // 8: size // 2] = top  # the bar's text
    return out


def tiff_bytes(array: np.ndarray, **kw) -> bytes:
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, array, resolution=(100.0, 100.0), resolutionunit="CENTIMETER", **kw)
    return buf.getvalue()


def pil_bytes(array: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="session")
def wiener():
    """The classical Wiener restorer through the deblur pipeline: fast enough for every API test."""
    from midnet.server.restoring import Restoration
    from midnet.inference.settings import RestoreSettings

    return Restoration(RestoreSettings(method="wiener"))


@pytest.fixture(scope="session")
def tiny(model_file):
    """A width-8 network from a weights file, on PyTorch in fp32 (no engine measurement in a unit test)."""
    from midnet.server.restoring import Restoration
    from midnet.inference.settings import RestoreSettings

    return Restoration(RestoreSettings(model=str(model_file), engine="torch", precision="fp32"))


def serve(data: Path, restoration, start_worker: bool = True, **config):
    """A TestClient on a fresh app over ``data`` (use as a context manager: it runs the worker)."""
    from fastapi.testclient import TestClient

    from midnet.server import ServerConfig, create_app

    return TestClient(create_app(ServerConfig(data=data, **config), restoration, start_worker=start_worker))


def server_of(client):
    return client.app.app.state.server  # the Guard wraps the FastAPI app


def new_client(c) -> str:
    return c.post("/api/clients").json()["client"]


def upload(c, client_id: str, name: str, content: bytes, status: int = 201) -> dict:
    r = c.post("/api/jobs", data={"client": client_id}, files={"file": (name, content, "application/octet-stream")})
    assert r.status_code == status, r.text
    return r.json()


def wait_finished(c, job_id: str, timeout: float = 120) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def deblur_bytes(tmp_path: Path, name: str, content: bytes, *options: str, own_process: bool = False) -> bytes:
    """What `midnet deblur NAME -o OUT OPTIONS` writes for this file: the reference every result must equal.

    ``own_process`` runs it as a process of its own, as a server is: in the tests' process torch has one thread
    (tests/conftest.py), so the network's sums run in another order and a pixel at a rounding boundary can land
    one grey level off what a server process writes."""
    from click.testing import CliRunner

    from midnet.cli import cli

    src, out = tmp_path / "deblur-in", tmp_path / "deblur-out"
    src.mkdir(exist_ok=True)
    (src / name).write_bytes(content)
    args = ["deblur", str(src / name), "-o", str(out), *options]
    if own_process:
        done = subprocess.run([sys.executable, "-m", "midnet.cli", *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    else:
        result = CliRunner().invoke(cli, args, obj={})
        assert result.exit_code == 0, result.output
    return (out / name).read_bytes()
