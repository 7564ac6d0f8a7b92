"""The degradation model of the synthetic training pairs and the blur sweep (midnet/data/degrade.py)."""

from __future__ import annotations

import numpy as np
import pytest

from midnet.quality.blur_sweep import IN_FOCUS, conditions, gains, score_micrograph
from midnet.data.crops import sample_batch
from midnet.data.degrade import PSF_SHAPES, Degradation, SyntheticPairs, degrade_frame, degraded_crop, draw
from midnet.data.pairs import Pair

from ..conftest import smooth_image


def _second_moments(k: np.ndarray) -> tuple[float, float]:
    r = k.shape[0] // 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return float(np.sqrt((k * x * x).sum())), float(np.sqrt((k * y * y).sum()))


@pytest.mark.parametrize("shape", ["gaussian", "disc"])
@pytest.mark.parametrize("sigma", [1.0, 3.0, 6.0])
def test_one_width_means_one_spread_whatever_the_shape(shape, sigma):
    """sigma is the PSF's standard deviation: a disc of radius 2 sigma spreads as far as a Gaussian of sigma."""
    k = Degradation(shape, sigma).kernel()
    assert k.sum() == pytest.approx(1.0, abs=1e-9)
    sx, sy = _second_moments(k)
    # the disc's antialiased rim and the kernels' finite reach move the spread by a few per cent at most
    assert sx == pytest.approx(sigma, rel=0.05) and sy == pytest.approx(sigma, rel=0.05)


@pytest.mark.parametrize("sigma", [0.3, 0.32, 0.5, 0.8])
def test_a_narrow_disc_has_its_width_down_to_the_narrowest_the_sampler_draws(sigma):
    """Below 0.35 px the disc's radius was rescaled by sigma / 0 (the centre pixel alone) and became a 7x7 box."""
    k = Degradation("disc", sigma).kernel()
    assert np.isfinite(k).all() and k.sum() == pytest.approx(1.0, abs=1e-9)
    sx, sy = _second_moments(k)
    # solved to brentq's xtol (1e-9 px of radius): measured <= 7.5e-10 relative; 1e-6 leaves room for summation order
    assert sx == pytest.approx(sigma, rel=1e-6) and sy == pytest.approx(sigma, rel=1e-6)


def test_astigmatic_blur_is_wider_along_its_axis():
    k = Degradation("astigmatic", 4.0, minor=0.5, angle=0.0).kernel()
    sx, sy = _second_moments(k)
    assert sx == pytest.approx(4.0, rel=0.05) and sy == pytest.approx(2.0, rel=0.05)


def test_no_blur_and_no_noise_gives_the_frame_back():
    sharp = np.round(smooth_image(48, 64, seed=1) * 255) / 255
    out = degrade_frame(sharp.astype(np.float32), Degradation("gaussian", 0.0), np.random.default_rng(0), 255.0)
    np.testing.assert_array_equal(out, sharp.astype(np.float32))


def test_noise_has_the_drawn_level_at_the_frame_mean_and_grows_with_the_signal():
    rng = np.random.default_rng(0)
    frame = np.full((256, 512), 0.5, np.float32)
    frame[:, 256:] = 0.75  # brighter half: more noise, as on the real exposures
    noisy = Degradation("gaussian", 0.0, noise=6 / 255).add_noise(frame, rng, 1.0)
    dark, bright = (noisy - frame)[:, :256].std() * 255, (noisy - frame)[:, 256:].std() * 255
    mean = frame.mean()
    assert dark == pytest.approx(6 * (0.5 / mean) ** 0.75, rel=0.03)
    assert bright == pytest.approx(6 * (0.75 / mean) ** 0.75, rel=0.03)


@pytest.mark.parametrize("shape", PSF_SHAPES)
def test_a_crop_is_the_same_as_the_whole_frame_degraded_there(shape):
    """Training crops blur with the frame around them (mirrored at its edges), as a whole frame would."""
    sharp = smooth_image(120, 150, seed=2).astype(np.float32)
    d = Degradation(shape, 3.0, 0.5 if shape == "astigmatic" else 1.0, 0.7)
    whole = degrade_frame(sharp, d, np.random.default_rng(0), 1.0)
    for top, left in [(0, 0), (40, 50), (120 - 32, 150 - 32)]:
        crop = degraded_crop(sharp, top, left, 32, d, np.random.default_rng(0), 1.0)
        np.testing.assert_allclose(crop, whole[top : top + 32, left : left + 32], atol=2e-6)  # float32 FFT rounding


