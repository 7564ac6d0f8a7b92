"""``midnet watch`` as a user runs it: a real process, stopped by a signal, restoring as ``midnet deblur`` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from midnet.cli import cli

from ..conftest import smooth_image


def _png(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(smooth_image(64, 80, seed=seed) * 255).astype(np.uint8)).save(path)
    return path


def test_the_watched_folder_as_output_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["watch", str(tmp_path), "-o", str(tmp_path), "--method", "unsharp"], obj={})
    assert result.exit_code == 2 and "choose another -o folder" in result.output and "Traceback" not in result.output


def test_a_missing_folder_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["watch", str(tmp_path / "nope"), "-o", str(tmp_path / "o")], obj={})
    assert result.exit_code == 2 and "not a folder" in result.output


def _wait(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_it_with_a_summary_and_its_outputs_are_deblurs(tmp_path, model_file, sig):
    """A file there before the start (a restart picks it up), one arriving later, a bad one; then the signal."""
    _png(tmp_path / "in" / "before.png", 1)
    options = ["--model", str(model_file), "--engine", "torch", "--precision", "fp32", "--infobar", "none"]
    log = tmp_path / "stderr.txt"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "midnet.cli", "watch", str(tmp_path / "in"), "-o",
                                 str(tmp_path / "out"), "--settle", "0.3", "--poll", "0.1", *options],
                                stderr=err, stdout=subprocess.DEVNULL, env=env)
    try:
        _wait(lambda: "watching" in log.read_text(), 240, "the watcher to start")
        _png(tmp_path / "in" / "after.png", 2)
        (tmp_path / "in" / "bad.png").write_bytes(b"not a PNG")
        _wait(lambda: log.read_text().count("\n") >= 4, 120, "three log lines")
        proc.send_signal(sig)
        assert proc.wait(60) == 1  # a file failed: as deblur, a non-zero exit
    finally:
        proc.kill()
    lines = log.read_text().splitlines()
    assert lines[-2:] == ["stopped: 2 restored, 0 skipped, 1 failed", lines[-1]] and lines[-1].startswith("failed: ")
    assert sum("failed: " in line and "bad.png" in line for line in lines) == 2  # when it happened, and on stop
    assert "Traceback" not in log.read_text()
    runner = CliRunner()
    result = runner.invoke(cli, ["deblur", str(tmp_path / "in" / "before.png"), str(tmp_path / "in" / "after.png"),
                                 "-o", str(tmp_path / "deblur"), *options], obj={})
    assert result.exit_code == 0
    for name in ("before.png", "after.png"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "deblur" / name).read_bytes()
