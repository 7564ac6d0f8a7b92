"""Unit tests for midnet.data.pairs: finding, loading, aligning and splitting pair folders."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from midnet.data.pairs import Pair, find_pairs, load_pairs, split_names
from midnet.data.register import align_to, measure_shift
from midnet.errors import MidnetError

from ..conftest import smooth_image

H, W = 96, 128


def _u8(a: np.ndarray) -> np.ndarray:
    return (np.clip(a, 0, 1) * 255).round().astype(np.uint8)


def _save(path: Path, a: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_u8(a)).save(path)


def make_pairs(root: Path, names: list[str], h: int = H, w: int = W) -> Path:
    """blur/<name>.png and sharp/<name>.png, blur = gaussian_filter(sharp, 2), no shift."""
    for i, name in enumerate(names):
        sharp = smooth_image(h, w, seed=20 + i)
        _save(root / "sharp" / f"{name}.png", sharp)
        _save(root / "blur" / f"{name}.png", gaussian_filter(sharp, 2))
    return root


# ---------------------------------------------------------------- find_pairs


def test_find_pairs_sorted(tmp_path):
    make_pairs(tmp_path, ["c", "a", "b10", "b2"])
    found = find_pairs(tmp_path)
    assert [n for n, _, _ in found] == ["a", "b10", "b2", "c"]
    for name, b, s in found:
        assert b == tmp_path / "blur" / f"{name}.png"
        assert s == tmp_path / "sharp" / f"{name}.png"


def test_find_pairs_ignores_non_images(tmp_path):
    make_pairs(tmp_path, ["a"])
    (tmp_path / "blur" / "notes.txt").write_text("x")
    (tmp_path / "sharp" / "README").write_text("x")
    assert [n for n, _, _ in find_pairs(tmp_path)] == ["a"]


def test_find_pairs_unmatched(tmp_path):
    make_pairs(tmp_path, ["paired_one", "paired_two"])
    _save(tmp_path / "blur" / "only_blurry.png", smooth_image(H, W))
    _save(tmp_path / "sharp" / "only_sharp.png", smooth_image(H, W))
    with pytest.raises(MidnetError) as err:
        find_pairs(tmp_path)
    msg = str(err.value)
    assert "only_blurry" in msg and "only_sharp" in msg
    assert "paired_" not in msg  # matched names are not listed


def test_find_pairs_missing_sharp(tmp_path):
    _save(tmp_path / "blur" / "a.png", smooth_image(H, W))
    with pytest.raises(MidnetError, match="sharp"):
        find_pairs(tmp_path)


def test_find_pairs_missing_blur(tmp_path):
    _save(tmp_path / "sharp" / "a.png", smooth_image(H, W))
    with pytest.raises(MidnetError, match="blur"):
        find_pairs(tmp_path)


def test_find_pairs_empty(tmp_path):
    (tmp_path / "blur").mkdir()
    (tmp_path / "sharp").mkdir()
    with pytest.raises(MidnetError, match="no images"):
        find_pairs(tmp_path)


# ---------------------------------------------------------------- load_pairs


def test_load_pairs_basic(tmp_path):
    make_pairs(tmp_path, ["a", "b"])
    pairs = load_pairs(tmp_path, infobar="none")
    assert [p.name for p in pairs] == ["a", "b"]
    for p in pairs:
        assert isinstance(p, Pair)
        assert p.blur.shape == p.sharp.shape == (H, W)
        assert p.blur.dtype == p.sharp.dtype == np.float32
        assert 0 <= p.blur.min() and p.blur.max() <= 1
        assert p.full_scale == 255.0
        assert p.infobar == 0
        assert max(abs(p.shift[0]), abs(p.shift[1])) < 0.5
        # registered (the default), but the identity map leaves a registered pair untouched
        assert p.aligned
        np.testing.assert_allclose(p.transform.params, np.eye(3), atol=0.02)
    raw = load_pairs(tmp_path, infobar="none", align="none")
    for p, q in zip(pairs, raw):
        assert not q.aligned
        np.testing.assert_allclose(p.blur, q.blur, atol=1e-4)
        np.testing.assert_array_equal(p.sharp, q.sharp)


def test_load_pairs_names(tmp_path):
    make_pairs(tmp_path, ["a", "b", "c"])
    assert [p.name for p in load_pairs(tmp_path, infobar="none", names=["c", "a"])] == ["a", "c"]
    with pytest.raises(MidnetError, match="zzz"):
        load_pairs(tmp_path, infobar="none", names=["zzz"])


def test_load_pairs_infobar_rows_removed(tmp_path):
    make_pairs(tmp_path, ["a"])
    pairs = load_pairs(tmp_path, infobar=10)
    assert pairs[0].infobar == 10
    assert pairs[0].blur.shape == pairs[0].sharp.shape == (H - 10, W)


def test_load_pairs_size_mismatch(tmp_path):
    make_pairs(tmp_path, ["a"])
    _save(tmp_path / "sharp" / "a.png", smooth_image(H, W + 4))
    with pytest.raises(MidnetError, match="a.png"):
        load_pairs(tmp_path, infobar="none")


SHIFT = (3, -7)  # sharp content = blur content moved down 3 px and left 7 px
PAD = 12


def make_shifted_pair(root: Path, name: str = "s") -> tuple[np.ndarray, np.ndarray]:
    """Write a pair whose sharp shows the blur's field of view moved by SHIFT.

    Returns the padded sharp and blur sources (as stored after 8-bit quantisation) so a
    test can look up what any pixel must hold: blur[y, x] = src_blur[PAD + y, PAD + x] and
    sharp[y, x] = src_sharp[PAD + y - SHIFT[0], PAD + x - SHIFT[1]].
    """
    src_sharp = smooth_image(H + 2 * PAD, W + 2 * PAD, seed=31)
    src_blur = gaussian_filter(src_sharp, 2)
    dy, dx = SHIFT
    blur = src_blur[PAD : PAD + H, PAD : PAD + W]
    sharp = src_sharp[PAD - dy : PAD - dy + H, PAD - dx : PAD - dx + W]
    _save(root / "blur" / f"{name}.png", blur)
    _save(root / "sharp" / f"{name}.png", sharp)
    return _u8(src_sharp).astype(np.float32) / 255, _u8(src_blur).astype(np.float32) / 255


def test_measure_shift_sign():
    src = smooth_image(H + 2 * PAD, W + 2 * PAD, seed=31)
    ref = src[PAD : PAD + H, PAD : PAD + W]
    moved = src[PAD - 3 : PAD - 3 + H, PAD + 7 : PAD + 7 + W]  # content moved by (3, -7)
    dy, dx = measure_shift(ref, moved)
    # the shift that moves `moved` back onto `ref` is the opposite one
    assert dy == pytest.approx(-3, abs=0.5)
    assert dx == pytest.approx(7, abs=0.5)


def test_load_pairs_measures_shift(tmp_path):
    make_shifted_pair(tmp_path)
    (pair,) = load_pairs(tmp_path, infobar="none")
    dy, dx = pair.shift
    # (dy, dx) moves sharp onto blur: the opposite of the content shift
    assert dy == pytest.approx(-SHIFT[0], abs=0.5)
    assert dx == pytest.approx(-SHIFT[1], abs=0.5)


def test_load_pairs_align_crops_to_overlap(tmp_path):
    src_sharp, src_blur = make_shifted_pair(tmp_path)
    (pair,) = load_pairs(tmp_path, infobar="none", align=True)
    dy, dx = SHIFT
    assert pair.aligned
    assert pair.blur.shape == pair.sharp.shape == (H - abs(dy), W - abs(dx))
    # the overlap in blur-frame coordinates: sharp shows the sources' rows -dy.., cols -dx..
    y0, x0 = max(-dy, 0), max(-dx, 0)
    h, w = pair.blur.shape
    # both crops show the same field of view, sampled from the same place of the sources
    np.testing.assert_array_equal(pair.blur, src_blur[PAD + y0 : PAD + y0 + h, PAD + x0 : PAD + x0 + w])
    np.testing.assert_array_equal(pair.sharp, src_sharp[PAD + y0 : PAD + y0 + h, PAD + x0 : PAD + x0 + w])
    # so the aligned pair is consistent: away from the borders, blur is the blurred sharp
    inner = (slice(10, -10), slice(10, -10))
    resid = np.abs(gaussian_filter(pair.sharp, 2) - pair.blur)[inner]
    assert resid.max() < 2 / 255


def test_align_to_true_shift():
    """align_to on the known (not measured) shift crops both to the same field of view."""
    src = smooth_image(H + 2 * PAD, W + 2 * PAD, seed=31)
    dy, dx = SHIFT
    ref = src[PAD : PAD + H, PAD : PAD + W]
    moved = src[PAD - dy : PAD - dy + H, PAD - dx : PAD - dx + W]
    a, b = align_to(ref, moved, (-dy, -dx))
    assert a.shape == b.shape == (H - abs(dy), W - abs(dx))
    np.testing.assert_array_equal(a, b)
    y0, x0 = max(-dy, 0), max(-dx, 0)
    np.testing.assert_array_equal(a, src[PAD + y0 : PAD + y0 + a.shape[0], PAD + x0 : PAD + x0 + a.shape[1]])


def test_align_to_rejects_huge_shift():
    img = smooth_image(H, W)
    with pytest.raises(MidnetError, match="field of view"):
        align_to(img, img, (H // 2 + 5, 0))


def test_load_pairs_no_align_warns(tmp_path):
    make_shifted_pair(tmp_path, name="shifty")
    with pytest.warns(UserWarning, match="shifty"):
        (pair,) = load_pairs(tmp_path, infobar="none", align=False)
    assert not pair.aligned
    assert pair.blur.shape == pair.sharp.shape == (H, W)  # left as they are
    assert max(abs(pair.shift[0]), abs(pair.shift[1])) > 1  # flagged as shifted


def test_load_pairs_no_align_no_warn(tmp_path):
    make_shifted_pair(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_pairs(tmp_path, infobar="none", align=False, warn_shift=False)


def test_load_pairs_aligned_pair_no_warning(tmp_path):
    make_pairs(tmp_path, ["a"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (pair,) = load_pairs(tmp_path, infobar="none", align=False)
    assert not pair.aligned


# ---------------------------------------------------------------- split_names

NAMES = [f"m{i}" for i in range(7)]


def test_split_val_names():
    train, val = split_names(list(reversed(NAMES)), val=["m5", "m1"])
    assert val == ["m1", "m5"]
    assert train == ["m0", "m2", "m3", "m4", "m6"]


def test_split_no_val():
    train, val = split_names(NAMES)
    assert train == NAMES and val == []


def test_split_folds_3_over_7():
    held = [split_names(NAMES, folds=3, fold=k)[1] for k in range(3)]
    assert [len(h) for h in held] == [3, 2, 2]
    flat = [n for h in held for n in h]
    assert sorted(flat) == NAMES  # cover everything
    assert len(set(flat)) == len(flat)  # disjoint
    for k in range(3):
        train, val = split_names(NAMES, folds=3, fold=k)
        assert sorted(train + val) == NAMES
        assert not set(train) & set(val)


def test_split_folds_deterministic_order():
    a = split_names(NAMES, folds=3, fold=1)
    b = split_names(list(reversed(NAMES)), folds=3, fold=1)
    assert a == b


def test_split_unknown_val():
    with pytest.raises(MidnetError, match="nope"):
        split_names(NAMES, val=["m1", "nope"])


def test_split_too_many_folds():
    with pytest.raises(MidnetError, match="folds"):
        split_names(NAMES, folds=8, fold=0)


def test_split_bad_fold_index():
    with pytest.raises(MidnetError, match="fold"):
        split_names(NAMES, folds=3, fold=3)


def test_split_all_held_out():
    with pytest.raises(MidnetError):
        split_names(["a", "b"], val=["a", "b"])


# ---------------------------------------------------------------- affine registration


def _stretched_pair(scale_x=1.02, angle_deg=0.15, shift=(-9.0, 6.0), size=(480, 640), seed=41):
    """A sharp frame and a blurry exposure of the same field, stretched, turned and moved (as an SEM refocus does)."""
    from skimage.transform import AffineTransform, warp

    h, w = size
    sharp = np.clip(gaussian_filter(np.random.default_rng(seed).random((h, w)), 1.2) * 3 - 1, 0, 1).astype(np.float32)
    truth = AffineTransform(scale=(scale_x, 1.0), rotation=np.radians(angle_deg), translation=shift)  # sharp -> blur
    blur = warp(gaussian_filter(sharp, 1.5), truth.inverse, order=3, mode="edge", preserve_range=True)
    return sharp, np.clip(blur, 0, 1).astype(np.float32), truth


def test_measure_transform_recovers_stretch_turn_and_shift():
    from midnet.data.register import measure_transform

    sharp, blur, truth = _stretched_pair()
    t = measure_transform(sharp, blur)
    assert t.scale[0] == pytest.approx(1.02, abs=0.003) and t.scale[1] == pytest.approx(1.0, abs=0.003)
    corners = np.array([[0, 0], [639, 0], [0, 479], [639, 479]], float)
    assert np.abs(t(corners) - truth(corners)).max() < 1.0  # within a pixel over the whole frame


def test_register_resamples_blur_onto_sharp_and_beats_a_shift():
    from midnet.data.register import measure_transform, register
    from midnet.quality.metrics import psnr

    sharp, blur, _ = _stretched_pair()
    moved, target = register(sharp, blur, measure_transform(sharp, blur))
    assert moved.shape == target.shape and moved.shape[0] > 440 and moved.shape[1] > 580
    blurred_truth = gaussian_filter(sharp, 1.5)
    # the target is the sharp frame itself, cropped, never resampled
    th, tw = target.shape
    offsets = [(y, x) for y in range(sharp.shape[0] - th + 1) for x in range(sharp.shape[1] - tw + 1)
               if np.array_equal(sharp[y : y + th, x : x + tw], target)]
    assert len(offsets) == 1, "the target must be a crop of the sharp frame"
    y0, x0 = offsets[0]
    expected = blurred_truth[y0 : y0 + moved.shape[0], x0 : x0 + moved.shape[1]]
    inner = (slice(8, -8), slice(8, -8))
    registered = psnr(expected[inner], moved[inner], data_range=1.0)
    a, b = align_to(blur, sharp, measure_shift(blur, sharp))  # the integer shift alone
    assert registered > 30  # nearest neighbour: within half a pixel everywhere
    assert registered > psnr(gaussian_filter(b, 1.5)[inner], a[inner], data_range=1.0) + 8
    # and the resampling copies raw pixels, never blends them: the noise a network meets stays as it was
    assert np.isin(moved, blur).all()


def test_load_pairs_affine_default_and_bool_compatibility(tmp_path):
    from PIL import Image

    sharp, blur, _ = _stretched_pair()
    for folder, img in (("sharp", sharp), ("blur", blur)):
        (tmp_path / folder).mkdir()
        Image.fromarray((img * 255).round().astype(np.uint8)).save(tmp_path / folder / "m.png")
    (affine,) = load_pairs(tmp_path, infobar="none")
    (shifted,) = load_pairs(tmp_path, infobar="none", align=True)  # True: the integer shift of earlier runs
    assert affine.aligned and affine.transform is not None and affine.transform.scale[0] == pytest.approx(1.02, abs=0.005)
    assert shifted.aligned and shifted.transform is None
    with pytest.raises(MidnetError, match="unknown alignment"):
        load_pairs(tmp_path, infobar="none", align="elastic")