def test_draws_cover_every_shape_no_blur_and_no_noise():
    rng = np.random.default_rng(0)
    ranges = SyntheticPairs(sigma_max=9.0, sharp_share=0.2, noise_max=9 / 255, clean_share=0.15)
    draws = [draw(rng, ranges) for _ in range(2000)]
    assert {d.shape for d in draws} == set(PSF_SHAPES)
    assert np.mean([d.sigma == 0 for d in draws]) == pytest.approx(0.2, abs=0.03)
    assert np.mean([d.noise == 0 for d in draws]) == pytest.approx(0.15, abs=0.03)
    assert max(d.sigma for d in draws) <= 9.0 and max(d.noise for d in draws) <= 9 / 255


def _pair() -> Pair:
    sharp = smooth_image(80, 96, seed=3).astype(np.float32)
    blur = np.clip(sharp * 0.8 + 0.1, 0, 1).astype(np.float32)
    return Pair(name="a", blur=blur, sharp=sharp, infobar=0, shift=(0.0, 0.0), aligned=False, full_scale=255.0)


def test_without_synthetic_pairs_the_batches_are_those_of_before():
    """A run that asks for no synthetic crops draws exactly the batches it drew before they existed."""
    p = _pair()
    x0, y0 = sample_batch([p], 6, 24, 0, 5)
    x1, y1 = sample_batch([p], 6, 24, 0, 5, synthetic=None)
    np.testing.assert_array_equal(x0.numpy(), x1.numpy())
    np.testing.assert_array_equal(y0.numpy(), y1.numpy())


def test_synthetic_crops_take_the_sharp_exposure_as_target():
    p = _pair()
    x, y = sample_batch([p], 16, 24, 0, 3, augment=False, synthetic=SyntheticPairs(share=1.0))
    sharp_view = {np.round(v, 4).tobytes() for v in (p.intensity.forward(p.sharp), p.sharp_intensity.forward(p.sharp))}
    for target in y.numpy()[:, 0]:
        found = False
        for view in sharp_view:
            full = np.frombuffer(view, dtype=np.float32).reshape(p.sharp.shape)
            windows = np.lib.stride_tricks.sliding_window_view(full, (24, 24))
            found |= bool(np.any(np.all(np.abs(windows - np.round(target, 4)) < 1e-3, axis=(2, 3))))
        assert found, "a synthetic target is not a crop of the sharp exposure"
    # and the inputs differ from the targets where a blur or noise was drawn
    assert np.any(np.abs(x.numpy() - y.numpy()).max(axis=(1, 2, 3)) > 0.01)


def test_smooth_crops_are_targets_of_themselves_normalised_as_the_restorer_would():
    from midnet.images import intensity
    from midnet.data.degrade import smooth_field

    p = _pair()
    only_smooth = SyntheticPairs(share=1.0, smooth_share=1.0, clean_share=1.0)  # no noise: input == target
    x, y = sample_batch([p], 12, 32, 0, 2, augment=False, synthetic=only_smooth)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    rng = np.random.default_rng(0)
    fields = [smooth_field(rng, 32) for _ in range(30)]
    assert any(f.min() == f.max() for f in fields) and any(f.min() < f.max() for f in fields)
    for f in fields:  # within the scale, unclipped, and nothing finer than a bow: second differences of 1/31 px steps
        assert 0 <= f.min() and f.max() <= 1
        assert np.abs(np.diff(f, 2, axis=0)).max() < 4 / 31**2 and np.abs(np.diff(f, 2, axis=1)).max() < 4 / 31**2
    flat = intensity.measure(np.full((32, 32), 0.4, np.float32))  # a flat frame: normalised to exactly 0
    assert np.all(flat.forward(np.full((4, 4), 0.4, np.float32)) == 0)
    noisy = SyntheticPairs(share=1.0, smooth_share=1.0, clean_share=0.0)
    x, y = sample_batch([p], 12, 32, 0, 2, augment=False, synthetic=noisy)
    assert np.all(np.abs(x.numpy() - y.numpy()).max(axis=(1, 2, 3)) > 0)


def test_the_sweep_scores_the_input_and_each_restorer_against_the_in_focus_exposure():
    sharp = smooth_image(64, 64, seed=4).astype(np.float32)
    columns = [c for c in conditions(gaussian=(0, 3), disc=(), astigmatic=())]
    identity = lambda frame: frame  # noqa: E731  (a restorer that changes nothing gains exactly 0 dB)
    scores = score_micrograph("m", sharp, columns, [0, 1], {"identity": identity})
    assert {s.condition for s in scores} == {IN_FOCUS, "gaussian 0", "gaussian 3"}
    assert len([s for s in scores if s.condition == IN_FOCUS]) == 2  # one seed: input and the restorer
    assert gains(scores, "identity") == {("m", "gaussian 0"): 0.0, ("m", "gaussian 3"): 0.0}
    blurred = [s.psnr for s in scores if s.condition == "gaussian 3" and s.method == "input"]
    noisy = [s.psnr for s in scores if s.condition == "gaussian 0" and s.method == "input"]
    assert np.mean(blurred) < np.mean(noisy) < 60  # blur costs more than noise alone; neither is lossless
