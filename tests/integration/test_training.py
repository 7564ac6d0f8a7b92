"""Training end to end on a small generated pair folder: resume exactness (also after a kill inside a
checkpoint write), signals, DDP, fine-tuning, what the weights record."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import torch

from midnet.training import load_config, train, trained_on
from midnet.models.weights import read_weights
from midnet.models.zoo import load_model


def tiny_config(pairs, out, **extra):
    sets = [
        f"data.path={pairs}", f"out={out}", "model.preset=midnet-s", "model.overrides={width: 8}",
        "data.crop=32", "data.batch=2", "iterations=6", "ckpt_every=2", "val_every=3", "log_every=1",
    ]
    sets += [f"{k}={v}" for k, v in extra.items()]
    return load_config(None, sets)


def test_run_stopped_before_its_first_validation_reports_no_best_psnr(pair_folder, tmp_path):
    cfg = tiny_config(pair_folder, tmp_path / "early", **{"data.val_names": "[c]"})  # first validation at step 3
    said = []
    summary = train(cfg, progress=False, echo=said.append, stop_after=2)
    assert summary["stopped"] and summary["iteration"] == 2
    assert summary["best_val_psnr"] is None  # not -inf, which a caller would print as a score
    assert not any("-inf" in line for line in said)


def weights(path):
    return read_weights(path)[0]


def test_resumed_run_equals_uninterrupted_run(pair_folder, tmp_path):
    one_go = tiny_config(pair_folder, tmp_path / "one")
    train(one_go, progress=False, echo=lambda m: None)

    split = tiny_config(pair_folder, tmp_path / "split")
    first = train(split, progress=False, echo=lambda m: None, stop_after=4)
    assert first["stopped"] and first["iteration"] == 4
    said = []
    second = train(split, resume=True, progress=False, echo=said.append)
    assert second["iteration"] == 6 and not second["stopped"]
    start = next(line for line in said if line.startswith("training "))
    assert "resumed from" in start and "at step 4" in start  # not "from scratch"

    a, b = weights(tmp_path / "one" / "last.safetensors"), weights(tmp_path / "split" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and training moved the weights: the comparison is not between two untouched networks
    fresh = load_model(tmp_path / "one" / "last.safetensors")
    assert any(p.abs().sum() > 0 for n, p in fresh.named_parameters() if n.endswith("beta"))
    rows = (tmp_path / "split" / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows if r.split(",")[1]] == [1, 2, 3, 4, 5, 6]  # no step logged twice


def test_restart_without_resume_refuses_to_overwrite(pair_folder, tmp_path):
    cfg = tiny_config(pair_folder, tmp_path / "run", iterations=2)
    train(cfg, progress=False, echo=lambda m: None)
    with pytest.raises(Exception, match="--resume"):
        train(cfg, progress=False, echo=lambda m: None)


def test_validation_by_micrograph_and_best_weights(pair_folder, tmp_path):
    cfg = tiny_config(pair_folder, tmp_path / "run", **{"data.val_names": "[c]"})
    summary = train(cfg, progress=False, echo=lambda m: None)
    assert summary["best_val_psnr"] is not None and (tmp_path / "run" / "best.safetensors").is_file()
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "val_names:\n  - c" in saved or "- c" in saved
    assert load_config(tmp_path / "run" / "config.yaml") == cfg  # the saved config reproduces the run


def test_fine_tune_from_official_layout_with_frozen_encoder(pair_folder, tmp_path):
    # an official-layout NAFNet .pth (3 channels) as the starting point of a MIDNet run
    from midnet import create_model

    naf = create_model("nafnet-s", in_chans=1, width=8)
    pth = tmp_path / "nafnet.pth"
    torch.save({"params": naf.state_dict()}, pth)
    cfg = tiny_config(pair_folder, tmp_path / "ft", **{"model.init_from": str(pth), "model.freeze": "[encoders, intro]"})
    lines = []
    train(cfg, progress=False, echo=lines.append)
    start = next(line for line in lines if line.startswith("training "))
    assert "initialised from" in start and "new" in start and "frozen" in start
    tuned = weights(tmp_path / "ft" / "last.safetensors")
    for k, v in naf.state_dict().items():
        if k.startswith(("encoders", "intro")):
            assert torch.equal(tuned[k], v), k  # frozen
    assert not torch.equal(tuned["ending.weight"], naf.state_dict()["ending.weight"])  # trained


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_keeps_weights_identical_and_shards_data(pair_folder, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        "-m", "midnet.cli", "train",
        "--set", f"data.path={pair_folder}", "--set", f"out={out}", "--set", "model.overrides={width: 8}",
        "--set", "data.crop=32", "--set", "data.batch=4", "--set", "iterations=4", "--set", "device=cpu",
        "--set", "threads=1",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = json.loads((out / "ranks.json").read_text())
    assert [r["rank"] for r in ranks] == [0, 1]
    assert ranks[0]["weights_checksum"] == ranks[1]["weights_checksum"]  # DDP kept them in step
    assert ranks[0]["first_batch_checksum"] != ranks[1]["first_batch_checksum"]  # each rank its own shard
    assert (out / "last.safetensors").is_file()


@pytest.mark.parametrize(
    "preset, overrides",
    [("hinet-s", "{wf: 4, depth: 3}"), ("restormer-s", "{dim: 8, num_blocks: [1, 1, 1, 1], num_refinement_blocks: 1}"),
     ("dmphn-s", "{width: 4}"), ("nafnet-s", "{width: 8}")],
)
def test_every_compared_network_trains_and_evaluates(pair_folder, tmp_path, preset, overrides):
    cfg = tiny_config(pair_folder, tmp_path / preset, **{"model.preset": preset, "model.overrides": overrides,
                                                         "iterations": 2, "val_every": 2, "data.val_names": "[c]"})
    summary = train(cfg, progress=False, echo=lambda m: None)
    assert summary["iteration"] == 2 and summary["best_val_psnr"] is not None
    net = load_model(tmp_path / preset / "last.safetensors")
    assert net.config.arch == preset.split("-")[0]


# ---------------------------------------------------------------- a kill inside a checkpoint write

# Runs training in a child process with one step of the checkpoint writer replaced: on its
# CALL-th call the child dies by os._exit (no cleanup, no finally blocks: as under SIGKILL or
# a power cut), before or after the real step, or in the middle of writing its file ("torn").
_KILLED_RUN = r"""
import io, json, os, sys
import torch
import midnet.training.checkpoint as ck
from midnet.training import load_config, train

