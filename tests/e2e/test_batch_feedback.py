"""What ``midnet deblur`` and ``midnet export`` say while they work, and when they are stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from midnet.images.io import read_image

from .test_deblur_cli import deblur, gray8, run, save_png, temporaries


def test_the_engine_line_stands_above_the_bars_on_a_terminal(tmp_path, model_file, monkeypatch):
    from midnet.inference import engine_choice
    from midnet.images import progress

    monkeypatch.setattr(progress, "is_terminal", lambda stream: True)  # bars drawn, as on a terminal
    # where the line lands is under test, not the measurement: torch's two formats on a small trial frame, no export
    monkeypatch.setattr(engine_choice, "candidates", lambda request, device: [("torch", "fp32"), ("torch", "bf16")])
    monkeypatch.setattr(engine_choice, "TRIAL_SIDE", 64)
    for i in range(2):
        save_png(tmp_path / "in" / f"{i}.png", gray8(64, 64, seed=i))
    result = deblur(tmp_path / "in", "-o", tmp_path / "out", "--infobar", "none", model=model_file)  # --engine auto
    assert result.exit_code == 0, result.stderr
    shown = [s for s in re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", result.stderr)) if s.strip()]
    engine = [s for s in shown if "engine auto:" in s]
    assert engine and all(s.startswith("engine auto: ") for s in engine), engine  # never glued to a bar
    assert "2 restored, 0 skipped, 0 failed" in shown


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_batch_says_what_it_did_and_exits_128_plus_the_signal(tmp_path, model_file, sig, code):
    files = 40
    for i in range(files):
        save_png(tmp_path / "in" / f"{i:02d}.png", gray8(192, 192, seed=i))
    out = tmp_path / "out"
    args = ["deblur", tmp_path / "in", "-o", out, "--model", model_file, "--engine", "torch", "--precision", "fp32",
            "--infobar", "none"]
    proc = subprocess.Popen([sys.executable, "-m", "midnet.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a shell
    deadline = time.monotonic() + 240
    while not (out.is_dir() and list(out.glob("*.png"))):  # stopped once the batch is under way
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and stdout == ""
    written = sorted(out.glob("*.png"))
    assert 0 < len(written) < files and not temporaries(out)  # whole outputs only: nothing half-written
    for path in written:
        assert read_image(path).array.shape == (192, 192)
    lines = stderr.splitlines()
    counts = [line for line in lines if re.fullmatch(r"\d+ restored, 0 skipped, 0 failed", line)]
    restored = int(counts[0].split()[0])
    # the signal may land between a file's publication and its count: one more written than counted, at most
    assert restored in (len(written), len(written) - 1)
    assert lines[-1].startswith(f"interrupted by {sig.name}: {files - restored} of {files} files not restored")


def test_the_compare_picture_labels_an_in_focus_input_input_not_blurry(tmp_path, model_file):
    save_png(tmp_path / "in" / "sharp.png", gray8(96, 128))
    result = deblur(tmp_path / "in", "-o", tmp_path / "out", "--compare", "--engine", "torch", "--infobar", "none",
                    model=model_file)
    assert result.exit_code == 0, result.stderr
    picture = np.asarray(Image.open(tmp_path / "out" / "sharp_compare.png"))
    label = picture[:18, :128]  # the first panel's label strip (midnet/quality/figures.py: 18 px, text at (2, 3))

    def written(text: str) -> np.ndarray:
        strip = Image.new("L", (128, 18), 255)
        ImageDraw.Draw(strip).text((2, 3), text, fill=0)
        return np.asarray(strip)

    assert np.array_equal(label, written("input")) and not np.array_equal(label, written("blurry"))


@pytest.mark.parametrize("spelling, suffix", [("tiff", ".tiff"), ("tif", ".tif"), ("TIFF", ".tiff")])
def test_format_takes_both_tiff_spellings(tmp_path, model_file, spelling, suffix):
    save_png(tmp_path / "in" / "a.png", gray8())
    result = deblur(tmp_path / "in", "-o", tmp_path / "out", "--format", spelling, "--engine", "torch",
                    "--infobar", "none", model=model_file)
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"a{suffix}"]
    assert read_image(tmp_path / "out" / f"a{suffix}").format == "tiff"


def test_export_says_what_it_is_doing_before_it_starts(tmp_path, model_file):
    out = tmp_path / "tiny.pt"
    result = run("export", model_file, "-o", out, "--format", "torchscript")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0].startswith(f"exporting {model_file} to {out} (the network compiled into "
                                                    "a TorchScript module")
    assert re.fullmatch(rf"wrote {re.escape(str(out))} in \d+ s\n", result.stdout)
    again = run("export", model_file, "-o", out, "--format", "torchscript")
    assert again.exit_code == 1 and again.stderr.startswith("error:") and "--overwrite" in again.stderr
    assert "exporting" not in again.stderr  # refused at once: no minute of work announced
