"""midnet/pipeline.py: each frame's info bar is found once, for the domain check, the restorer and the triage."""

from __future__ import annotations

import json

import numpy as np
import pytest

import midnet
from midnet.quality import domain
from midnet.images import infobar
from midnet.pipeline import FramePipeline
from midnet.inference.restore import infobar_rows
from midnet.inference.settings import RestoreSettings

from ..conftest import smooth_image


def _framed(seed: int = 1) -> np.ndarray:
    """A 128 px 8-bit frame, a little blurred, with a 16-row info bar of "text" on black at its bottom."""
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(smooth_image(128, 128, seed), 2.0)
    f = np.round(np.clip(0.2 + 0.6 * f + 0.01 * np.random.default_rng(seed).standard_normal(f.shape), 0, 1) * 255)
    f = f.astype(np.uint8)
    f[-16:] = 0
    f[-12:-4, 10:60:3] = 255
    return f


@pytest.fixture
def weights(tmp_path):
    ranges = domain.fit([domain.describe_image(_framed(2), "auto")])
    return midnet.save_model(midnet.create_model("midnet-s", width=8), tmp_path / "m.safetensors",
                             metadata={domain.DOMAIN_KEY: json.dumps(ranges)})


@pytest.mark.parametrize("uncertainty", [False, True])
def test_the_info_bar_is_found_once_per_frame_and_the_result_is_the_restorers(weights, monkeypatch, uncertainty):
    settings = RestoreSettings.exact(model=str(weights), only_blurry=True, uncertainty=uncertainty)
    pipeline = FramePipeline.build(settings)
    assert pipeline.watch is not None and pipeline.triage is not None  # all three read the info bar
    frame = _framed()
    found = []
    detect = infobar.detect_infobar
    monkeypatch.setattr(infobar, "detect_infobar", lambda image: found.append(1) or detect(image))
    out = pipeline.restore_one(frame)
    assert len(found) == 1 and pipeline.watch.seen == 1
    monkeypatch.setattr(infobar, "detect_infobar", detect)
    restore = pipeline.restorer.deblur_with_spread if uncertainty else pipeline.restorer.deblur
    want = restore(frame, "auto")
    for got, expected in zip(out if uncertainty else (out,), want if uncertainty else (want,)):
        np.testing.assert_array_equal(got, expected)
    assert infobar_rows(frame, "auto") == 16


def test_a_frame_the_restorer_takes_apart_or_refuses_is_left_to_it():
    frame = _framed()
    assert infobar_rows(frame[..., None], "auto") == 16  # (H, W, 1): as the restorer sees it
    assert infobar_rows(np.stack([frame] * 5, axis=2), "auto") is None  # five channels: a stack to deblur
    assert infobar_rows(np.full((64, 64), np.nan, np.float32), "auto") is None  # the restorer says why
    assert infobar_rows(frame, 200) is None  # taller than the frame: the restorer's own message
    assert infobar_rows(frame, "none") == 0 and infobar_rows(frame, 10) == 10
