"""midnet/quality/domain.py: measures that do not depend on storage, and the warning of `midnet deblur`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import midnet
from midnet.quality import domain

from ..conftest import smooth_image


def noisy(sigma: float, seed: int = 0, h: int = 256, w: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(0.2 + 0.6 * smooth_image(h, w, seed) + sigma * rng.standard_normal((h, w)), 0, 1)


@pytest.mark.parametrize("sigma", [0.01, 0.03, 0.1])
def test_noise_estimate_of_white_noise_on_a_flat_field(sigma):
    field = 0.5 + sigma * np.random.default_rng(1).standard_normal((300, 300))
    assert domain.noise_sigma(field) == pytest.approx(sigma, rel=0.05)


def test_measures_do_not_depend_on_gain_offset_or_bit_depth():
    f = noisy(0.03)
    eight = np.round(f * 255).astype(np.uint8)
    twelve = eight.astype(np.uint16) * np.uint16(16)
    a, b = domain.describe_image(eight, "none"), domain.describe_image(twelve, "none")
    assert a["noise"] == pytest.approx(b["noise"], rel=1e-4) and a["clipped"] == b["clipped"]
    assert b["levels"] == pytest.approx(16 * a["levels"], rel=1e-4)  # the same data on a 16x finer grid
    c = domain.describe_image((f * 0.4 + 3.0).astype(np.float32), "none")
    assert c["noise"] == pytest.approx(domain.describe(f, 1.0)["noise"], rel=1e-3) and "levels" not in c


def test_departures_name_the_measure_and_ignore_finer_quantisation():
    ranges = {"noise": [0.02, 0.04], "levels": [100.0, 200.0], "clipped": [0.0, 0.001]}
    assert domain.departures({"noise": 0.03, "levels": 5000.0, "clipped": 0.0}, ranges) == []
    reasons = domain.departures({"noise": 0.2, "levels": 20.0, "clipped": 0.2}, ranges)
    assert len(reasons) == 3 and reasons[0].startswith("noise") and "clipped" in reasons[2]
    assert domain.departures({"noise": 0.005}, ranges)[0].startswith("noise 0.005 below")


@pytest.mark.parametrize("where", [[], ["--cluster", "local:1", "--report", "r.jsonl"]], ids=["here", "dask"])
def test_deblur_warns_once_for_inputs_unlike_the_training_data(tmp_path, where):
    if where:
        pytest.importorskip("distributed")
        where = [*where[:3], str(tmp_path / where[3])]
    net = midnet.create_model("midnet-s", width=8)
    clean = domain.describe(noisy(0.005, seed=3), 255)
    ranges = domain.fit([clean])
    weights = midnet.save_model(net, tmp_path / "m.safetensors", metadata={domain.DOMAIN_KEY: json.dumps(ranges)})
    (tmp_path / "in").mkdir()
    for i, sigma in enumerate((0.005, 0.1, 0.1)):
        Image.fromarray(np.round(noisy(sigma, seed=3) * 255).astype(np.uint8)).save(tmp_path / "in" / f"{i}.png")
    proc = subprocess.run([sys.executable, "-m", "midnet.cli", "deblur", str(tmp_path / "in"), "-o",
                           str(tmp_path / "out"), "--model", str(weights), "--infobar", "none",
                           "--engine", "torch", *where],  # the warning, not auto's measurement, is tested

                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "2 of 3 frames" in warnings[0] and "midnet finetune" in warnings[0]
    if where:  # the workers' checks travel in the report lines too
        lines = {Path(x["input"]).name: x for x in map(json.loads, (tmp_path / "r.jsonl").read_text().splitlines())}
        assert lines["0.png"]["outside_domain"] == [] and len(lines["1.png"]["outside_domain"]) == 1
        assert lines["1.png"]["outside_domain"][0][0] == 1  # the file's first (only) frame
        assert all(x["frames"] == 1 for x in lines.values())


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"noise": 3}', '{"noise": ["a", "b"]}'])
def test_a_damaged_domain_record_means_no_check(raw):
    assert domain.domain_from_metadata({domain.DOMAIN_KEY: raw}) is None


def test_files_checked_elsewhere_keep_their_frames_numbers_in_the_batch():
    watch = domain.DomainWatch({"noise": [0.0, 0.01]}, "m")
    watch.add_file(2, [])
    watch.add_file(3, [[3, ["noise 0.2 above 0.01"]]])  # only the third page of a 3-page file
    assert watch.seen == 5 and watch.outside == [(5, ["noise 0.2 above 0.01"])]
    fresh = watch.fresh()
    assert fresh.seen == 0 and not fresh.outside and fresh.domain == watch.domain


def focused(blur: float, seed: int) -> np.ndarray:
    """A 256 px 8-bit frame blurred by ``blur`` px (0: in focus), with a little noise."""
    from scipy.ndimage import gaussian_filter

    f = smooth_image(256, 256, seed)
    f = gaussian_filter(f, blur) if blur else f
    noise = 0.01 * np.random.default_rng(seed).standard_normal(f.shape)
    return np.round(np.clip(0.2 + 0.6 * f + noise, 0, 1) * 255).astype(np.uint8)


def test_an_in_focus_frame_is_said_to_look_already_sharp_and_only_blurry_is_suggested(tmp_path):
    import inspect

    from click.testing import CliRunner

    from midnet.cli import cli

    old_click = "mix_stderr" in inspect.signature(CliRunner.__init__).parameters  # click < 8.2 mixes stderr in
    runner = CliRunner(mix_stderr=False) if old_click else CliRunner()
    ranges = domain.fit([domain.describe_image(focused(b, 3), "none") for b in (4, 5)])  # trained on blurry frames
    weights = midnet.save_model(midnet.create_model("midnet-s", width=8), tmp_path / "m.safetensors",
                                metadata={domain.DOMAIN_KEY: json.dumps(ranges)})
    (tmp_path / "in").mkdir()
    Image.fromarray(focused(4.5, 4)).save(tmp_path / "in" / "blurry.png")
    Image.fromarray(focused(0, 4)).save(tmp_path / "in" / "sharp.png")
    result = runner.invoke(cli, ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model",
                                 str(weights), "--infobar", "none", "--engine", "torch"], obj={})
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert "1 of 2 frames look already sharp" in warnings[0] and "--only-blurry" in warnings[0]
    assert "midnet finetune" not in warnings[0]  # adapting the model is no answer to a frame in focus


def test_a_frame_too_small_for_the_blur_measure_is_described_by_the_others():
    small = focused(0, 5)[:40, :40]
    described = domain.describe_image(small, "none")
    assert "blur_px" not in described and {"noise", "levels", "clipped"} <= set(described)