target, call, mode, sets = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
owner = ck if hasattr(ck, target) else ck.Checkpoint
real, calls = getattr(owner, target), []

def killer(*args, **kwargs):
    calls.append(1)
    if len(calls) != call:
        return real(*args, **kwargs)
    if mode == "torn":  # _write_state(state, path): half the file, then death
        buf = io.BytesIO()
        torch.save(args[0], buf)
        with open(args[1], "wb") as f:
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
    elif mode == "after":
        real(*args, **kwargs)
    os._exit(86)

setattr(owner, target, killer)
train(load_config(None, sets), progress=False, echo=lambda m: None)
os._exit(0)  # the kill point was never reached
"""


def _kill_sets(pairs, out):
    return [f"data.path={pairs}", f"out={out}", "model.preset=midnet-s", "model.overrides={width: 8}",
            "data.crop=32", "data.batch=2", "iterations=6", "ckpt_every=2", "val_every=3", "log_every=1",
            "data.val_names=[c]", "threads=1"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One pair folder and the final weights of the run that nobody stopped."""
    from ..conftest import write_pair_folder

    root = tmp_path_factory.mktemp("kill")
    pairs = write_pair_folder(root / "pairs")
    train(load_config(None, _kill_sets(pairs, root / "reference")), progress=False, echo=lambda m: None)
    return pairs, weights(root / "reference" / "last.safetensors")


