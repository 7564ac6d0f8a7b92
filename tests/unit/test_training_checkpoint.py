"""Checkpoint units: complete or absent, verified on load, and what weights files say they were trained on."""

import json

import pytest
import torch

from midnet.errors import MidnetError
from midnet.training import TRAINED_ON_KEY, Checkpoint, trained_on
from midnet.training import checkpoint as ck
from midnet.models.weights import read_weights, save_model
from midnet.models.zoo import create_model


def _run_state(seed: int):
    torch.manual_seed(seed)
    model = create_model("nafnet-s", width=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    model(torch.rand(1, 1, 16, 16)).mean().backward()
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


META = {TRAINED_ON_KEY: json.dumps(["a", "b"])}


def test_a_saved_unit_restores_weights_optimizer_schedule_and_random_state(tmp_path):
    model, optimizer, scheduler = _run_state(0)
    torch.manual_seed(123)
    Checkpoint(tmp_path).save(model, optimizer, scheduler, 7, 21.5, META)
    expected_draw = torch.rand(3)

    other, other_opt, other_sched = _run_state(1)
    step, best = Checkpoint(tmp_path).load(other, other_opt, other_sched)
    assert (step, best) == (7, 21.5)
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    assert other_sched.state_dict() == scheduler.state_dict()
    first = next(iter(optimizer.state.values()))["exp_avg"]
    assert torch.equal(next(iter(other_opt.state.values()))["exp_avg"], first)
    assert torch.equal(torch.rand(3), expected_draw)  # the random state travels with the unit
    assert read_weights(tmp_path / "last.safetensors")[1]["midnet.iteration"] == "7"


def test_a_save_that_dies_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model, optimizer, scheduler = _run_state(0)
    ckpt = Checkpoint(tmp_path)
    ckpt.save(model, optimizer, scheduler, 2, 1.0, META)

    def dies(state, path):
        path.write_bytes(b"half a file")
        raise KeyboardInterrupt  # nothing after this line of the save runs

    monkeypatch.setattr(ck, "_write_state", dies)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(model, optimizer, scheduler, 4, 1.0, META)
    monkeypatch.undo()
    assert ckpt.exists()
    assert ckpt.load(*_run_state(1)) == (2, 1.0)  # the older complete unit, whole
    ckpt.save(model, optimizer, scheduler, 4, 1.0, META)
    assert len(list((tmp_path / "checkpoints").iterdir())) == 1  # the dead save's staging folder is gone


def test_a_damaged_unit_is_refused_in_one_line(tmp_path):
    model, optimizer, scheduler = _run_state(0)
    Checkpoint(tmp_path).save(model, optimizer, scheduler, 2, 1.0, META)
    unit = tmp_path / json.loads((tmp_path / "checkpoint.json").read_text())["unit"]
    (unit / "state.pt").write_bytes(b"\0" * 10)
    with pytest.raises(MidnetError, match="damaged") as caught:
        Checkpoint(tmp_path).load(*_run_state(1))
    assert "\n" not in str(caught.value)


def test_a_state_holding_python_objects_is_never_unpickled(tmp_path):
    torch.save({"iteration": 1, "evil": Checkpoint(tmp_path)}, tmp_path / "state.pt")
    with pytest.raises(MidnetError, match="not a readable training state"):
        ck._load_state(tmp_path / "state.pt")  # weights_only=True: no code from a data file


def test_a_run_checkpointed_before_the_manifest_still_resumes(tmp_path):
    # the old layout: last.safetensors + last.state.pt, written one after the other
    model, optimizer, scheduler = _run_state(0)
    save_model(model, tmp_path / "last.safetensors", metadata={"midnet.iteration": "5"})
    torch.save({"iteration": 5, "best_psnr": 3.0, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(), "scaler": {}},
               tmp_path / "last.state.pt")
    ckpt = Checkpoint(tmp_path)
    assert ckpt.exists() and ckpt.load(*_run_state(1)) == (5, 3.0)
    ckpt.save(model, optimizer, scheduler, 6, 3.0, META)
    assert not (tmp_path / "last.state.pt").exists() and ckpt.load(*_run_state(1)) == (6, 3.0)


def test_trained_on_reads_files_metadata_and_presets(tmp_path):
    model = create_model("nafnet-s", width=4)
    save_model(model, tmp_path / "w.safetensors", metadata={TRAINED_ON_KEY: json.dumps(["1-1", "2-1"])})
    assert trained_on(tmp_path / "w.safetensors") == ["1-1", "2-1"]
    assert trained_on(str(tmp_path / "w.safetensors")) == ["1-1", "2-1"]
    assert trained_on({TRAINED_ON_KEY: '["x"]'}) == ["x"]  # raw safetensors metadata
    assert trained_on({TRAINED_ON_KEY: ["x"]}) == ["x"]  # decoded metadata
    assert trained_on({}) == []
    save_model(model, tmp_path / "old.safetensors")
    assert trained_on(tmp_path / "old.safetensors") == []  # files from before the key say nothing
    assert trained_on("midnet-s") == []  # a preset without shipped weights
    assert isinstance(trained_on("midnet-sem"), list)  # the shipped file, read by preset name
