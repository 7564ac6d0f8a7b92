"""`midnet export` and midnet.export: ONNX and TorchScript files that other runtimes run, equal to midnet."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import midnet
from midnet import intensity
from midnet.cli import cli
from midnet.errors import MidnetError
from midnet.fast import inference_copy
from midnet.io import read_image
from midnet.models.blocks import pad_to_multiple
from midnet.restore import make_restorer
from midnet.tiling import predict_whole

from ..conftest import smooth_image


def trained_like(**kw):
    net = midnet.create_model("midnet-s", width=8, **kw).eval()
    with torch.no_grad():  # every parameter away from its initial value, as after training
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return net


def frame(h, w, seed=0, batch=1):
    return torch.from_numpy(np.stack([smooth_image(h, w, seed + i) for i in range(batch)]))[:, None]


@pytest.mark.slow  # shares midnet-sem's one ONNX export with tests/unit/test_engines.py
def test_one_onnx_file_serves_every_size_and_equals_torch(sem_onnx_cache, monkeypatch, tmp_path):
    import onnx
    import onnxruntime as ort

    sem_onnx_cache.use(monkeypatch)
    path = midnet.export("midnet-sem", tmp_path / "sem.onnx", format="onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["midnet.size_multiple"] == "16"
    assert meta["midnet.weights_sha256"] == midnet.cache.weights_sha256("midnet-sem")
    assert meta["midnet.version"] == midnet.__version__
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = inference_copy(midnet.load_model("midnet-sem"))
    # two multiples of 16 (one a batch of 2), and an odd size padded as midnet pads it
    for x in (frame(48, 80), frame(64, 32, seed=3, batch=2), pad_to_multiple(frame(45, 71, seed=5), 16, "reflect")):
        with torch.inference_mode():
            expected = net(x).numpy()
        got = session.run(None, {"x": x.numpy()})[0]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4  # measured <= 5e-7: float32 sums in another order
    assert len(sem_onnx_cache.exports) == 1  # `midnet export` copied the engine's cached file


def test_torchscript_loads_with_torch_jit_and_equals_midnet_at_any_size(tmp_path):
    net = trained_like()
    path = midnet.export(net, tmp_path / "net.pt", format="torchscript")
    extra = {"midnet.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    meta = json.loads(extra["midnet.json"])
    assert meta["midnet.size_multiple"] == "16" and "any H and W" in meta["midnet.size_rule"]
    assert meta["midnet.weights_sha256"] == midnet.cache.weights_sha256(net)
    from midnet.export.torchscript import read_metadata

    assert read_metadata(path) == meta
    fused = inference_copy(net)
    # a multiple of 16, odd sizes padded by reflection inside the module, a side too short to reflect, a batch
    for x in (frame(48, 80), frame(45, 71, seed=2), frame(13, 50, seed=4), frame(33, 20, seed=6, batch=2)):
        with torch.inference_mode():
            expected = predict_whole(fused, x, 16)  # what midnet's restorer runs on a normalised frame
            got = loaded(x)
        assert got.shape == x.shape
        # measured: 0.0 (the same kernels run the traced graph); 1e-5 leaves room for other CPUs' kernels
        assert (got - expected).abs().max().item() < 1e-5
        assert (got - x).abs().max().item() > 1e-3


def test_export_refuses_to_overwrite_and_says_how(tmp_path):
    net = trained_like()
    target = tmp_path / "net.pt"
    target.write_bytes(b"precious")
    with pytest.raises(MidnetError, match="--overwrite"):
        midnet.export(net, target, format="torchscript")
    assert target.read_bytes() == b"precious"
    midnet.export(net, target, format="torchscript", overwrite=True)
    assert torch.jit.load(str(target)) is not None
    with pytest.raises(MidnetError, match="unknown export format"):
        midnet.export(net, tmp_path / "x", format="tflite")


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
    midnet.export("midnet-sem", tmp_path / "p.zip", format="bmz", tile=256)
    assert calls == [("midnet-sem", tmp_path / "p.zip", {"tile": 256})]


def _eight_bit(normalised: np.ndarray, scale: intensity.IntensityMap) -> np.ndarray:
    """A network output on the normalised scale back to uint8, as the restorer maps it (inverse map, round, clip)."""
    return np.clip(np.round(scale.inverse(normalised.astype(np.float32)) * 255), 0, 255).astype(np.uint8)


@pytest.mark.slow  # ~5 s beside midnet-sem's shared ONNX export
def test_every_format_run_by_its_own_runtime_matches_midnet_deblur_on_a_real_micrograph(
        sem_pairs, sem_onnx_cache, monkeypatch, tmp_path):
    import onnxruntime as ort

    sem_onnx_cache.use(monkeypatch)
    image = read_image(sem_pairs / "blur" / "1-1.png").array
    crop = np.ascontiguousarray(image[101:101 + 389, 203:203 + 517, 0])  # odd size, far above the info bar
    expected = make_restorer("midnet-sem").deblur(crop, infobar="none")  # what `midnet deblur` writes
    # the exported graphs are the network on the normalised frame: the same percentile map as the restorer
    # (midnet/intensity.py) before, its inverse after; the ONNX graph needs the reflection padding to 16 too
    gray = crop.astype(np.float32) / 255
    scale = intensity.measure(gray)
    x = torch.from_numpy(scale.forward(gray))[None, None]
    onnx_file = midnet.export("midnet-sem", tmp_path / "sem.onnx", format="onnx")
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    by_onnx = session.run(None, {"x": pad_to_multiple(x, 16, "reflect").numpy()})[0][0, 0, :389, :517]
    script = torch.jit.load(str(midnet.export("midnet-sem", tmp_path / "sem.pt", format="torchscript")))
    with torch.inference_mode():
        by_script = script(x)[0, 0].numpy()
    for name, out in (("onnx", by_onnx), ("torchscript", by_script)):
        diff = np.abs(_eight_bit(out, scale).astype(int) - expected.astype(int))
        # measured: onnx 1 grey level on 2 of 201,113 pixels (float32 rounding differences of ~1e-7 that land on
        # either side of a .5 when rounding to 8 bits), torchscript 0 (the same kernels as the restorer)
        assert diff.max() <= 1, name
    assert np.abs(expected.astype(int) - crop).max() > 10  # restoring changed the micrograph