@pytest.mark.parametrize("target, call, mode", [
    ("_write_state", 2, "torn"),  # the reported fault: step-4 weights written, its optimizer state half written
    # the other instants between the steps of a save (a child process each: slow)
    pytest.param("_write_unit", 2, "after", marks=pytest.mark.slow),  # step 4 complete, the manifest names step 2
    pytest.param("_write_manifest", 2, "after", marks=pytest.mark.slow),  # names step 4; step 2 and last not updated
    pytest.param("_publish_weights", 3, "before", marks=pytest.mark.slow),  # final unit done, last.safetensors behind
    pytest.param("_write_state", 1, "torn", marks=pytest.mark.slow),  # no checkpoint ever completed: resume at step 0
])
def test_kill_inside_a_checkpoint_write_resumes_bit_exactly(uninterrupted, tmp_path, target, call, mode):
    pairs, reference = uninterrupted
    out = tmp_path / "run"
    child = subprocess.run([sys.executable, "-c", _KILLED_RUN, target, str(call), mode,
                            json.dumps(_kill_sets(pairs, out))], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert child.returncode == 86, child.stderr[-3000:]  # died at the kill point
    if (out / "last.safetensors").exists():  # what commands read is never a torn or mixed file
        assert read_weights(out / "last.safetensors")[0].keys() == reference.keys()

    said = []
    summary = train(load_config(None, _kill_sets(pairs, out)), resume=True, progress=False, echo=said.append)
    assert summary["iteration"] == 6 and not summary["stopped"]
    resumed = weights(out / "last.safetensors")
    for k in reference:
        assert torch.equal(resumed[k], reference[k]), k
    assert [p.name for p in (out / "checkpoints").iterdir()] == [json.loads((out / "checkpoint.json").read_text())["unit"].split("/")[1]]


# ---------------------------------------------------------------- signals, messages, what the weights record


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_checkpoints_then_exits_128_plus_signal(pair_folder, tmp_path, monkeypatch, sig, code):
    from click.testing import CliRunner

    from midnet.cli import cli
    from midnet.training import loop

    real_step, steps = loop.scheduled_step, []

    def step_then_signal(*args, **kwargs):
        steps.append(1)
        if len(steps) == 2:
            os.kill(os.getpid(), sig)  # as `kill` or Ctrl-C would, in the middle of step 2
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "scheduled_step", step_then_signal)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--data", str(pair_folder), "--out", str(out), "--set", "model.overrides={width: 8}",
                                      "--set", "data.crop=32", "--set", "data.batch=2", "--set", "iterations=50",
                                      "--set", "ckpt_every=50", "--set", "threads=1"], obj={})
    assert result.exit_code == code, result.output  # stopped, not finished: a scheduler must not see success
    assert "stopped at step 2" in result.output
    assert json.loads((out / "checkpoint.json").read_text())["step"] == 2  # checkpointed on the signal
    assert read_weights(out / "last.safetensors")[1]["midnet.iteration"] == "2"


def test_a_signal_during_validation_stops_after_the_next_step_with_a_checkpoint(pair_folder, tmp_path, monkeypatch):
    from midnet.training import loop

    real_validate = loop.validate

    def validate_then_signal(session, row):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives after this step's stop/continue was agreed
        return real_validate(session, row)

    monkeypatch.setattr(loop, "validate", validate_then_signal)
    cfg = tiny_config(pair_folder, tmp_path / "run", **{"data.val_names": "[c]", "iterations": 50, "ckpt_every": 50})
    summary = train(cfg, progress=False, echo=lambda m: None)
    assert summary["stopped"] and summary["signal"] == signal.SIGTERM and summary["iteration"] == 4
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["step"] == 4  # stopped only once saved


