"""Reduced precision, engine auto and provenance: each path equals the fp32 torch restorer within its bound.

Bounds are midnet.inference.precision.TOLERANCE (normalised scale), each derived there from the
number format's significant bits and the differences measured with the shipped weights.
The shipped midnet-sem runs here rather than a random network: a perturbed random
network's activations grow 20x past a real one's, and its bf16 error with them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import midnet
from midnet.inference.settings import RestoreSettings
from midnet.inference import engine_choice, precision
from midnet.inference.cache import weights_sha256
from midnet.errors import MidnetError
from midnet.images.io import read_provenance
from midnet.inference.precision import TOLERANCE, resolve_precision
from midnet.inference.restore import make_restorer

from ..conftest import smooth_image


def normalised_difference(a: np.ndarray, b: np.ndarray, gray: np.ndarray) -> float:
    span = np.percentile(gray, 99.8) - np.percentile(gray, 1)  # the network's scale: midnet/images/intensity.py
    return float(np.abs(a - b).max() / span)


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    return smooth_image(128, 128, seed=1)


@pytest.fixture(scope="module")
def fp32(gray) -> np.ndarray:
    return make_restorer(RestoreSettings.exact(model="midnet-sem"))(gray)


@pytest.mark.parametrize("kind", ["bf16", "fp16"])
def test_torch_reduced_precision_within_its_bound(kind, gray, fp32):
    restorer = make_restorer(RestoreSettings(model="midnet-sem", precision=kind, engine="torch"))
    got = restorer(gray)
    difference = normalised_difference(got, fp32, gray)
    assert difference <= TOLERANCE[kind]
    assert difference > 1e-5  # it really ran in the reduced format (fp32 paths differ by < 1e-6)
    assert restorer.provenance["precision"] == kind


def test_reduced_precision_adds_the_global_residual_in_fp32():
    """A network that adds nothing must give its input back exactly: rounding the frame to bf16 would not."""
    net = midnet.create_model("midnet-s", width=8).eval()
    with torch.no_grad():
        net.ending.weight.zero_()
        net.ending.bias.zero_()
    gray = smooth_image(48, 64, seed=3)
    out = make_restorer(RestoreSettings(model=net, precision="bf16", engine="torch"))(gray)
    # the intensity map and its inverse in float32 are the only rounding left
    np.testing.assert_allclose(out, gray, atol=2e-7, rtol=0)


def test_tiled_bf16_keeps_whole_frame_statistics(gray):
    tiled32 = make_restorer(RestoreSettings.exact(model="midnet-sem", tile=64, overlap=32))(gray)
    tiled16 = make_restorer(RestoreSettings(model="midnet-sem", tile=64, overlap=32, precision="bf16", engine="torch"))(gray)
    plain = make_restorer(RestoreSettings.exact(model="midnet-sem", tile=64, overlap=32))
    assert normalised_difference(tiled16, tiled32, gray) <= TOLERANCE["bf16"]
    # without the shared statistics the tiles would differ from the whole frame far more than bf16 does
    whole = make_restorer(RestoreSettings.exact(model="midnet-sem"))(gray)
    assert normalised_difference(tiled16, whole, gray) < normalised_difference(_tiles_alone(plain, gray), whole, gray)


def _tiles_alone(restorer, gray):
    from midnet.inference.tiling import predict_tiled

    net = restorer.network
    x = torch.from_numpy(midnet.images.intensity.measure(gray).forward(gray))[None, None]
    with torch.inference_mode():
        y = predict_tiled(net, x, tile=64, overlap=32, stats_passes=1)[0, 0].numpy()
    return midnet.images.intensity.measure(gray).inverse(y.copy())


def test_auto_precision_follows_the_cpu(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # the user capped the kernels below bf16
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))  # bf16 only emulated
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"  # no GPU quality test yet
    assert resolve_precision("fp16", cpu) == "fp16"
    with pytest.raises(MidnetError, match="unknown precision"):
        resolve_precision("int4", cpu)


@pytest.mark.slow  # shares midnet-sem's one ONNX export with tests/unit/test_engines.py (sem_onnx_cache)
@pytest.mark.parametrize("kind", ["fp32", "bf16"])
def test_openvino_engine_within_its_bound(kind, gray, fp32, sem_onnx_cache, monkeypatch):
    pytest.importorskip("openvino")
    sem_onnx_cache.use(monkeypatch)
    restorer = make_restorer(RestoreSettings(model="midnet-sem", engine="openvino", precision=kind))
    got = restorer(gray)
    ran = restorer.provenance["precision"]  # a CPU without native bf16 runs OpenVINO's bf16 hint as fp32
    assert ran in (kind, "fp32")
    if kind == "fp32" or precision.native_bf16():
        assert ran == kind  # what OpenVINO reports it runs, in midnet's names
    assert normalised_difference(got, fp32, gray) <= TOLERANCE[ran]
    if ran != "fp32":
        assert normalised_difference(got, fp32, gray) > 1e-5  # the bf16 hint really took effect
    assert len(sem_onnx_cache.exports) <= 1  # the one cached file, whatever the precision
    assert (sem_onnx_cache.folder / "openvino").is_dir()  # OpenVINO's compiled blobs live in midnet's cache


def test_onnx_engine_refuses_reduced_precision_and_auto_gives_it_fp32():
    pytest.importorskip("onnxruntime")
    net = midnet.create_model("midnet-s", width=8)
    with pytest.raises(MidnetError, match="onnx engine runs fp32"):
        make_restorer(RestoreSettings(model=net, engine="onnx", precision="bf16"))
    assert make_restorer(RestoreSettings(model=net, engine="onnx", precision="auto")).provenance["precision"] == "fp32"


def test_engine_auto_picks_a_valid_path_and_caches_it(monkeypatch, gray, tmp_path):
    monkeypatch.setenv("MIDNET_CACHE_DIR", str(tmp_path))  # nothing measured before this test
    # torch only, in both formats (bf16 runs everywhere, emulated where the CPU lacks it): no export
    monkeypatch.setattr(engine_choice, "candidates", lambda request, device: [("torch", "fp32"), ("torch", "bf16")])
    monkeypatch.setattr(engine_choice, "TRIAL_SIDE", 64)
    measured = []
    real_measure = engine_choice._measure
    monkeypatch.setattr(engine_choice, "_measure", lambda net, pairs: measured.append(1) or real_measure(net, pairs))
    net = midnet.create_model("midnet-s", width=8).eval()
    first = make_restorer(RestoreSettings(model=net, engine="auto", precision="auto"))
    assert first.choice.measured and set(first.choice.seconds) == {"torch fp32", "torch bf16"}
    assert (first.provenance["engine"], first.provenance["precision"]) in {("torch", "fp32"), ("torch", "bf16")}
    second = make_restorer(RestoreSettings(model=net, engine="auto", precision="auto"))
    assert measured == [1]  # the second restorer read the cached choice
    assert not second.choice.measured
    assert (second.choice.engine, second.choice.precision) == (first.choice.engine, first.choice.precision)
    assert "engine auto: torch" in second.choice.summary()
    other = midnet.create_model("midnet-s", width=8).eval()  # other weights: measured again
    make_restorer(RestoreSettings(model=other, engine="auto", precision="auto"))
    assert measured == [1, 1]


def test_a_damaged_engine_choice_is_measured_again_not_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("MIDNET_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(engine_choice, "candidates", lambda request, device: [("torch", "fp32"), ("torch", "bf16")])
    monkeypatch.setattr(engine_choice, "TRIAL_SIDE", 64)
    net = midnet.create_model("midnet-s", width=8).eval()
    make_restorer(RestoreSettings(model=net, engine="auto", precision="auto"))
    [stored] = list(tmp_path.rglob("*.json"))
    for damage in ('{"engine": "torch"', '{"engine": "torch", "precision": "fp32"}'):  # torn; a key missing
        stored.write_text(damage)
        again = make_restorer(RestoreSettings(model=net, engine="auto", precision="auto"))
        assert again.choice.measured and json.loads(stored.read_text())["engine"] == again.choice.engine


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_every_output_records_how_it_was_made(tmp_path, suffix):
    from midnet.cli import cli

    net = midnet.create_model("midnet-s", width=8).eval()
    weights = midnet.save_model(net, tmp_path / "tiny.safetensors")
    source = tmp_path / f"in{suffix}"
    midnet.images.io.write_image(source, np.round(smooth_image(64, 80) * 255).astype(np.uint8))
    result = CliRunner().invoke(cli, ["deblur", str(source), "-o", str(tmp_path / "out"), "--model", str(weights),
                                      "--engine", "torch", "--precision", "bf16", "--infobar", "none"], obj={})
    assert result.exit_code == 0, result.output
    record = read_provenance(tmp_path / "out" / source.name)
    assert record["engine"] == "torch" and record["precision"] == "bf16"
    assert record["weights_sha256"] == weights_sha256(weights)
    assert record["midnet"] == midnet.__version__ and record["model"] == str(weights)
    assert record["tile"] == "auto" and record["overlap"] == 128 and record["tta"] is False
    assert read_provenance(source) is None  # the input was not touched


def test_deblur_command_says_what_engine_auto_picked(tmp_path, monkeypatch):
    from midnet.cli import cli

    monkeypatch.setattr(engine_choice, "candidates", lambda request, device: [("torch", "fp32"), ("torch", "bf16")])
    monkeypatch.setattr(engine_choice, "TRIAL_SIDE", 64)
    weights = midnet.save_model(midnet.create_model("midnet-s", width=8), tmp_path / "tiny.safetensors")
    source = midnet.images.io.write_image(tmp_path / "in.png", np.round(smooth_image(48, 64) * 255).astype(np.uint8))
    args = ["deblur", str(source), "-o", str(tmp_path / "out"), "--model", str(weights), "--infobar", "none"]
    result = CliRunner().invoke(cli, args, obj={})  # --engine auto is the default
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stderr.splitlines() if x.startswith("engine auto:"))
    picked = read_provenance(tmp_path / "out" / "in.png")
    # measured now, or read from the session's cache when another test measured these same (seeded) weights
    assert line.startswith(f"engine auto: {picked['engine']} {picked['precision']} (")
