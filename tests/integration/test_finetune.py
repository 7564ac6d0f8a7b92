"""midnet finetune: the held-out split, early stopping, the time cap, and a weights file every command takes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import midnet
from midnet.inference.settings import EXACT
from midnet.cli import cli
from midnet.data import load_pairs
from midnet.errors import MidnetError
from midnet.training.finetune import FinetuneConfig, NothingLearned, finetune, split_held_out
from midnet.models.zoo import load_model, trained_on

from ..conftest import write_pair_folder


@pytest.fixture
def base(tmp_path):
    net = midnet.create_model("midnet-s", width=8)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return str(midnet.save_model(net, tmp_path / "base.safetensors"))


def small(**kw) -> FinetuneConfig:
    return FinetuneConfig(**{"crop": 32, "batch": 2, "val_every": 4, "patience": 2, "max_steps": 24, **kw})


def test_several_pairs_hold_out_one_micrograph(pair_folder):
    pairs = load_pairs(pair_folder, align="none", warn_shift=False)
    split = split_held_out(pairs, 32)
    assert [p.name for p in split.pairs] == ["c"] and [p.name for p in split.train] == ["a", "b"]


def test_single_pair_holds_out_a_strip_one_crop_from_every_training_crop(tmp_path):
    pairs = load_pairs(write_pair_folder(tmp_path / "one", names=("x",), h=96, w=160), align="none",
                       warn_shift=False)
    split = split_held_out(pairs, 32)
    (held,), (train,) = split.pairs, split.train
    full = pairs[0].blur
    strip = held.blur.shape[1]
    assert held.blur.shape[0] == full.shape[0] and strip >= 32
    np.testing.assert_array_equal(held.blur, full[:, -strip:])
    # training crops come only from the left part, which ends one crop side before the strip
    assert train.blur.shape[1] + 32 + strip == full.shape[1]
    np.testing.assert_array_equal(train.sharp, pairs[0].sharp[:, : train.blur.shape[1]])


def test_single_pair_too_small_to_split_is_one_clear_error(tmp_path):
    pairs = load_pairs(write_pair_folder(tmp_path / "tiny", names=("x",), h=64, w=80), align="none",
                       warn_shift=False)
    with pytest.raises(MidnetError, match="too small to hold out"):
        split_held_out(pairs, 32)


def outcome(*args, **kw):
    """finetune's result, learned or not (a NothingLearned carries it)."""
    try:
        return finetune(*args, echo=lambda m: None, progress=False, **kw)
    except NothingLearned as exc:
        return exc.result


def test_no_gain_stops_early_says_nothing_was_learned_and_writes_nothing(pair_folder, tmp_path, base):
    out = tmp_path / "ft.safetensors"
    with pytest.raises(NothingLearned, match=r"^nothing was learned: none of 2 held-out scores in 8 steps beat the "
                                             r"base model's .* was not written$") as caught:
        finetune(pair_folder, out, small(base=base, lr=1e-12, lr_min=0.0), echo=lambda m: None, progress=False)
    result = caught.value.result
    assert result.best_step == 0 and result.steps == 4 * 2  # two scores without a gain, then stop
    assert "no held-out gain" in result.stopped and result.weights is None
    assert set(result.rows) == {"blurry input", "base model"} and not out.exists()


def test_finetuned_weights_work_everywhere_and_record_what_they_saw(pair_folder, tmp_path, base):
    out = tmp_path / "ft.safetensors"
    result = finetune(pair_folder, out, small(base=base, lr=1e-3, patience=10), echo=lambda m: None,
                      progress=False)
    assert set(result.rows) == {"blurry input", "base model", "fine-tuned"}
    assert result.rows["fine-tuned"][0] >= result.rows["base model"][0]  # the best weights, or the base's
    assert sorted(trained_on(out)) == ["a", "b", "c"]
    frame = (np.random.default_rng(0).random((40, 48)) * 255).astype(np.uint8)
    assert midnet.deblur(frame, model=str(out), infobar="none", **EXACT).shape == frame.shape
    proc = subprocess.run([sys.executable, "-m", "midnet.cli", "eval", "--model", str(out), "--data",
                           str(pair_folder), "--align", "none"], capture_output=True, text=True)
    assert proc.returncode == 0 and "was trained on a, b, c" in proc.stderr


def test_the_time_cap_stops_training(pair_folder, tmp_path, base):
    result = outcome(pair_folder, tmp_path / "ft.safetensors", small(base=base, minutes=0.05, max_steps=10**6,
                     patience=10**3))
    assert result.stopped == "time budget" and 0 < result.steps < 10**6
    assert result.history[-1][0] == result.steps  # the last steps were scored: the budget kept time for it


