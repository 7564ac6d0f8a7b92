"""The training config: --set errors blamed on the --set item, did-you-mean, exit 2; init_from presets."""

import pytest
import torch
from click.testing import CliRunner

from midnet.cli import cli
from midnet.errors import MidnetError
from midnet.training import ConfigUsageError, ModelSection, build_network, load_config
from midnet.training.config import field_paths
from midnet.models.weights import read_weights
from midnet.models.zoo import shipped_weights_path


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  path: pairs\n  crop: 64\niterations: 10\n")
    return path


def test_a_bad_set_value_names_the_set_item_not_the_file(config_file):
    with pytest.raises(ConfigUsageError) as caught:
        load_config(config_file, ["optim.lr=-1"])
    message = str(caught.value)
    assert message.startswith("--set optim.lr=-1: optim.lr:") and str(config_file) not in message
    assert "\n" not in message


def test_a_cross_field_check_blames_the_set_that_broke_it(config_file):
    with pytest.raises(ConfigUsageError, match=r"^--set data.folds=2, --set data.fold=3: data.fold must be below "):
        load_config(config_file, ["data.folds=2", "data.fold=3"])
    with pytest.raises(ConfigUsageError, match=r"^--set model.preset=null: .*init_from"):
        load_config(config_file, ["model.preset=null"])


@pytest.mark.parametrize("item, suggestion", [
    ("optim.lrr=1", "optim.lr"), ("iteration=5", "iterations"), ("lr=1", "optim.lr"),
    ("data.val_name=[a]", "data.val_names"), ("optm.lr=1", "optim"), ("model.initfrom=x", "model.init_from"),
])
def test_an_unknown_key_gets_did_you_mean(config_file, item, suggestion):
    with pytest.raises(ConfigUsageError) as caught:
        load_config(config_file, [item])
    assert str(caught.value).startswith(f"--set {item}: unknown key")
    assert f"did you mean {suggestion}?" in str(caught.value)


def test_an_error_in_the_file_still_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  path: pairs\noptim:\n  lrr: 1\n")
    with pytest.raises(MidnetError) as caught:
        load_config(path, ["iterations=3"])
    assert not isinstance(caught.value, ConfigUsageError)
    assert str(path) in str(caught.value) and "did you mean optim.lr?" in str(caught.value)


def test_field_paths_reach_into_every_section():
    paths = field_paths()
    assert {"optim.lr", "data.val_names", "loss.edge_operator", "model.init_from", "iterations"} <= set(paths)
    assert not any(p.startswith("model.overrides.") for p in paths)  # free-form preset fields


@pytest.mark.parametrize("args", [["--set", "optim.lrr=1"], ["--set", "optim.lr"], ["--set", "optim.lr=[1"]])
def test_a_bad_set_is_a_usage_error_exit_2(config_file, args):
    result = CliRunner().invoke(cli, ["train", str(config_file), "--print-config", *args], obj={})
    assert result.exit_code == 2, result.output
    assert "--set optim.lr" in result.output and "Traceback" not in result.output


def test_a_good_set_still_prints_the_config(config_file):
    result = CliRunner().invoke(cli, ["train", str(config_file), "--print-config", "--set", "optim.lr=5e-4"], obj={})
    assert result.exit_code == 0 and "lr: 0.0005" in result.output


def test_init_from_takes_a_preset_with_shipped_weights():
    model, note = build_network(ModelSection(preset=None, init_from="midnet-sem"))
    with shipped_weights_path("midnet-sem") as path:
        shipped = read_weights(path)[0]
    assert "initialised from midnet-sem" in note and "new" not in note
    for k, v in model.state_dict().items():
        assert torch.equal(v, shipped[k]), k
    # and into the preset's own shape, as `midnet finetune` will do
    model, note = build_network(ModelSection(preset="midnet-s", init_from="midnet-sem"))
    assert f"{len(shipped)}/{len(shipped)} tensors loaded" in note


def test_init_from_a_preset_without_weights_says_so():
    with pytest.raises(MidnetError, match="^model.init_from: 'midnet-s' has no shipped weights"):
        build_network(ModelSection(init_from="midnet-s"))
