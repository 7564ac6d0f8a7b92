"""The ONNX Runtime engine restores what the torch restorer does from ONE cached export, and says when it cannot run."""

import sys

import numpy as np
import pytest
import torch

import midnet
from midnet.inference.settings import RestoreSettings
from midnet.errors import MidnetError
from midnet.inference.restore import make_restorer

from ..conftest import smooth_image


def trained_like(name="midnet-s", **kw):
    net = midnet.create_model(name, **kw).eval()
    with torch.no_grad():  # every parameter away from its initial value, as after training
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return net


@pytest.fixture
def count_exports(tmp_path, monkeypatch):
    """A fresh cache, and the list of ONNX exports made into it."""
    from ..conftest import CountedCache

    return CountedCache(tmp_path / "cache").use(monkeypatch).exports


@pytest.mark.slow  # the first test to run midnet-sem through ONNX pays its one export (~20 s on 2 busy cores)
def test_onnx_engine_equals_torch_restorer_and_exports_once_for_every_size(sem_onnx_cache, monkeypatch):
    sem_onnx_cache.use(monkeypatch)
    onnx = make_restorer(RestoreSettings(model="midnet-sem", engine="onnx", precision="fp32"))
    torch_restorer = make_restorer(RestoreSettings.exact(model="midnet-sem"))
    # odd sizes: the restorer pads by reflection to the stride (16) before the graph sees them
    for h, w, seed in ((45, 71, 2), (40, 52, 3), (130, 97, 4)):
        gray = smooth_image(h, w, seed=seed)
        expected = torch_restorer(gray)
        got = onnx(gray)
        # measured: <= 5e-7 on the normalised scale (float32 sums reordered by ONNX Runtime's kernels); 1e-4 of
        # the frame's range is 0.03 grey levels at 8 bits
        assert np.abs(got - expected).max() < 1e-4
        assert np.abs(got - gray).max() > 1e-3  # the network did change the image
    again = make_restorer(RestoreSettings(model="midnet-sem", engine="onnx", precision="fp32"))  # a new restorer (or a new process) finds the cached file
    np.testing.assert_allclose(again(gray), expected, atol=1e-4, rtol=0)
    # one dynamic-size file for every frame size and every restorer (other tests share this cache, and
    # only midnet-sem goes in it: per-size exports would leave several entries)
    assert len(sem_onnx_cache.exports) == 1


@pytest.mark.slow  # shares midnet-sem's export with the test above
def test_the_engine_called_like_the_module_pads_any_size_as_the_module_does(sem_onnx_cache, monkeypatch):
    from midnet.inference.engines import OnnxEngine
    from midnet.inference.restore import inference_copy

    sem_onnx_cache.use(monkeypatch)
    net = inference_copy(midnet.load_model("midnet-sem"))
    engine = OnnxEngine(net)
    x = torch.from_numpy(smooth_image(37, 50, seed=5))[None, None]  # not a multiple of 16: zero-padded inside
    with torch.inference_mode():
        np.testing.assert_allclose(engine(x).numpy(), net(x).numpy(), atol=1e-4, rtol=0)
    assert len(sem_onnx_cache.exports) == 1


def test_onnx_engine_leaves_tiled_frames_to_torch(count_exports):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    net = trained_like(width=8)
    gray = smooth_image(96, 130, seed=4)
    calls = []
    onnx = make_restorer(RestoreSettings(model=net, tile=64, overlap=16, engine="onnx", precision="fp32"), lambda done, total: calls.append(total))
    np.testing.assert_array_equal(onnx(gray), make_restorer(RestoreSettings.exact(model=net, tile=64, overlap=16))(gray))
    assert calls and calls[-1] > 1  # it really went through tiles
    assert count_exports == []  # tiles keep whole-frame statistics through torch hooks: nothing was exported


def test_onnx_engine_without_onnxruntime_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(MidnetError, match=r'pip install "midnet\[onnx\]"'):
        make_restorer(RestoreSettings(model=trained_like(width=8), engine="onnx", precision="fp32"))


@pytest.mark.parametrize("asked", ["fp32", "bf16", "fp16"])
def test_openvino_reports_the_precision_it_compiled_in_midnets_names(asked):
    ov = pytest.importorskip("openvino")
    from openvino import opset13 as ops

    from midnet.inference.engines import OPENVINO_PRECISIONS, midnet_precision
    from midnet.inference.precision import native_bf16

    x = ops.parameter([1, 4], np.float32)
    tiny = ov.Model([ops.relu(x)], [x])
    compiled = ov.Core().compile_model(tiny, "CPU", {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[asked]})
    ran = midnet_precision(compiled.get_property("INFERENCE_PRECISION_HINT"))
    assert ran in ("fp32", "bf16", "fp16")
    if asked == "fp32" or (asked == "bf16" and native_bf16()):
        assert ran == asked
    # an f16 hint on a CPU without native f16 runs bf16 (or f32): then ran differs from asked and
    # --engine auto does not choose it (midnet/inference/engine_choice.py)
    assert midnet_precision(ov.Type.bf16) == "bf16" and midnet_precision(ov.Type.f16) == "fp16"
    assert midnet_precision(ov.Type.f64) == "f64"  # no midnet name: matches no requested precision