def test_the_budget_counts_from_the_first_training_step(pair_folder, tmp_path, base, monkeypatch):
    """On a busy machine loading and registering the pairs can take longer than the whole budget."""
    import time

    from midnet.training import finetune as module

    def slow_load(*args, **kw):
        time.sleep(4.0)  # longer than the 3 s budget
        return load_pairs(*args, **kw)

    monkeypatch.setattr(module, "load_pairs", slow_load)
    result = outcome(pair_folder, tmp_path / "ft.safetensors", small(base=base, minutes=0.05, max_steps=10**6,
                     patience=10**3))
    assert result.steps > 1 and len(result.history) > 1  # trained and scored, not one step and out


def test_a_budget_too_short_to_train_and_score_is_refused_before_training(pair_folder, tmp_path, base,
                                                                           monkeypatch):
    from midnet.training import finetune as module

    steps = []
    monkeypatch.setattr(module._Session, "_one_step", lambda self: steps.append(1))
    with pytest.raises(MidnetError, match=r"--minutes 0.001 is too short to train: one score of the held-out "
                                          r"part takes \d+ s here.*give --minutes [\d.]+ or more"):
        finetune(pair_folder, tmp_path / "ft.safetensors", small(base=base, minutes=0.001), echo=lambda m: None,
                 progress=False)
    assert not steps and not (tmp_path / "ft.safetensors").exists()


def test_pairs_smaller_than_the_crop_are_refused_before_training_naming_the_option(tmp_path, base):
    folder = write_pair_folder(tmp_path / "tiny", h=40, w=48)
    args = [sys.executable, "-m", "midnet.cli", "finetune", str(folder), "-o", str(tmp_path / "ft.safetensors"),
            "--base", base, "--crop", "64"]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == ("error: a: 48x56 is smaller than the 64 px training crop (--crop); "
                                            "give a --crop of at most 48")
    assert "held out" not in proc.stderr and "stopped after" not in proc.stderr  # no scoring, no training


def test_tiny_pairs_fine_tune_with_the_smallest_crop(tmp_path, base):
    """40 px frames are too small for the blur measure of the domain record: it is left out, not an error
    after the training."""
    folder = write_pair_folder(tmp_path / "tiny", h=40, w=48)
    result = outcome(folder, tmp_path / "ft.safetensors", small(base=base, max_steps=8, lr=1e-3))
    assert result.steps == 8


def test_command_says_plainly_that_nothing_was_learned_and_exits_1(pair_folder, tmp_path, base, monkeypatch):
    from midnet.training import finetune as module

    monkeypatch.setattr(module, "scheduled_step", lambda *args: None)  # steps that change nothing: no gain possible
    out = tmp_path / "ft.safetensors"
    result = runner().invoke(cli, ["finetune", str(pair_folder), "-o", str(out), "--base", base, "--minutes", "0.3",
                                   "--crop", "32"], obj={})
    assert result.exit_code == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: nothing was learned: ")
    assert result.stderr.splitlines()[-1].endswith(f"{out} was not written")
    assert "base model" in result.stdout and "fine-tuned" not in result.stdout and "wrote" not in result.stdout
    assert not out.exists()


def runner():
    """click's test runner with stderr apart (click < 8.2 mixes it into the output unless told)."""
    import inspect

    from click.testing import CliRunner

    old_click = "mix_stderr" in inspect.signature(CliRunner.__init__).parameters
    return CliRunner(mix_stderr=False) if old_click else CliRunner()


def test_existing_output_is_refused_without_overwrite(pair_folder, tmp_path, base):
    out = tmp_path / "ft.safetensors"
    out.write_bytes(b"keep me")
    with pytest.raises(MidnetError, match="--overwrite"):
        finetune(pair_folder, out, small(base=base), echo=lambda m: None, progress=False)
    assert out.read_bytes() == b"keep me"


def test_command_prints_the_held_out_table(pair_folder, tmp_path, base):
    out = tmp_path / "ft.safetensors"
    args = [sys.executable, "-m", "midnet.cli", "finetune", str(pair_folder), "-o", str(out), "--base", base,
            "--minutes", "0.2", "--crop", "32"]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for row in ("blurry input", "base model", "fine-tuned", "held out: micrograph c"):
        assert row in proc.stdout
    again = subprocess.run(args, capture_output=True, text=True)
    assert again.returncode == 1 and "exists" in again.stderr and "Traceback" not in again.stderr


def test_a_colour_base_network_is_fine_tuned_on_gray_pairs(pair_folder, tmp_path):
    net = midnet.create_model("nafnet-s", in_chans=3, width=8)  # e.g. an official RGB checkpoint
    base = str(midnet.save_model(net, tmp_path / "rgb.safetensors"))
    result = finetune(pair_folder, tmp_path / "ft.safetensors", small(base=base, max_steps=4), echo=lambda m: None,
                      progress=False)
    assert result.steps == 4 and load_model(tmp_path / "ft.safetensors").config.in_chans == 3
