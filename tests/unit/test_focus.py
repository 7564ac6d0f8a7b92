"""midnet.quality.focus on small generated images: known Gaussian blur, flat specimens, layouts, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from midnet.quality import focus
from midnet.errors import MidnetError
from midnet.images.io import read_image

WIDTHS = (0, 1, 2, 3, 4, 6, 8)


def dead_leaves(n: int = 256, seed: int = 0) -> np.ndarray:
    """Occluding discs of random gray with power-law radii: a texture with a power-law spectrum and sharp edges."""
    rng = np.random.default_rng(seed)
    img = np.full((n, n), 0.5)
    yy, xx = np.mgrid[0:n, 0:n]
    for _ in range(1500):
        r = min(40.0, 1.5 / math.sqrt(rng.uniform(0.001, 1.0)))
        cy, cx = rng.uniform(-r, n + r, 2)
        y0, y1, x0, x1 = max(int(cy - r), 0), min(int(cy + r) + 1, n), max(int(cx - r), 0), min(int(cx + r) + 1, n)
        if y0 < y1 and x0 < x1:
            m = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 < r * r
            img[y0:y1, x0:x1][m] = rng.uniform(0.15, 0.85)
    return img


def degrade(img: np.ndarray, sigma: float, noise_levels: float = 3.0, seed: int = 1) -> np.ndarray:
    b = ndi.gaussian_filter(img, sigma) if sigma else img
    rng = np.random.default_rng(seed)
    return np.clip(np.round((b + rng.normal(0, noise_levels / 255, b.shape)) * 255), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    return dead_leaves()


@pytest.fixture(scope="module")
def series(texture):
    return {s: focus.score(degrade(texture, s), infobar="none") for s in WIDTHS}


def test_blur_px_is_monotone_in_the_true_blur(series):
    values = [series[s].blur_px for s in WIDTHS]
    assert all(b > a for a, b in zip(values, values[1:])), values


def test_raw_fit_matches_the_true_total_blur(series):
    """The physical model fit, before calibration: within 15% of sqrt(s0**2 + s**2) from 2 px up,
    s0 being the texture's own blur as the fit measures it unblurred (rendering and pixels)."""
    s0 = series[0].raw_px
    assert 0.3 < s0 < 1.5
    for s in WIDTHS[2:]:
        assert series[s].raw_px == pytest.approx(math.hypot(s0, s), rel=0.15), s


def test_calibrated_blur_within_the_stated_error(series):
    """The calibration was fitted on SEM frames (docs/results.md section 8): on this generic texture
    it stays within 35% of the true total blur from 2 px up."""
    s0 = series[0].raw_px
    for s in WIDTHS[2:]:
        assert series[s].blur_px == pytest.approx(math.hypot(s0, s), rel=0.35), s


def test_noise_does_not_make_a_blurred_frame_look_sharp(texture):
    quiet = focus.score(degrade(texture, 4, 1), infobar="none").blur_px
    noisy = focus.score(degrade(texture, 4, 9), infobar="none").blur_px
    assert noisy == pytest.approx(quiet, rel=0.3)
    assert noisy > focus.score(degrade(texture, 1, 1), infobar="none").blur_px


def test_textured_frames_are_confident(series):
    assert all(series[s].confidence > 0.6 for s in WIDTHS)


@pytest.mark.parametrize("kind", ["ramp", "waves", "constant"])
@pytest.mark.parametrize("noise_levels", [0, 2, 6])
def test_flat_smooth_specimen_gets_low_confidence(kind, noise_levels):
    n = 256
    y, x = np.mgrid[0:n, 0:n] / n
    img = {"ramp": 0.3 + 0.3 * x, "waves": 0.5 + 0.2 * np.sin(3 * np.pi * x) * np.cos(2.4 * np.pi * y),
           "constant": np.full((n, n), 0.4)}[kind]
    s = focus.score(degrade(img, 0, noise_levels), infobar="none")
    assert s.confidence < focus.MIN_CONFIDENCE
    assert s.verdict == "uncertain"


def test_constant_frame_has_no_blur_value():
    s = focus.score(np.full((128, 128), 7, np.uint8), infobar="none")
    assert math.isnan(s.blur_px) and s.confidence == 0.0 and s.verdict == "uncertain"


def test_verdicts_follow_the_thresholds():
    assert focus.SHARP_MAX_PX <= focus.WORTH_MIN_PX < focus.RESTORE_MAX_PX
    assert focus.verdict_of(focus.SHARP_MAX_PX - 0.01, 0.9) == "sharp"
    assert focus.verdict_of(focus.WORTH_MIN_PX + 0.01, 0.9) == "worth restoring"
    # a model that helps some frames and harms others at one score (1.1 at 4.1-5.1 px) has a band between
    assert focus.verdict_of(4.6, 0.9, sharp_max=4.1, worth_min=5.1) == "borderline"
    assert focus.verdict_of(focus.RESTORE_MAX_PX + 0.1, 0.9) == "too blurred"
    # one line of the user's (--blur-threshold) closes the band
    assert focus.verdict_of(5.0, 0.9, sharp_max=4.9, worth_min=4.9) == "worth restoring"
    assert focus.verdict_of(5.0, focus.MIN_CONFIDENCE / 2) == "uncertain"
    assert focus.verdict_of(5.0, 0.9, sharp_max=6.0) == "sharp"


def test_needs_restoring(texture, series):
    assert series[0].verdict == "sharp"
    restore, s = focus.needs_restoring(degrade(texture, 8), infobar="none")  # blur_px ~6.9: above WORTH_MIN_PX
    assert restore and s.verdict == "worth restoring"
    restore, s = focus.needs_restoring(degrade(texture, 0), infobar="none")
    assert not restore and "sharp" in focus.skip_reason(s)
    restore, _ = focus.needs_restoring(degrade(texture, 0), threshold=0.1, infobar="none")
    assert restore  # a lower threshold restores it after all


