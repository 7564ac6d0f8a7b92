"""Tiled restoration equals whole-image restoration for the real networks, not only for pixel-wise maps."""

import numpy as np
import pytest
import torch

import midnet
from midnet.inference.tiling import predict_tiled

from ..conftest import smooth_image


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = midnet.create_model("midnet-s").eval()
    with torch.no_grad():  # leave skip-init: every block must act, or the network is nearly the identity
        for n, p in model.named_parameters():
            if n.endswith(("beta", "gamma")):
                p.normal_(0, 0.2)
    return model


@pytest.fixture(scope="module")
def image():
    img = smooth_image(200, 264, seed=3) + np.random.default_rng(0).normal(0, 0.05, (200, 264)).astype(np.float32)
    return torch.from_numpy(img)[None, None]


def test_tiled_equals_whole_to_1e3(net, image):
    with torch.no_grad():
        whole = predict_tiled(net, image, tile=None)  # the whole frame, padded as the product pads it
        tiled = predict_tiled(net, image, tile=128, overlap=64)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() < 1e-3
    assert (whole - image).abs().mean() > 0.01  # the network changes the image: the comparison means something


def test_shared_statistics_bring_tiles_closer_to_the_whole_image(net, image):
    with torch.no_grad():
        whole = predict_tiled(net, image, tile=None)  # the whole frame, padded as the product pads it
        plain = predict_tiled(net, image, tile=128, overlap=64, stats_passes=1)
        shared = predict_tiled(net, image, tile=128, overlap=64, stats_passes=2)
    assert (shared - whole).abs().mean() < 0.7 * (plain - whole).abs().mean()


def test_statistics_hooks_are_removed(net, image):
    with torch.no_grad():
        predict_tiled(net, image, tile=128, overlap=64)
    pools = [m for m in net.modules() if isinstance(m, torch.nn.AdaptiveAvgPool2d)]
    assert pools and all(not m._forward_hooks for m in pools)


def test_frame_is_padded_by_reflection_not_zeros(net):
    """A frame off the 16-px grid: the restorer reflects it, so no dark band leaks into the edges."""
    from midnet.models.blocks import pad_to_multiple

    img = torch.from_numpy(smooth_image(70, 90, seed=8))[None, None]  # pads to 80 x 96
    with torch.no_grad():
        got = predict_tiled(net, img, tile=None)
        reflected = net(pad_to_multiple(img, 16, mode="reflect"))[..., :70, :90]
        zero_padded = net(img)  # NAFNet's own padding
    torch.testing.assert_close(got, reflected)
    assert (got - zero_padded)[..., -4:, :].abs().max() > 1e-3  # the zero band did change the edge
