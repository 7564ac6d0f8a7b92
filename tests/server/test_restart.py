"""`midnet serve` as a process: killed outright with work queued, started again, nothing lost; and its --help
answers without loading the numeric stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from midnet.server.live import free_port

from .conftest import deblur_bytes, micrograph, tiff_bytes


# the network on the CPU, not Wiener: a job must take long enough (about a second) that the queue still holds work
# when the first result lands, on any machine (Wiener's ~10 ms per frame emptied it before the kill in CI)
SETTINGS = ("--method", "midnet", "--engine", "torch")


def _start(data, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "midnet.cli", "serve", "--port", str(port), "--data", str(data), *SETTINGS]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_up(httpx, url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if httpx.get(url + "api/status", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("midnet serve did not come up")


@pytest.mark.slow
def test_a_server_killed_mid_queue_loses_nothing(tmp_path):
    import httpx

    data, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}/"
    frames = {f"f{i}.tif": tiff_bytes(micrograph(512, seed=i)) for i in range(10)}
    proc = _start(data, port)
    try:
        _wait_up(httpx, url, proc)
        me = httpx.post(url + "api/clients").json()["client"]
        ids = {httpx.post(url + "api/jobs", data={"client": me}, files={"file": (n, c)}).json()["id"]: n
               for n, c in frames.items()}
        while not any(j["state"] == "done" for j in httpx.get(url + "api/jobs", params={"client": me}).json()):
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown of any kind: as a power cut or the OOM killer would
        proc.wait(30)
        states = [j["state"] for j in json.loads((_rows(data)))]
        assert "queued" in states, states  # it really died with work waiting
        proc = _start(data, port)
        _wait_up(httpx, url, proc)
        end = time.monotonic() + 300
        while (jobs := httpx.get(url + "api/jobs", params={"client": me}).json()) and time.monotonic() < end:
            if all(j["state"] == "done" for j in jobs):
                break
            time.sleep(0.2)
        assert sorted(j["id"] for j in jobs) == sorted(ids) and all(j["state"] == "done" for j in jobs)
        results = {ids[j["id"]]: httpx.get(url + j["result"]).content for j in jobs}
    finally:
        proc.kill()
        proc.wait(30)
    for name in ("f0.tif", "f9.tif"):  # the first restored before the kill, the last after the restart
        assert results[name] == deblur_bytes(tmp_path, name, frames[name], *SETTINGS, own_process=True)


def _rows(data) -> str:
    import sqlite3

    with sqlite3.connect(data / "midnet-serve.sqlite3") as db:
        return json.dumps([{"state": s} for (s,) in db.execute("SELECT state FROM jobs")])


PROBE = """
import atexit, json, sys
atexit.register(lambda: print("MODULES=" + json.dumps(sorted(m for m in sys.modules
    if m.split(".")[0] in {"torch", "skimage", "scipy", "fastapi", "uvicorn"}))))
from midnet.cli import main
sys.argv = ["midnet", "serve", "--help"]
main()
"""


def test_serve_help_loads_neither_torch_nor_the_web_stack():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--token" in done.stdout and "MIDNET_SERVE_TOKEN" in done.stdout
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("MODULES="))
    assert json.loads(line[len("MODULES="):]) == []
