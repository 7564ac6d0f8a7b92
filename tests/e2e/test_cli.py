"""The command line as a user runs it: output formats, exit codes, one-line errors."""

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

import midnet
from midnet.cli import cli
from midnet.models import PRESETS


def run(*args):
    result = CliRunner().invoke(cli, list(args), obj={}, catch_exceptions=False)
    return result


def test_version_through_the_installed_entry_point():
    proc = subprocess.run([sys.executable, "-m", "midnet.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and midnet.__version__ in proc.stdout


def test_models_lists_every_preset_with_its_parameter_count():
    rows = json.loads(run("models", "--json").output)
    assert [r["name"] for r in rows] == list(PRESETS)
    for r in rows:
        with torch.device("meta"):
            assert r["params"] == midnet.count_parameters(midnet.create_model(r["name"]))
    table = run("models").output
    assert "midnet-s" in table and "1,546,149" in table


@pytest.fixture
def tiny_model(tmp_path):
    net = midnet.create_model("midnet-s", width=8)
    with torch.no_grad():
        for n, p in net.named_parameters():
            if n.endswith(("beta", "gamma")):
                p.normal_(0, 0.1)
    return midnet.save_model(net, tmp_path / "tiny.safetensors")


def test_eval_json_is_exactly_the_documented_schema(pair_folder, tiny_model):
    result = run("eval", "--model", str(tiny_model), "--data", str(pair_folder), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert set(data) == {"images", "mean"}
    assert [im["name"] for im in data["images"]] == ["a", "b", "c"]
    for im in data["images"]:
        assert set(im) == {"name", "psnr", "ssim", "input_psnr", "input_ssim"}
    assert set(data["mean"]) == {"psnr", "ssim", "input_psnr", "input_ssim"}
    assert data["mean"]["input_psnr"] == pytest.approx(sum(i["input_psnr"] for i in data["images"]) / 3)


def test_eval_table_shows_the_gain(pair_folder, tiny_model):
    out = run("eval", "--model", str(tiny_model), "--data", str(pair_folder), "--names", "a").output
    assert "gain dB" in out and "\na " in out and "mean" in out


def test_calibrated_wiener_improves_gaussian_blur(pair_folder, tmp_path):
    calib = tmp_path / "calib.json"
    assert run("calibrate", "--data", str(pair_folder), "--names", "a,b", "--methods", "wiener", "-o", str(calib)).exit_code == 0
    fitted = json.loads(calib.read_text())
    assert fitted["fitted_on"] == ["a", "b"]
    assert 0.8 < fitted["psf_sigma"] < 2.5  # the pairs were blurred with sigma 1.5
    result = run("eval", "--method", "wiener", "--calib", str(calib), "--data", str(pair_folder), "--names", "c", "--json")
    score = json.loads(result.stdout)["mean"]
    assert score["psnr"] > score["input_psnr"] + 1


def test_train_print_config_applies_overrides(tmp_path):
    out = run("train", "configs/cpu.yaml", "--set", "optim.lr=5e-4", "--set", "data.val_names=[x, y]",
              "--data", str(tmp_path), "--print-config").output
    assert "lr: 0.0005" in out and "- x" in out and str(tmp_path) in out


@pytest.mark.parametrize(
    "args, expect",
    [
        (["train", "configs/cpu.yaml", "--set", "optim.lrr=1", "--print-config"], "optim.lrr"),
        (["train", "configs/cpu.yaml", "--set", "iterations=-5", "--print-config"], "iterations"),
        (["train", "nope.yaml"], "no such config file"),
        (["eval", "--model", "nope.safetensors", "--data", "."], "no such model file"),
        (["eval", "--model", "bogus-net", "--data", "."], "no such model file"),
    ],
)
def test_errors_are_one_line_without_traceback(args, expect):
    proc = subprocess.run([sys.executable, "-m", "midnet.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expect in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_eval_on_folder_without_pairs_is_one_line(tmp_path, tiny_model):
    proc = subprocess.run([sys.executable, "-m", "midnet.cli", "eval", "--model", str(tiny_model), "--data", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "blur/" in proc.stderr and "Traceback" not in proc.stderr
