"""The inference fast path (midnet/fast.py) computes the same function as the plain network."""

import pytest
import torch

import midnet
from midnet.fast import optimize_for_inference
from midnet.models.blocks import LayerNorm2d, MIDBlock


def trained_like(name, **kw):
    net = midnet.create_model(name, **kw).eval()
    with torch.no_grad():  # every parameter away from its initial value, as after training
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return net


@pytest.mark.parametrize("name, kw", [("midnet-s", {}), ("midnet-s", {"skip": "add"}), ("nafnet-s", {}),
                                      ("midnet-s", {"in_chans": 3})])
def test_fast_copy_equals_plain_network(name, kw):
    net = trained_like(name, **kw)
    fast = optimize_for_inference(net)
    x = torch.rand(2, net.config.in_chans, 45, 71)  # odd size: padding and cropping too
    with torch.no_grad():
        expected = net(x)
        got = fast(x)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    assert not any(isinstance(m, (LayerNorm2d, MIDBlock)) for m in fast.modules())  # everything was folded
    assert any(isinstance(m, MIDBlock) for m in net.modules())  # the original is untouched


def test_shipped_model_fast_path_equals_plain():
    net = midnet.load_model("midnet-sem")
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(optimize_for_inference(net)(x), net(x), atol=1e-4, rtol=0)
