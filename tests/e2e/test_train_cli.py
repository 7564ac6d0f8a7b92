"""`midnet train` as a process: SIGTERM checkpoints and exits 143 (128 + SIGTERM), --resume finishes the run."""

import signal
import subprocess
import sys
import time

import pytest

from midnet.models.weights import read_weights


@pytest.mark.slow
def test_sigterm_checkpoints_and_resume_finishes(pair_folder, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "midnet.cli", "train", "--data", str(pair_folder), "--out", str(out),
            "--set", "model.overrides={width: 8}", "--set", "data.crop=32", "--set", "data.batch=2",
            "--set", "iterations=100000", "--set", "ckpt_every=100000", "--set", "threads=1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]  # checkpointed, then the stop reported as one
    assert "stopped at step" in err and "Traceback" not in err
    _, meta = read_weights(out / "last.safetensors")
    stopped_at = int(meta["midnet.iteration"])
    assert 0 < stopped_at < 100000  # checkpointed on the signal, long before ckpt_every

    # resuming under other settings would change the run: refused, nothing touched
    changed = subprocess.run(args + ["--set", "data.crop=48", "--resume"], capture_output=True, text=True, timeout=120)
    assert changed.returncode == 1 and "data.crop" in changed.stderr and "Traceback" not in changed.stderr

    # `--out RUN --resume` alone continues the run with its saved config; a shorter total ends it now
    (out / "config.yaml").write_text((out / "config.yaml").read_text().replace("iterations: 100000", f"iterations: {stopped_at + 3}"))
    resume = subprocess.run([sys.executable, "-m", "midnet.cli", "train", "--out", str(out), "--resume"],
                            capture_output=True, text=True, timeout=300)
    assert resume.returncode == 0, resume.stderr[-2000:]
    _, meta = read_weights(out / "last.safetensors")
    assert int(meta["midnet.iteration"]) == stopped_at + 3
