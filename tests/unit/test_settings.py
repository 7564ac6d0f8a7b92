"""RestoreSettings and FramePipeline: one value says how to restore, one pipeline does it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from midnet.batch import plan_jobs
from midnet.choices import DEFAULT_ENGINE, DEFAULT_MODEL, NETWORK
from midnet.errors import MidnetError
from midnet.pipeline import FramePipeline
from midnet.settings import RestoreSettings

from ..conftest import smooth_image


def test_the_defaults_are_the_command_lines():
    s = RestoreSettings()
    assert (s.model, s.method, s.engine, s.precision, s.infobar, s.tile, s.overlap, s.device) == (
        DEFAULT_MODEL, NETWORK, DEFAULT_ENGINE, "auto", "auto", None, 128, "auto")
    assert not (s.tta or s.uncertainty or s.only_blurry) and s.blur_threshold is None and s.calibration is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.tile = 256


def test_uncertainty_implies_the_eight_views_and_a_classical_method_runs_on_torch_engine():
    assert RestoreSettings(uncertainty=True).views and not RestoreSettings().views
    assert RestoreSettings(method="wiener", engine="onnx").restorer_engine == "torch"
    assert RestoreSettings(method="wiener").network is None and RestoreSettings().network == DEFAULT_MODEL


def test_bad_settings_are_one_line_naming_every_problem():
    with pytest.raises(MidnetError) as err:
        RestoreSettings(method="magic", tile=8, overlap=-1, infobar="top", precision="fp8")
    text = str(err.value)
    assert "\n" not in text and all(w in text for w in ("magic", "tile 8", "overlap -1", "'top'", "fp8"))


def test_settings_load_nothing_heavy():
    code = "import sys, midnet.settings; print(sorted(m for m in ('torch', 'numpy', 'skimage') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _inputs(tmp_path, blurs=(0.0, 3.0), size=(96, 128)):
    from scipy.ndimage import gaussian_filter

    files = []
    for i, sigma in enumerate(blurs):
        img = gaussian_filter(smooth_image(*size, seed=i), sigma) if sigma else smooth_image(*size, seed=i)
        path = tmp_path / "in" / f"f{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(np.round(img * 255).astype(np.uint8)).save(path)
        files.append((path, path.parent))
    return plan_jobs(files, tmp_path / "out")


def test_the_pipeline_restores_as_its_restorer_and_fresh_keeps_the_restorer(tmp_path, model_file):
    pipeline = FramePipeline.build(RestoreSettings(model=str(model_file), engine="torch", precision="fp32",
                                                   infobar="none"))
    jobs = _inputs(tmp_path)
    report = pipeline.run(jobs)
    assert report.summary() == "2 restored, 0 skipped, 0 failed"
    frame = np.asarray(Image.open(jobs[0].source))
    assert np.array_equal(np.asarray(Image.open(jobs[0].output)), pipeline.restorer.deblur(frame, "none"))
    again = pipeline.fresh()
    assert again.restorer is pipeline.restorer
    assert pipeline.report_lines(report)[0] == report.summary()


def test_only_blurry_selects_and_reports_the_sharp_file_skipped(tmp_path):
    pipeline = FramePipeline.build(RestoreSettings(method="unsharp", infobar="none", only_blurry=True,
                                                   blur_threshold=1.5))
    jobs = _inputs(tmp_path, blurs=(0.0, 4.0), size=(256, 256))  # big enough for a confident score
    kept = pipeline.select(jobs)
    assert [j.source.name for j in kept] == ["f1.png"]
    report = pipeline.run(kept)
    lines = pipeline.report_lines(report)
    assert report.summary() == "1 restored, 1 skipped, 0 failed"
    assert any(line.startswith("scored: ") and "f1.png" in line for line in lines)
    assert any(line.startswith("skipped: ") and "f0.png" in line and "--only-blurry" in line for line in lines)
