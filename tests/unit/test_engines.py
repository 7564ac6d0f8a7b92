"""The ONNX Runtime engine restores exactly what the torch restorer does, and says when it cannot run."""

import sys

import numpy as np
import pytest
import torch

import midnet
from midnet.errors import MidnetError
from midnet.restore import make_restorer

from ..conftest import smooth_image


def trained_like(name="midnet-s", **kw):
    net = midnet.create_model(name, **kw).eval()
    with torch.no_grad():  # every parameter away from its initial value, as after training
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return net


@pytest.mark.parametrize("name", ["midnet-s", "nafnet-s"])
def test_onnx_engine_equals_torch_restorer(name):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    net = trained_like(name, width=8)
    gray = smooth_image(45, 71, seed=2)  # odd size: the exported graph pads and crops too
    expected = make_restorer(net)(gray)
    onnx = make_restorer(net, engine="onnx")
    got = onnx(gray)
    assert np.abs(got - expected).max() < 1e-4
    assert np.abs(got - gray).max() > 1e-3  # the network did change the image
    # a second frame of the same size reuses the exported session, a new size gets its own
    np.testing.assert_allclose(onnx(gray[::-1].copy()), make_restorer(net)(gray[::-1].copy()), atol=1e-4, rtol=0)
    other = smooth_image(40, 52, seed=3)
    np.testing.assert_allclose(onnx(other), make_restorer(net)(other), atol=1e-4, rtol=0)


def test_onnx_engine_leaves_tiled_frames_to_torch():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    net = trained_like(width=8)
    gray = smooth_image(96, 130, seed=4)
    calls = []
    onnx = make_restorer(net, tile=64, overlap=16, engine="onnx", on_tile=lambda done, total: calls.append(total))
    np.testing.assert_array_equal(onnx(gray), make_restorer(net, tile=64, overlap=16)(gray))
    assert calls and calls[-1] > 1  # it really went through tiles


def test_onnx_engine_without_onnxruntime_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(MidnetError, match=r'pip install "midnet\[onnx\]"'):
        make_restorer(trained_like(width=8), engine="onnx")
