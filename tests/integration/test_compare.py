"""`midnet compare` logic on a small generated pair folder: per-fold calibration, {fold} models, the grid."""

import pytest

import midnet
from midnet.quality.compare import compare
from midnet.errors import MidnetError
from midnet.quality.figures import figure_grid

from ..conftest import write_pair_folder


@pytest.fixture
def folder(tmp_path):
    return write_pair_folder(tmp_path / "pairs", names=("a", "b", "c", "d"))


def test_compare_scores_every_method_on_every_micrograph(folder, tmp_path):
    for k in range(2):  # a model per fold, found through {fold}
        net = midnet.create_model("midnet-s", width=8)
        midnet.save_model(net, tmp_path / f"m-fold{k}.safetensors")
    methods = ["input", "wiener", "unsharp", str(tmp_path / "m-fold{fold}.safetensors")]
    result = compare(folder, methods, folds=2, detail=32)
    assert list(result.rows) == ["a", "b", "c", "d"]
    assert result.folds == {"a": 0, "b": 0, "c": 1, "d": 1}
    for row in result.rows.values():
        assert set(row) == {"input", "wiener", "unsharp", "m"}  # the weights file's column: its name without {fold}
        assert row["wiener"][0] > row["input"][0]  # calibrated per fold, it sharpens the Gaussian blur
    md = result.markdown()
    assert md.count("\n") == 2 + 4 and "**mean**" in md and "a (fold 0)" in md
    grid = figure_grid(result, tmp_path / "grid.png")
    img = midnet.read_image(grid).array
    assert img.shape[0] > 4 * 64 and img.shape[1] >= 5 * 64  # 4 rows, 4 methods + the sharp column


def test_columns_are_named_by_label_or_by_run_folder(folder, tmp_path):
    for k in range(2):
        midnet.save_model(midnet.create_model("nafnet-s", width=8), tmp_path / f"naf-f{k}" / "last.safetensors")
    result = compare(folder, ["input", f"NAFNet tiny={tmp_path}/naf-f{{fold}}/last.safetensors",
                              f"{tmp_path}/naf-f{{fold}}/last.safetensors"], folds=2, detail=32)
    assert result.methods == ["input", "NAFNet tiny", "naf"]
    assert "NAFNet tiny PSNR / SSIM" in result.markdown() and "safetensors" not in result.markdown()
    row = result.rows["a"]
    assert row["NAFNet tiny"] == row["naf"]  # the same weights under two names score the same
    with pytest.raises(MidnetError, match="given twice"):
        compare(folder, ["input", "x=wiener", "x=unsharp"])


def test_missing_fold_model_is_one_clear_error(folder, tmp_path):
    with pytest.raises(MidnetError, match="fold 0"):
        compare(folder, ["input", str(tmp_path / "none-fold{fold}.safetensors")], folds=2)


def test_compare_command_prints_markdown_and_writes_the_grid(folder, tmp_path):
    from click.testing import CliRunner

    from midnet.cli import cli

    grid = tmp_path / "grid.png"
    result = CliRunner().invoke(cli, ["compare", "--data", str(folder), "--methods", "input,unsharp", "--markdown",
                                      "--figure", str(grid)], obj={})
    assert result.exit_code == 0, result.output
    assert "| **mean** |" in result.stdout and "unsharp PSNR / SSIM" in result.stdout
    assert grid.is_file()