def test_a_borderline_frame_is_not_restored_and_says_why():
    s = focus.FocusScore(blur_px=4.6, confidence=0.9,
                         verdict="borderline", raw_px=0.0, noise=0.0)
    assert "helped some frames and harmed others" in focus.skip_reason(s)


def test_info_bar_is_excluded(texture):
    frame = degrade(texture, 3)
    with_bar = np.vstack([frame, np.zeros((24, frame.shape[1]), np.uint8)])
    with_bar[-16:-8, 10:120] = 255  # text on a black bar
    a = focus.score(frame, infobar="none").blur_px
    assert focus.score(with_bar, infobar="auto").blur_px == pytest.approx(a, rel=1e-6)
    assert focus.score(with_bar, infobar=24).blur_px == pytest.approx(a, rel=1e-6)


def test_layouts_and_dtypes_agree(texture):
    g8 = degrade(texture, 3)
    ref = focus.score(g8, infobar="none").blur_px
    rgb = np.repeat(g8[..., None], 3, axis=2)
    assert focus.score(rgb, infobar="none").blur_px == pytest.approx(ref, rel=1e-6)
    assert focus.score(g8.astype(np.uint16) * 257, infobar="none").blur_px == pytest.approx(ref, rel=1e-3)
    assert focus.score(g8 / 255.0, infobar="none").blur_px == pytest.approx(ref, rel=1e-3)


def test_blur_in_nanometres(texture):
    s = focus.score(degrade(texture, 3), infobar="none", pixel_size_nm=12.5)
    assert s.blur_nm == pytest.approx(12.5 * s.blur_px)
    assert focus.score(degrade(texture, 3), infobar="none").blur_nm is None


def test_large_blur_goes_through_binning():
    img = dead_leaves(512, seed=2)
    s12 = focus.score(degrade(img, 12), infobar="none")
    s20 = focus.score(degrade(img, 20), infobar="none")
    assert s20.blur_px > s12.blur_px > focus.score(degrade(img, 6), infobar="none").blur_px


def test_reblur_comparison_estimator_is_monotone(texture):
    values = [focus.reblur_sigma(degrade(texture, s) / 255.0) for s in (1, 3, 6)]
    assert values[0] < values[1] < values[2]


def test_errors_are_one_line():
    with pytest.raises(MidnetError, match="too small"):
        focus.score(np.zeros((32, 400), np.uint8) + np.arange(400, dtype=np.uint8)[None] % 7, infobar="none")
    with pytest.raises(MidnetError, match="shape"):
        focus.score(np.zeros((2, 64, 64, 3, 1), np.uint8))


def test_score_file_scores_every_page(tmp_path, texture):
    stack = np.stack([degrade(texture, 0), degrade(texture, 5)])
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    recs = focus.score_file(tmp_path / "stack.tif", infobar="none", pixel_size_nm=2.0)
    assert [r["page"] for r in recs] == [0, 1]
    assert recs[1]["blur_px"] > recs[0]["blur_px"]
    assert recs[1]["blur_nm"] == pytest.approx(2.0 * recs[1]["blur_px"], rel=1e-2)
    assert set(focus.CSV_FIELDS) <= set(recs[0])


def test_report_writes_csv_and_picture(tmp_path, texture):
    from PIL import Image

    for s in (0, 3, 8):
        Image.fromarray(degrade(texture, s)).save(tmp_path / f"f{s}.png")
    recs = [r for s in (0, 3, 8) for r in focus.score_file(tmp_path / f"f{s}.png", infobar="none")]
    csv_path, png = focus.write_report(recs, tmp_path / "rep", infobar="none")
    lines = csv_path.read_text().splitlines()
    assert lines[0].split(",") == list(focus.CSV_FIELDS) and len(lines) == 4
    assert lines[1].startswith(str(tmp_path / "f8.png"))  # blurriest first
    assert read_image(png).array.ndim == 3


def test_only_blurry_picks_the_blurry_files_and_scores_before_and_after(tmp_path, texture):
    from PIL import Image

    from midnet.images.batch import Job

    jobs = []
    for name, s in (("sharp", 0), ("blurred", 8), ("flat", None)):
        img = degrade(texture, s) if s is not None else np.full((128, 128), 90, np.uint8)
        Image.fromarray(img).save(tmp_path / f"{name}.png")
        jobs.append(Job(tmp_path / f"{name}.png", tmp_path / "out" / f"{name}.png", tmp_path / "out" / f"{name}_c.png"))
    picker = focus.OnlyBlurry(infobar="none")
    kept = picker.select(jobs)
    assert [j.source.name for j in kept] == ["blurred.png"]
    reasons = dict(picker.skipped)
    assert "sharp" in reasons[tmp_path / "sharp.png"] and "too little structure" in reasons[tmp_path / "flat.png"]
    sharpen = picker.wrap(lambda frame: degrade(texture, 0))  # a perfect "restoration"
    sharpen(read_image(kept[0].source).array)
    picker.file_done(kept[0], "restored")
    (line,) = picker.lines()
    assert "blurred.png" in line and "before" in line and "after" in line
    assert picker.after[kept[0].source].blur_px < picker.before[kept[0].source].blur_px
    picture = picker.compare_writer(degrade(texture, 6), degrade(texture, 0), tmp_path / "c.png")
    assert picture.is_file()
    assert focus.OnlyBlurry(threshold=0.1, infobar="none").select(jobs[:1])  # a lower threshold keeps the sharp one