def test_loading_says_what_it_does_and_warns_about_validation(pair_folder, tmp_path):
    said = []
    train(tiny_config(pair_folder, tmp_path / "none", iterations=1), progress=False, echo=said.append)
    assert said[0].startswith("loading 3 pairs from")
    assert [line.strip() for line in said[1:4]] == [f"[{i}/3] {n}: reading and registering (affine)..."
                                                   for i, n in enumerate("abc", 1)]
    assert any(line.startswith("warning: nothing is held out for validation") for line in said)

    said = []
    train(tiny_config(pair_folder, tmp_path / "late", **{"iterations": 2, "val_every": 5, "data.val_names": "[c]"}),
          progress=False, echo=said.append)
    assert any(line.startswith("warning: val_every (5) exceeds iterations (2)") for line in said)
    assert not any("nothing is held out" in line for line in said)


def test_weights_record_the_micrographs_they_were_trained_on(pair_folder, tmp_path):
    cfg = tiny_config(pair_folder, tmp_path / "run", **{"data.val_names": "[c]", "iterations": 3})
    train(cfg, progress=False, echo=lambda m: None)
    for name in ("last.safetensors", "best.safetensors"):
        assert trained_on(tmp_path / "run" / name) == ["a", "b"], name  # not c: it was held out

    # a fine-tuned network has seen its parent's micrographs too
    tuned = tiny_config(pair_folder, tmp_path / "tuned", **{"data.val_names": "[a, b]", "iterations": 1,
                                                            "model.init_from": str(tmp_path / "run" / "last.safetensors")})
    train(tuned, progress=False, echo=lambda m: None)
    assert trained_on(tmp_path / "tuned" / "last.safetensors") == ["a", "b", "c"]


def test_weights_record_the_domain_of_their_training_frames(pair_folder, tmp_path):
    """`midnet train` records the domain ranges as fine-tuning does, so `midnet deblur` can warn about frames unlike
    the training data; a recipe with synthetic pairs trained on the in-focus exposures too."""
    from midnet.quality import domain
    from midnet.training.dataset import load_training_data

    cfg = tiny_config(pair_folder, tmp_path / "run", **{"data.val_names": "[c]", "iterations": 3})
    said = []
    train(cfg, progress=False, echo=said.append)
    assert any(line.startswith("measuring the domain of 2 training frames") for line in said)
    pairs = load_training_data(cfg.data, cfg.seed, lambda m: None).pairs
    expected = domain.of_training(pairs)
    assert expected and set(expected) >= {"noise", "levels", "clipped"}
    for name in ("last.safetensors", "best.safetensors"):
        path = str(tmp_path / "run" / name)
        watch = domain.DomainWatch.for_model(path, infobar="auto")
        assert watch is not None and watch.domain == expected, name

    synthetic = tiny_config(pair_folder, tmp_path / "synthetic", **{"data.val_names": "[c]", "iterations": 1,
                                                                    "data.synthetic.share": 0.5})
    train(synthetic, progress=False, echo=lambda m: None)
    recorded = domain.DomainWatch.for_model(str(tmp_path / "synthetic" / "last.safetensors")).domain
    assert recorded == domain.of_training(pairs, in_focus=True) != expected  # the in-focus exposures widen it
    assert all(recorded[k][0] <= low and high <= recorded[k][1] for k, (low, high) in expected.items())


def test_a_run_from_recorded_weights_keeps_their_domain(pair_folder, tmp_path):
    """As a fine-tuned model does: the network still knows its first weights' micrographs."""
    from midnet import create_model
    from midnet.quality import domain
    from midnet.models.weights import read_metadata, save_model

    parent = tmp_path / "parent.safetensors"
    wide = {"noise": [1e-6, 10.0], "levels": [1.0, 1e6], "clipped": [0.0, 0.9]}
    save_model(create_model("midnet-s", width=8), parent, metadata={domain.DOMAIN_KEY: json.dumps(wide)})
    cfg = tiny_config(pair_folder, tmp_path / "run", **{"iterations": 1, "model.init_from": str(parent)})
    train(cfg, progress=False, echo=lambda m: None)
    recorded = domain.domain_from_metadata(read_metadata(tmp_path / "run" / "last.safetensors"))
    assert all(recorded[k] == wide[k] for k in wide)
