"""Per-crop re-registration of training targets (data.target_shift: local).

The pair is synthetic with a known misalignment that no single map removes: the blurry
exposure's content is displaced by a sine across the frame, as a drifting scan would.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, map_coordinates
from skimage.registration import phase_cross_correlation

from midnet.data.crops import LOCAL_MARGIN, batch_rng, sample_batch
from midnet.data.local_shift import measure_local_shifts, shifted_target
from midnet.data.pairs import Pair
from midnet.training.config import DataSection

H, W, AMPLITUDE = 448, 640, 1.2


def displacement(x):
    """Content of the blurry frame at column x shows the scene at x + d(x)."""
    return AMPLITUDE * np.sin(2 * np.pi * x / W)


def make_pair(name: str, displace, h: int = H, w: int = W) -> Pair:
    """A textured scene as the sharp frame; the blurry one shows it at column x + displace(x), blurred."""
    rng = np.random.default_rng(3)
    scene = gaussian_filter(rng.random((h, w)), 1.5)
    scene = (scene - scene.min()) / (scene.max() - scene.min())
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    moved = map_coordinates(scene, [rows, cols + displace(cols)], order=3, mode="reflect")
    blur = np.clip(gaussian_filter(moved, 2.0), 0, 1).astype(np.float32)
    return Pair(name, blur, scene.astype(np.float32), 0, (0.0, 0.0), True, 1.0)


def residuals(x, y) -> np.ndarray:
    """Each crop's largest remaining shift between blurry input and target over its four quarters."""
    def shift(a, b):
        return float(np.hypot(*phase_cross_correlation(a, b, upsample_factor=20, normalization=None)[0]))

    out = []
    for a, b in zip(x[:, 0].numpy(), y[:, 0].numpy()):
        n = a.shape[0] // 2
        quarters = [(slice(r, r + n), slice(c, c + n)) for r in (0, n) for c in (0, n)]
        out.append(max(shift(a[q], b[q]) for q in quarters))
    return np.array(out)


@pytest.fixture(scope="module")
def drifting_pair() -> Pair:
    return make_pair("drift", displacement)


def test_the_local_misalignment_is_measured_where_it_is(drifting_pair):
    field = measure_local_shifts(drifting_pair.blur, drifting_pair.sharp, patch=128, step=64)
    errors = []
    for y in field.centres_y[1:-1]:
        for x in field.centres_x[1:-1]:
            dy, dx = field.at(y, x)
            # sharp moved by -d lands on blur; the frame's median (0 for a whole sine period) is removed
            errors.append((abs(dy), abs(dx + displacement(x))))
    errors = np.array(errors)
    # measured: 0.00 px in dy, 0.19 px in dx (a 128 px patch averages the sine's curvature, the
    # 3x3 median flattens its peaks, matches are on a 1/20 px grid); arithmetic differs by ~1e-12
    assert errors[:, 0].max() < 0.15 and errors[:, 1].max() < 0.3, errors.max(axis=0)
    # and it is a real signal, not zeros: the sine reaches 1.2 px
    assert max(abs(field.at(H / 2, x)[1]) for x in field.centres_x) > 0.8


def test_local_targets_line_up_with_their_blurry_crops(drifting_pair):
    frame, local = (float(residuals(*sample_batch([drifting_pair], 16, 96, seed=0, iteration=0, local_targets=on)).mean())
                    for on in (False, True))
    # measured: 0.74 px with frame targets, 0.23 with local ones (noise floor of 48 px quarters)
    assert frame > 0.5 and local < frame / 2, (frame, local)


def test_a_crop_one_shift_cannot_register_is_not_drawn():
    # a scan that settles late: the first 120 columns are up to 6 px off, the rest lines up
    pair = make_pair("scan-start", lambda x: np.clip(6.0 * (1 - x / 120), 0, None), h=320, w=640)
    frame = np.concatenate([residuals(*sample_batch([pair], 16, 96, 0, it)) for it in range(2)])
    local = np.concatenate([residuals(*sample_batch([pair], 16, 96, 0, it, local_targets=True)) for it in range(2)])
    assert frame.max() > 2.0, frame  # some frame targets are pixels off: the lever has something to fix
    # measured: frame targets up to 4.05 px, local ones at most 0.07 px
    assert local.max() < 0.5, local


def test_a_zero_shift_leaves_the_target_as_it_was():
    window = np.random.default_rng(0).random((64 + 2 * LOCAL_MARGIN, 80 + 2 * LOCAL_MARGIN)).astype(np.float32)
    out = shifted_target(window, (0.0, 0.0), LOCAL_MARGIN)
    np.testing.assert_allclose(out, window[LOCAL_MARGIN:-LOCAL_MARGIN, LOCAL_MARGIN:-LOCAL_MARGIN], atol=1e-6)


def test_a_flat_pair_has_no_local_shift():
    flat = np.full((256, 256), 0.5, np.float32)
    field = measure_local_shifts(flat, flat, patch=128, step=64)
    assert not field.shifts.any()


