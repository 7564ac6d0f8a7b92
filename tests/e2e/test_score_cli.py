"""``midnet score`` as a user runs it: table, --json, --csv, --sort, --report, bad files, exit codes."""

from __future__ import annotations

import csv
import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from PIL import Image

from midnet.cli import cli

from ..unit.test_focus import dead_leaves, degrade

BAR = 20


def _runner() -> CliRunner:
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:  # click < 8.2
        return CliRunner(mix_stderr=False)
    return CliRunner()


def run(*args):
    return _runner().invoke(cli, [str(a) for a in args], obj={}, catch_exceptions=False)


def with_bar(frame: np.ndarray) -> np.ndarray:
    out = np.vstack([frame, np.zeros((BAR, frame.shape[1]), np.uint8)])
    out[-12:-6, 8:90] = 255  # "text" in a microscope's info bar
    return out


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """sharp.png, blurred.png (6 px), flat.png (no texture) and a FEI TIFF with a pixel size."""
    root = tmp_path_factory.mktemp("archive")
    texture = dead_leaves(256, seed=5)
    Image.fromarray(with_bar(degrade(texture, 0))).save(root / "sharp.png")
    Image.fromarray(with_bar(degrade(texture, 6))).save(root / "blurred.png")
    y = np.mgrid[0:256, 0:256][1] / 256
    Image.fromarray(with_bar(degrade(0.3 + 0.3 * y, 0, 2))).save(root / "flat.png")
    fei = "[Scan]\nPixelWidth=5e-09\n"
    tifffile.imwrite(root / "fei.tif", with_bar(degrade(texture, 3)), extratags=[(34682, "s", 0, fei, True)])
    return root


def test_json_is_one_list_and_nothing_else(archive):
    result = run("score", archive, "--json")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert isinstance(records, list) and len(records) == 4
    by_name = {Path(r["file"]).name: r for r in records}
    for r in records:
        assert {"file", "blur_px", "confidence", "verdict", "blur_nm"} <= set(r)
        assert 0.0 <= r["confidence"] <= 1.0
    assert by_name["sharp.png"]["verdict"] == "sharp"
    assert by_name["blurred.png"]["verdict"] == "worth restoring"
    assert by_name["flat.png"]["verdict"] == "uncertain"
    assert by_name["blurred.png"]["blur_px"] > by_name["fei.tif"]["blur_px"] > by_name["sharp.png"]["blur_px"]
    assert by_name["fei.tif"]["blur_nm"] == pytest.approx(5.0 * by_name["fei.tif"]["blur_px"], rel=1e-2)
    assert by_name["sharp.png"]["blur_nm"] is None
    assert "4 scored" in result.stderr


def test_sort_puts_the_blurriest_first_and_pixel_size_fills_blur_nm(archive):
    records = json.loads(run("score", archive / "sharp.png", archive / "blurred.png", "--sort", "--json",
                             "--pixel-size", "2.5").stdout)
    assert [Path(r["file"]).name for r in records] == ["blurred.png", "sharp.png"]
    assert records[0]["blur_nm"] == pytest.approx(2.5 * records[0]["blur_px"], rel=1e-2)


def test_table_csv_and_report(archive, tmp_path):
    result = run("score", archive, "--csv", tmp_path / "s.csv", "--report", tmp_path / "rep")
    assert result.exit_code == 0, result.stderr
    assert "verdict" in result.stdout and "worth restoring" in result.stdout
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert len(rows) == 4 and {"file", "blur_px", "blur_nm", "confidence", "verdict"} <= set(rows[0])
    assert (tmp_path / "rep" / "focus.csv").is_file()
    picture = np.asarray(Image.open(tmp_path / "rep" / "focus_report.png"))
    assert picture.ndim == 3 and picture.shape[0] > 300


def test_bad_file_is_reported_and_the_rest_scored(archive, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.open(archive / "sharp.png").save(tmp_path / "ok.png")
    result = run("score", tmp_path, "--json")
    assert result.exit_code == 1
    assert [Path(r["file"]).name for r in json.loads(result.stdout)] == ["ok.png"]
    assert "failed: " in result.stderr and "broken.png" in result.stderr


def test_usage_errors_exit_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "midnet.cli", "score", str(tmp_path / "missing.png")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "midnet.cli", "score", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "no images" in proc.stderr


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    import torch

    import midnet

    torch.manual_seed(0)
    net = midnet.create_model("midnet-s", width=8)
    return midnet.save_model(net, tmp_path_factory.mktemp("model") / "tiny.safetensors")


def test_deblur_only_blurry_restores_the_blurry_and_lists_the_rest(archive, tmp_path, tiny_model):
    inputs = [archive / n for n in ("sharp.png", "blurred.png", "flat.png")]
    # --engine torch: the triage is under test, not the engine choice (measuring it costs ~40 s here)
    result = run("deblur", *inputs, "-o", tmp_path / "out", "--only-blurry", "--compare", "--model", tiny_model,
                 "--engine", "torch")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["blurred.png", "blurred_compare.png"]
    assert "1 restored, 2 skipped, 0 failed" in result.stderr
    assert "sharp.png: sharp (blur" in result.stderr and "flat.png: too little structure" in result.stderr
    assert "scored: " in result.stderr and "px before" in result.stderr and "px after restoration" in result.stderr


def test_deblur_blur_threshold_and_dry_run(archive, tmp_path, tiny_model):
    inputs = [archive / n for n in ("sharp.png", "blurred.png")]
    dry = run("deblur", *inputs, "-o", tmp_path / "out", "--only-blurry", "--dry-run", "--model", tiny_model,
              "--engine", "torch")
    assert dry.exit_code == 0 and "blurred.png ->" in dry.stdout and "sharp.png: sharp (blur" in dry.stdout
    result = run("deblur", *inputs, "-o", tmp_path / "out", "--only-blurry", "--blur-threshold", "0.05",
                 "--model", tiny_model, "--engine", "torch")
    assert result.exit_code == 0, result.stderr
    assert "2 restored, 0 skipped" in result.stderr


def test_table_columns_stay_put_whatever_the_path_length(archive, tmp_path):
    import shutil

    deep = tmp_path / ("a-folder-with-a-rather-long-name-" * 3) / "session 2"
    deep.mkdir(parents=True)
    long_name = shutil.copy(archive / "blurred.png", deep / "blurred-micrograph-with-a-long-name.png")
    result = run("score", archive / "sharp.png", long_name, archive / "flat.png")
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    files = [str(archive / "sharp.png"), str(long_name), str(archive / "flat.png")]
    verdicts = ["sharp", "worth restoring", "uncertain"]
    at = {column: header.index(column) for column in ("blur px", "conf", "verdict", "file")}
    for row, file, verdict in zip(rows, files, verdicts, strict=True):
        float(row[: at["blur px"] + len("blur px")])  # each number right under its heading
        float(row[at["conf"] : at["conf"] + len("conf")])
        assert row[at["verdict"] :].startswith(verdict + " ")
        assert row[at["file"] :] == file
