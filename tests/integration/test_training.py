"""Training end to end on a small generated pair folder: resume exactness (also after a kill inside a
checkpoint write), signals, DDP, fine-tuning, what the weights record."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from midnet.training import load_config, train, trained_on
from midnet.weights import read_weights
from midnet.zoo import load_model


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
        f"--master_addr=127.0.0.1", f"--master_port={_free_port()}",
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
