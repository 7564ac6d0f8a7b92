import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from midnet.training.losses import EdgeLoss, FFTLoss, LossConfig, RestorationLoss

from ..conftest import smooth_image


def pair(sigma: float, h: int = 64, w: int = 72):
    sharp = smooth_image(h, w, seed=1)
    blurred = gaussian_filter(sharp, sigma) if sigma else sharp.copy()
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a))[None, None]
    return to_t(blurred), to_t(sharp)


TERMS = {
    "l1": lambda: (lambda a, b: (a - b).abs().mean()),
    "edge-log": lambda: EdgeLoss("log"),
    "edge-sobel": lambda: EdgeLoss("sobel"),
    "fft": lambda: FFTLoss(),
    "fft-radial": lambda: FFTLoss(weighting="radial"),
    "total": lambda: (lambda a, b: RestorationLoss()(a, b)[0]),
}


@pytest.mark.parametrize("name", TERMS)
def test_zero_for_identical_images(name):
    x, _ = pair(0)
    assert float(TERMS[name]()(x, x.clone())) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("name", TERMS)
def test_grows_with_blur(name):
    loss = TERMS[name]()
    values = [float(loss(*pair(s))) for s in (0.5, 1.0, 2.0, 4.0)]
    assert values[0] > 0 and all(a < b for a, b in zip(values, values[1:])), values


@pytest.mark.parametrize("name", TERMS)
def test_finite_gradients(name):
    blurred, sharp = pair(2.0)
    pred = blurred.clone().requires_grad_(True)
    TERMS[name]()(pred, sharp).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_fft_term_equals_numpy_of_the_paper_formula():
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 3, 7, 10)), rng.random((2, 3, 7, 10))  # odd size, batch and channels
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    H, W = a.shape[-2:]

    def paper(norm, weight=1.0):
        # (1 / (W H)) * sum_uv w(u,v) |F(Ir) - F(Igt)|^2, averaged over images and channels
        diff = np.fft.fft2(a, norm=norm) - np.fft.fft2(b, norm=norm)
        return float(np.mean(np.sum(weight * np.abs(diff) ** 2, axis=(-2, -1)) / (W * H)))

    assert float(FFTLoss(norm="backward")(ta, tb)) == pytest.approx(paper("backward"), rel=1e-6)
    assert float(FFTLoss(norm="ortho")(ta, tb)) == pytest.approx(paper("ortho"), rel=1e-6)
    fy, fx = np.fft.fftfreq(H)[:, None], np.fft.fftfreq(W)[None, :]
    r = np.sqrt(fy**2 + fx**2)
    radial = 1 + r / r.max()
    assert float(FFTLoss(norm="ortho", weighting="radial")(ta, tb)) == pytest.approx(paper("ortho", radial), rel=1e-5)
    # Parseval: with w = 1 and the orthonormal DFT the term is the pixel MSE
    assert float(FFTLoss()(ta, tb)) == pytest.approx(float(np.mean((a - b) ** 2)), rel=1e-6)


def test_log_edge_map_matches_mprnet_laplacian():
    x = torch.from_numpy(smooth_image(16, 16))[None, None]
    k = np.array([0.05, 0.25, 0.4, 0.25, 0.05])
    kern = np.outer(k, k)

    def blur(a):
        p = np.pad(a, 2, mode="edge")
        return np.array([[np.sum(p[i : i + 5, j : j + 5] * kern) for j in range(a.shape[1])] for i in range(a.shape[0])])

    a = x[0, 0].double().numpy()
    f = blur(a)
    up = np.zeros_like(f)
    up[::2, ::2] = f[::2, ::2] * 4
    expected = a - blur(up)
    got = EdgeLoss("log").double().edges(x.double())[0, 0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)  # kernel taps are float32


def test_weights_combine_and_zero_switches_a_term_off():
    blurred, sharp = pair(2.0)
    total, terms = RestorationLoss(LossConfig())(blurred, sharp)
    assert set(terms) == {"l1", "edge", "fft"}
    expected = (
        (blurred - sharp).abs().mean() + 0.05 * EdgeLoss()(blurred, sharp) + 0.01 * FFTLoss()(blurred, sharp)
    )
    torch.testing.assert_close(total, expected)
    total, terms = RestorationLoss(LossConfig(edge=0, fft=0))(blurred, sharp)
    assert set(terms) == {"l1"}
    torch.testing.assert_close(total, (blurred - sharp).abs().mean())
    with pytest.raises(ValueError):
        RestorationLoss(LossConfig(l1=0, edge=0, fft=0))


@pytest.mark.parametrize("bad", [dict(l1=-1), dict(edge_operator="canny"), dict(fft_norm="forward"), dict(lambda1=0.1)])
def test_loss_config_rejects(bad):
    with pytest.raises(ValueError):
        LossConfig(**bad)
