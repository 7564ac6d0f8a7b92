"""`midnet export` and midnet.export_model: ONNX and TorchScript files that other runtimes run, equal to midnet."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import midnet
from midnet.inference.settings import RestoreSettings
from midnet.cli import cli
from midnet.errors import MidnetError
from midnet.images.io import read_image
from midnet.inference.restore import make_restorer

from ..conftest import smooth_image


def trained_like(**kw):
    net = midnet.create_model("midnet-s", width=8, **kw).eval()
    with torch.no_grad():  # every parameter away from its initial value, as after training
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return net


def frame(h, w, seed=0, batch=1):
    return torch.from_numpy(np.stack([smooth_image(h, w, seed + i) for i in range(batch)]))[:, None]


def raw(h, w, seed=0, batch=1, gain=1000.0, offset=5000.0):
    """Frames of raw values far from [0, 1]: the exported files measure and map them themselves."""
    return frame(h, w, seed, batch) * gain + offset


def restored(restorer, x: torch.Tensor) -> np.ndarray:
    """What midnet's restorer computes for each frame of ``x`` (float, on the frame's own scale, not rounded)."""
    return np.stack([restorer(f[0].numpy()) for f in x])[:, None]


@pytest.mark.slow  # shares midnet-sem's one ONNX export with tests/unit/test_engines.py
def test_one_onnx_file_serves_every_size_and_equals_midnet(sem_onnx_cache, monkeypatch, tmp_path):
    import onnx
    import onnxruntime as ort

    sem_onnx_cache.use(monkeypatch)
    path = midnet.export_model("midnet-sem", tmp_path / "sem.onnx", format="onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["midnet.size_multiple"] == "16" and meta["midnet.units"] == "raw"
    assert meta["midnet.weights_sha256"] == midnet.inference.cache.weights_sha256("midnet-sem")
    assert meta["midnet.version"] == midnet.__version__
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    restorer = make_restorer(RestoreSettings.exact(model="midnet-sem"))
    # a multiple of 16, a batch of two frames on other scales, an odd size the graph pads itself
    for x in (raw(48, 80), torch.cat([raw(64, 32, seed=3), raw(64, 32, seed=4, gain=60000.0, offset=0.0)]),
              raw(45, 71, seed=5, gain=255.0, offset=0.0)):
        expected = restored(restorer, x)
        got = session.run(None, {"x": x.numpy()})[0]
        assert got.shape == expected.shape
        # measured <= 4e-3 on values near 6000 (float32 steps of 5e-4) and on the 60000-wide frame
        assert np.abs(got - expected).max() <= 1e-6 * float(x.abs().max()) * 16
    assert len(sem_onnx_cache.exports) == 1  # `midnet export` wrapped the engine's cached file


def test_torchscript_loads_with_torch_jit_and_equals_midnet_at_any_size(tmp_path):
    net = trained_like()
    path = midnet.export_model(net, tmp_path / "net.pt", format="torchscript")
    extra = {"midnet.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    meta = json.loads(extra["midnet.json"])
    assert meta["midnet.size_multiple"] == "16" and "any H and W" in meta["midnet.size_rule"]
    assert meta["midnet.weights_sha256"] == midnet.inference.cache.weights_sha256(net)
    assert meta["midnet.units"] == "raw"
    from midnet.export.torchscript import read_metadata

    assert read_metadata(path) == meta
    restorer = make_restorer(RestoreSettings.exact(model=net))
    # a multiple of 16, odd sizes padded by reflection inside the module, a side too short to reflect, a batch
    for x in (raw(48, 80), raw(45, 71, seed=2), raw(13, 50, seed=4), raw(33, 20, seed=6, batch=2)):
        expected = restored(restorer, x)
        with torch.inference_mode():
            got = loaded(x).numpy()
        assert got.shape == x.shape
        # measured <= 2e-3 on values near 6000: float32 steps (5e-4) of the map and its inverse in another order
        assert np.abs(got - expected).max() < 0.01
        assert np.abs(got - x.numpy()).max() > 1  # it restores: the output is not the input


def test_export_model_is_a_plain_function_of_the_export_package():
    """midnet.export is an ordinary package (not callable); the export is a function the package re-exports."""
    import inspect

    import midnet.export

    assert inspect.isfunction(midnet.export_model) and midnet.export_model is midnet.export.export_model
    assert not callable(midnet.export)
    assert "export_model" in midnet.__all__ and "export" not in midnet.__all__


def test_export_refuses_to_overwrite_and_says_how(tmp_path):
    net = trained_like()
    target = tmp_path / "net.pt"
    target.write_bytes(b"precious")
    with pytest.raises(MidnetError, match="--overwrite"):
        midnet.export_model(net, target, format="torchscript")
    assert target.read_bytes() == b"precious"
    midnet.export_model(net, target, format="torchscript", overwrite=True)
    assert torch.jit.load(str(target)) is not None
    with pytest.raises(MidnetError, match="unknown export format"):
        midnet.export_model(net, tmp_path / "x", format="tflite")


def test_export_command_writes_a_weights_file_as_torchscript(tmp_path):
    weights = midnet.save_model(trained_like(), tmp_path / "w.safetensors")
    out = tmp_path / "out" / "w.pt"
    run = CliRunner().invoke(cli, ["export", str(weights), "-o", str(out), "--format", "torchscript"], obj={})
    assert run.exit_code == 0, run.output
    assert out.is_file() and not list(out.parent.glob(".*.tmp"))  # no temporary left behind
    again = CliRunner().invoke(cli, ["export", str(weights), "-o", str(out), "--format", "torchscript"], obj={})
    assert again.exit_code == 1 and again.output.startswith("error:") and "--overwrite" in again.output
    missing = CliRunner().invoke(cli, ["export", str(tmp_path / "nope.safetensors"), "-o", str(tmp_path / "n.pt"),
                                       "--format", "torchscript"], obj={})
    assert missing.exit_code == 1 and "no such model file" in missing.output


def test_bmz_format_goes_to_the_bmz_exporter(tmp_path, monkeypatch):
    bmz = pytest.importorskip("midnet.export.bmz")
    calls = []
    monkeypatch.setattr(bmz, "export_bmz", lambda model, path, **kw: calls.append((model, path, kw)) or path)
    midnet.export_model("midnet-sem", tmp_path / "p.zip", format="bmz", tile=256)
    assert calls == [("midnet-sem", tmp_path / "p.zip", {"tile": 256})]


@pytest.mark.slow  # ~1 min beside midnet-sem's shared ONNX export
def test_every_format_run_by_its_own_runtime_matches_midnet_deblur_on_a_real_micrograph(
        sem_pairs, sem_onnx_cache, monkeypatch, tmp_path):
    import onnxruntime as ort
    import openvino as ov

    sem_onnx_cache.use(monkeypatch)
    image = read_image(sem_pairs / "blur" / "1-1.png").array
    crop = np.ascontiguousarray(image[101:101 + 389, 203:203 + 517, 0])  # odd size, far above the info bar
    # real 16-bit data: the 8-bit frame widened, with sub-8-bit detail so that its values are not just 257 k
    deep = (crop.astype(np.uint16) * 257 + np.random.default_rng(0).integers(0, 257, crop.shape)).astype(np.uint16)
    onnx_file = midnet.export_model("midnet-sem", tmp_path / "sem.onnx", format="onnx")
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    compiled = ov.Core().compile_model(str(onnx_file), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    script = torch.jit.load(str(midnet.export_model("midnet-sem", tmp_path / "sem.pt", format="torchscript")))
    restorer = make_restorer(RestoreSettings.exact(model="midnet-sem"))
    for micrograph, top in ((crop, 255), (deep, 65535)):
        expected = restorer.deblur(micrograph, infobar="none").astype(int)  # what `midnet deblur` writes
        x = micrograph.astype(np.float32)[None, None]  # the file's own values: no map, no padding by hand
        with torch.inference_mode():
            by_script = script(torch.from_numpy(x)).numpy()
        for name, out in (("onnxruntime", session.run(None, {"x": x})[0]), ("openvino", compiled(x)[0]),
                          ("torchscript", by_script)):
            diff = np.abs(np.clip(np.round(out[0, 0]), 0, top).astype(int) - expected)
            # measured: at most 1 grey level (8 and 16 bits), on < 0.01 % (8 bits) and ~1 % (16 bits) of the
            # pixels: float32 rounding differences of ~1e-7 relative that land on either side of a .5
            assert diff.max() <= 1, (name, top)
        assert np.abs(expected - micrograph.astype(int)).max() > 10 * top / 255  # restoring changed the micrograph
