"""Cluster options misused (issue 33: faults 5, 10 and dask's shutdown lines of 13, and the cluster-options
category): a usage error (exit 2, one line) before any worker starts, or one line naming what is wrong."""

from __future__ import annotations

import logging
import socket
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("distributed")

from midnet.cli import cli  # noqa: E402
from midnet.cluster import files as cluster  # noqa: E402
from midnet.cluster.files import core_count, dask_client, parse_local  # noqa: E402
from midnet.errors import MidnetError  # noqa: E402


@pytest.mark.parametrize("spec", ["local:00", "local:0", "local:\u00b2", "local:100000", "local:-1", "local: 2",
                                  "local:2.0", "remote:2"])
def test_local_n_outside_one_to_the_cores_is_refused(spec):
    with pytest.raises(MidnetError) as err:
        parse_local(spec)
    assert repr(spec) in str(err.value) and "\n" not in str(err.value)


def test_local_n_within_the_bounds_is_n():
    most = min(core_count(), cluster.MAX_LOCAL_WORKERS)
    assert parse_local("local:1") == 1
    assert parse_local("local") == most and parse_local(f"local:{most}") == most


@pytest.mark.parametrize("spec", ["local:00", "local:\u00b2", "local:100000"])
def test_a_bad_cluster_option_is_a_usage_error_before_anything_starts(tmp_path, spec):
    Image.fromarray(np.full((32, 32), 100, np.uint8)).save(tmp_path / "a.png")
    result = CliRunner().invoke(cli, ["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--cluster", spec])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "ZeroDivisionError" not in result.output
    assert "ValueError" not in result.output and spec in result.output
    assert not (tmp_path / "out").exists()


def test_both_cluster_and_scheduler_are_a_usage_error(tmp_path):
    Image.fromarray(np.full((32, 32), 100, np.uint8)).save(tmp_path / "a.png")
    result = CliRunner().invoke(cli, ["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
                                      "--cluster", "local:1", "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2 and "not both" in result.output


class _NotDask:
    """A TCP listener that answers like a web server: what --scheduler may point at by mistake."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.address = "tcp://127.0.0.1:%d" % self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")


def test_a_listener_that_is_not_a_dask_scheduler_is_named_so():
    listener = _NotDask()
    try:
        with pytest.raises(MidnetError) as err, dask_client(scheduler=listener.address):
            pass
    finally:
        listener.server.close()
    text = str(err.value)
    assert listener.address in text and "not a Dask scheduler" in text and "EiB" not in text and "\n" not in text


@pytest.mark.slow
def test_dasks_shutdown_kill_is_one_clean_line(capfd):
    import time

    with dask_client("local:1", quiet=False) as client:
        busy = client.submit(time.sleep, 60, pure=False)
        time.sleep(2)  # the task runs: the worker is busy when the cluster closes
        del busy
    err = capfd.readouterr().err
    assert "still alive" not in err and "CancelledError" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) <= 1 and all(line.startswith("note: ") for line in lines), lines
    assert not logging.getLogger("distributed.nanny").filters  # the filter ends with the block
