"""The command line as a user runs it: output formats, exit codes, one-line errors."""

import json
import subprocess
import sys

import click
import pytest
import torch
from click.testing import CliRunner

import midnet
from midnet.cli import cli
from midnet.models.zoo import PRESETS


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


def test_eval_on_the_registered_region_says_how_much_of_the_frames_it_scored(pair_folder, tiny_model):
    result = run("eval", "--model", str(tiny_model), "--data", str(pair_folder), "--region", "registered", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for im in data["images"] + [data["mean"]]:
        assert 0 < im["scored_fraction"] <= 1 and {"psnr", "ssim", "input_psnr", "input_ssim"} < set(im)
    table = run("eval", "--model", str(tiny_model), "--data", str(pair_folder), "--region", "registered").output
    assert "diagnostic, not the protocol" in table and "gain dB" in table
    paper = run("eval", "--model", str(tiny_model), "--data", str(pair_folder), "--region", "registered",
                "--protocol", "paper")
    assert paper.exit_code != 0 and "use --protocol micrograph" in paper.output


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
    again = run("calibrate", "--data", str(pair_folder), "--names", "a", "--methods", "wiener", "-o", str(calib),
                "--overwrite")
    assert again.exit_code == 0 and json.loads(calib.read_text())["fitted_on"] == ["a"]


def test_calibrate_refuses_an_existing_or_unwritable_output_before_fitting(pair_folder, tmp_path, monkeypatch):
    import midnet.quality.calibration

    monkeypatch.setattr(midnet.quality.calibration, "calibrate", lambda *a, **k: pytest.fail("fitted before checking -o"))
    calib = tmp_path / "calib.json"
    calib.write_text("mine")
    kept = run("calibrate", "--data", str(pair_folder), "--names", "a", "--methods", "wiener", "-o", str(calib))
    assert kept.exit_code != 0 and "exists; choose another -o or pass --overwrite" in kept.output
    assert calib.read_text() == "mine"
    (tmp_path / "file").write_text("x")
    nowhere = run("calibrate", "--data", str(pair_folder), "--names", "a", "-o", str(tmp_path / "file" / "c.json"))
    assert nowhere.exit_code != 0 and "is not a folder" in nowhere.output and "Traceback" not in nowhere.output


def test_train_print_config_applies_overrides(tmp_path):
    out = run("train", "configs/cpu.yaml", "--set", "optim.lr=5e-4", "--set", "data.val_names=[x, y]",
              "--data", str(tmp_path), "--print-config").output
    assert "lr: 0.0005" in out and "- x" in out and str(tmp_path) in out


@pytest.mark.parametrize(
    "args, expect",
    [
        (["train", "nope.yaml"], "no such config file"),
        (["demo", "-o", "never-written", "--device", "cuda:99"], "requested but"),  # no such device here
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


def usage_error(*args):
    """Asserts exit 2 with click's usage error and no traceback; returns the error line."""
    result = CliRunner().invoke(cli, list(args), obj={})
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    return line


def test_usage_error_exits_2_from_the_installed_entry_point():
    proc = subprocess.run([sys.executable, "-m", "midnet.cli", "deblur", "x.png", "-o", "out", "--device", "cdua"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: Invalid value for '--device': unknown device 'cdua'; choose one of auto, cpu, cuda, cuda:N, mps")


def test_every_device_option_is_the_shared_validated_type():
    from midnet.cli.options import DeviceType

    commands = {name: cmd for name, cmd in cli.commands.items() if any(p.name == "device" for p in cmd.params)}
    assert {"eval", "deblur", "demo"} <= set(commands)
    for cmd in commands.values():
        (option,) = [p for p in cmd.params if p.name == "device"]
        assert isinstance(option.type, DeviceType) and option.default == "auto"


@pytest.mark.parametrize("command", [["deblur", "x.png", "-o", "out"], ["eval", "--data", "."], ["demo", "-o", "out"]])
def test_misspelt_device_is_a_usage_error_listing_the_choices(command):
    line = usage_error(*command, "--device", "cdua")
    assert "'cdua'" in line and "auto, cpu, cuda, cuda:N, mps" in line
    assert "ipu" not in line and "xla" not in line  # not torch's own list of device types


def test_device_spellings_accepted():
    option = next(p for p in cli.commands["deblur"].params if p.name == "device")
    for value, canonical in [("cpu", "cpu"), ("CUDA:1", "cuda:1"), ("mps", "mps"), (" auto ", "auto")]:
        assert option.type.convert(value, option, None) == canonical


@pytest.mark.parametrize("command", [["deblur", "x.png", "-o", "out"], ["eval", "--data", "."], ["demo", "-o", "out"]])
def test_unknown_model_is_a_usage_error_listing_the_presets(command):
    line = usage_error(*command, "--model", "nosuch")
    assert "'nosuch'" in line and "midnet-sem" in line and all(name in line for name in PRESETS)


@pytest.mark.parametrize("override, expect", [("optim.lrr=1", "optim.lrr"), ("iterations=-5", "iterations")])
def test_bad_set_override_is_a_usage_error(override, expect):
    line = usage_error("train", "configs/cpu.yaml", "--set", override, "--print-config")
    assert expect in line


def test_missing_weights_file_is_a_usage_error():
    line = usage_error("eval", "--data", ".", "--model", "nope.safetensors")
    assert "'nope.safetensors'" in line and "existing weights file" in line


def test_preset_without_weights_says_what_to_do():
    line = usage_error("deblur", "x.png", "-o", "out", "--model", "midnet-s")
    assert "midnet-s has no shipped weights; train it with `midnet train` or give a weights file" in line
    assert "presets with weights: midnet-sem" in line and "pretrained=False" not in line


def test_model_option_takes_an_existing_file_even_with_a_preset_name(tmp_path, tiny_model, monkeypatch):
    (tmp_path / "midnet-s").write_bytes(tiny_model.read_bytes())  # a file wins, as in midnet.load_model
    monkeypatch.chdir(tmp_path)
    option = next(p for p in cli.commands["eval"].params if p.name == "model_name")
    assert option.process_value(click.Context(cli.commands["eval"]), "midnet-s") == "midnet-s"
    assert option.process_value(click.Context(cli.commands["eval"]), str(tiny_model)) == str(tiny_model)


def test_help_shows_every_command_summary_whole_at_80_columns():
    out = CliRunner().invoke(cli, ["--help"], terminal_width=80, obj={}).output
    listing = out.split("Commands:")[1]
    assert "..." not in listing
    for name, cmd in cli.commands.items():
        summary = cmd.get_short_help_str(limit=1000)  # the whole summary
        assert f"  {name} " in listing and summary in " ".join(listing.split()), (name, summary)
        assert len(summary) <= 80 - 2 - 6 - max(map(len, cli.commands)), f"{name}: summary wraps at 80 columns"


def test_demo_says_its_sample_was_in_the_training_set(tmp_path, monkeypatch):
    from midnet.inference import engine_choice

    monkeypatch.setattr(engine_choice, "TRIAL_SIDE", 64)  # the demo's engine auto measures on a small frame
    result = CliRunner().invoke(cli, ["demo", "-o", str(tmp_path / "demo"), "--device", "cpu"], obj={})
    assert result.exit_code == 0, result.output
    assert "TRAINED on this micrograph" in result.output and "not a held-out result" in result.output
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "sample_blurry.png", "sample_compare.png", "sample_restored.png"]