def test_frame_targets_are_the_crops_the_seeded_draws_name(drifting_pair):
    # the default path draws what it always drew (resumed runs see the same data): frame by area,
    # top, left, rotation, flip, in that order, from batch_rng(seed, iteration, rank)
    x, y = sample_batch([drifting_pair], 3, 96, seed=5, iteration=7)
    rng = batch_rng(5, 7, 0)
    rng.choice(1, size=3, p=[1.0])
    scale = drifting_pair.intensity
    for i in range(3):
        top, left = rng.integers(0, H - 96 + 1), rng.integers(0, W - 96 + 1)
        k_rot, flip = int(rng.integers(4)), bool(rng.integers(2))
        expect = np.rot90(drifting_pair.sharp[top : top + 96, left : left + 96], k_rot)
        expect = expect[:, ::-1] if flip else expect
        np.testing.assert_array_equal(y[i, 0].numpy(), scale.forward(expect))


def test_an_integer_shift_moves_the_target_by_whole_pixels():
    window = np.random.default_rng(1).random((40 + 2 * LOCAL_MARGIN, 48 + 2 * LOCAL_MARGIN)).astype(np.float32)
    m = LOCAL_MARGIN
    out = shifted_target(window, (2.0, -3.0), m)
    # out(y, x) = in(y - 2, x + 3): content moves 2 rows down and 3 columns left
    np.testing.assert_allclose(out, window[m - 2 : -m - 2, m + 3 : -m + 3], atol=1e-5)


def test_a_shift_beyond_the_margin_is_refused():
    with pytest.raises(ValueError, match="margin"):
        shifted_target(np.zeros((64, 64), np.float32), (0.0, 16.0), 16)


def test_local_targets_need_a_registration():
    with pytest.raises(ValueError, match="target_shift: local"):
        DataSection(path=".", align="none", target_shift="local")
    with pytest.raises(ValueError, match="target_shift: local"):
        DataSection(path=".", protocol="paper", target_shift="local")
    assert DataSection(path=".", target_shift="local").target_shift == "local"


def test_a_one_row_grid_interpolates_along_its_row_and_holds_beyond_it():
    from midnet.data.local_shift import LocalShifts

    field = LocalShifts(np.array([10.0]), np.array([5.0, 15.0]), np.array([[[0.0, 0.0], [2.0, 4.0]]]))
    assert field.at(0, 10) == (1.0, 2.0)  # halfway between the two patch centres, any row
    assert field.at(99, 0) == (0.0, 0.0) and field.at(10, 20) == (2.0, 4.0)  # held at the outermost centres


def scan_start_pair() -> Pair:
    """A scan that settles late: the first 120 columns are up to 6 px off, the rest lines up."""
    return make_pair("scan-start", lambda x: np.clip(6.0 * (1 - x / 120), 0, None), h=320, w=640)


def test_the_registered_region_is_the_frame_less_its_scan_start():
    from midnet.data.local_shift import registered_mask

    pair = scan_start_pair()
    mask = registered_mask(pair.blur, pair.sharp)  # 96 px squares, the last row and column flush with the edges
    # measured: the first column of squares 3.45-3.75 px off, the second 0.10-0.15 px, the rest 0.00
    assert not mask[:, :96].any()
    assert mask[:, 96:].all()  # including the rows and columns past the last whole square


def test_scoring_the_registered_region_stops_charging_a_restoration_for_the_scan_start():
    from midnet.data.local_shift import registered_mask
    from midnet.quality.evaluate import score_pair
    from midnet.quality.metrics import psnr

    pair = scan_start_pair()
    # the perfect restoration of the blurry frame: the scene as the blurry exposure saw it, unblurred
    rows, cols = np.mgrid[0:320, 0:640].astype(np.float64)
    seen = map_coordinates(pair.sharp.astype(np.float64), [rows, cols + np.clip(6.0 * (1 - cols / 120), 0, None)],
                           order=3, mode="reflect").astype(np.float32)
    whole, registered = score_pair(seen, pair), score_pair(seen, pair, region="registered")
    assert "scored_fraction" not in whole  # the protocol's result keeps its schema
    assert registered["scored_fraction"] == pytest.approx(544 / 640)  # all but the first 96 columns
    # measured: 42.05 dB in the registered squares (cubic interpolation error of the synthetic
    # scene; the arithmetic differs across CPUs by ~1e-12), 25.64 dB over the whole frame,
    # where the scan start, which it restored faithfully, is scored against a target 6 px off
    assert registered["psnr"] > 40 and whole["psnr"] < registered["psnr"] - 10, (whole, registered)
    # the blurry input is scored on the same squares
    mask = registered_mask(pair.blur, pair.sharp)
    assert registered["input_psnr"] == psnr(pair.sharp, pair.blur, data_range=1.0, mask=mask)


def test_a_pair_with_no_registered_square_is_named_in_one_line():
    from midnet.errors import MidnetError
    from midnet.quality.evaluate import score_pair

    pair = make_pair("shifted", lambda x: np.full_like(x, 3.0), h=192, w=192)  # 3 px off everywhere
    with pytest.raises(MidnetError, match="shifted: no 96 px square of the pair lines up to 0.5 px"):
        score_pair(pair.sharp, pair, region="registered")
    assert score_pair(pair.sharp, pair)["psnr"] > 0  # the protocol still scores it
