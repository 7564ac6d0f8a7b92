"""RestoreSettings and FramePipeline: one value says how to restore, one pipeline does it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from midnet.images.batch import plan_jobs
from midnet.choices import DEFAULT_ENGINE, DEFAULT_MODEL, NETWORK
from midnet.errors import MidnetError
from midnet.pipeline import FramePipeline
from midnet.inference.settings import RestoreSettings

from ..conftest import smooth_image


def test_the_defaults_are_the_command_lines():
    s = RestoreSettings()
    assert (s.model, s.method, s.engine, s.precision, s.infobar, s.tile, s.overlap, s.device) == (
        DEFAULT_MODEL, NETWORK, DEFAULT_ENGINE, "auto", "auto", None, 128, "auto")
    assert not (s.tta or s.uncertainty or s.only_blurry) and s.blur_threshold is None and s.calibration is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.tile = 256


def test_uncertainty_implies_the_eight_views_and_a_classical_method_has_no_network():
    assert RestoreSettings(uncertainty=True).views and not RestoreSettings().views
    assert RestoreSettings(method="wiener").network is None and RestoreSettings().network == DEFAULT_MODEL
    assert RestoreSettings.exact(tile=64) == RestoreSettings(tile=64, engine="torch", precision="fp32")


def test_resolved_settles_engine_and_precision_once(monkeypatch):
    from midnet.inference import precision
    from midnet.models.zoo import create_model

    wiener, choice = RestoreSettings(method="wiener", engine="onnx", precision="auto").resolved()
    assert (wiener.engine, wiener.precision, choice) == ("torch", "fp32", None)  # NumPy: engines mean nothing
    net = create_model("midnet-sem", width=8).eval()
    monkeypatch.setattr(precision, "native_bf16", lambda: True)  # a CPU with bf16: auto means bf16 where it can
    assert RestoreSettings(engine="torch").resolved(net)[0].precision == "bf16"
    assert RestoreSettings(engine="onnx").resolved(net)[0].precision == "fp32"  # ONNX Runtime runs fp32 only
    assert RestoreSettings(engine="openvino", precision="fp16").resolved(net)[0].precision == "fp16"  # as asked
    settled, choice = RestoreSettings.exact().resolved(net)
    assert settled.is_settled and choice is None and settled == RestoreSettings.exact()
    with pytest.raises(MidnetError, match="needs the network"):
        RestoreSettings().resolved()


def test_every_room_starts_from_the_same_defaults(tmp_path):
    from midnet.cli import deblur_cmd
    from midnet.cluster.files import RestorerSpec
    from midnet.napari._job import form_settings
    from midnet.server.config import ServerConfig

    defaults = RestoreSettings()
    options = {p.name: p.default for p in deblur_cmd.params}
    assert (options["model_name"], options["method"], options["infobar"], options["tile"], options["overlap"],
            options["device"], options["engine"], options["precision"]) == (
        defaults.model, defaults.method, defaults.infobar, defaults.tile, defaults.overlap, defaults.device,
        defaults.engine, defaults.precision)
    assert form_settings(defaults.model) == defaults  # napari's form
    assert RestorerSpec().settings == defaults  # Dask's workers
    assert ServerConfig(data=tmp_path).restore == defaults  # `midnet serve`


def test_restorers_hold_declared_fields_only(model_file):
    from midnet.inference.restore import ClassicalRestorer, NetworkRestorer, make_restorer

    network = make_restorer(RestoreSettings.exact(model=str(model_file)))
    classical = make_restorer(RestoreSettings(method="unsharp"))
    assert isinstance(network, NetworkRestorer) and isinstance(classical, ClassicalRestorer)
    network.provenance  # noqa: B018  (computes and keeps the weights' SHA-256)
    for restorer in (network, classical):
        declared = {f.name for f in dataclasses.fields(restorer)} | {"weights_sha256"}  # the cached property
        assert set(vars(restorer)) <= declared
    assert network.settings.is_settled and network.choice is None


def test_the_library_refuses_a_triage_it_cannot_do():
    import midnet

    with pytest.raises(MidnetError, match="only_blurry"):
        midnet.deblur(np.zeros((32, 32), np.uint8), method="unsharp", only_blurry=True)


def test_bad_settings_are_one_line_naming_every_problem():
    with pytest.raises(MidnetError) as err:
        RestoreSettings(method="magic", tile=8, overlap=-1, infobar="top", precision="fp8")
    text = str(err.value)
    assert "\n" not in text and all(w in text for w in ("magic", "tile 8", "overlap -1", "'top'", "fp8"))


def test_settings_load_nothing_heavy():
    code = "import sys, midnet.inference.settings; print(sorted(m for m in ('torch', 'numpy', 'skimage') if m in sys.modules))"
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
