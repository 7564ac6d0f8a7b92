"""scripts/learning_curve_table.py: the k-fold mean is over micrographs, and a resumed run's clock adds up."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture()
def table_module(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # the script imports kfold_table beside it
    sys.modules.pop("learning_curve_table", None)
    import learning_curve_table

    return learning_curve_table


def write_run(folder: Path, data: Path, fold: int, rows: list[tuple]) -> None:
    """rows: (iteration, elapsed_s, val_psnr, val_ssim[, l1]); empty strings where nothing was validated."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"data": {"path": str(data), "folds": 3, "fold": fold}}))
    lines = ["iteration,loss,l1,val_psnr,val_ssim,elapsed_s"]
    lines += [f"{r[0]},0.1,{r[4] if len(r) > 4 else 0.1},{r[2]},{r[3]},{r[1]}" for r in rows]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture()
def seven_pairs(tmp_path) -> Path:
    """Seven names, as the shared data has: 3-fold holds out 3, 2 and 2 of them."""
    for sub in ("blur", "sharp"):
        (tmp_path / "data" / sub).mkdir(parents=True)
        for name in ("a", "b", "c", "d", "e", "f", "g"):
            (tmp_path / "data" / sub / f"{name}.png").write_bytes(b"")
    return tmp_path / "data"


def test_kfold_mean_weights_folds_by_held_out_micrographs(table_module, seven_pairs, tmp_path, capsys, monkeypatch):
    prefix = tmp_path / "runs" / "lc"
    write_run(Path(f"{prefix}-fold0"), seven_pairs, 0, [(1000, 3600, "20.0", "0.5")])
    write_run(Path(f"{prefix}-fold1"), seven_pairs, 1, [(1000, 3600, "27.0", "0.9")])
    write_run(Path(f"{prefix}-fold2"), seven_pairs, 2, [(1000, 3600, "27.0", "0.9")])
    monkeypatch.setattr(sys, "argv", ["learning_curve_table.py", "--prefix", str(prefix)])
    table_module.main()
    row = capsys.readouterr().out.strip().splitlines()[-1]
    # over the seven micrographs: (3 x 20 + 4 x 27) / 7 = 24.00, not the fold mean 24.67
    assert "**24.00 / 0.7286**" in row


def test_a_resumed_runs_clock_is_added_to_the_time_before(table_module, seven_pairs, tmp_path):
    run = tmp_path / "lc-fold0"
    # validated at 1000 after 1 h; stopped; resumed at 0 s, validated at 2000 after 0.5 h more
    write_run(run, seven_pairs, 0, [(1000, 3600, "25.0", "0.8", 0.05), (1500, 5400, "", "", 0.04),
                                    (1600, 360, "", "", 0.03), (2000, 1800, "26.0", "0.85", 0.02)])
    curve = table_module.read_curve(run)
    assert curve[1000] == (25.0, 0.8, 3600.0, 0.05)
    psnr, ssim, seconds, l1 = curve[2000]
    assert (psnr, ssim, seconds) == (26.0, 0.85, 5400.0 + 1800.0)
    assert l1 == pytest.approx(0.03)  # the training L1 of the steps logged since step 1000 only


def test_a_missing_fold_leaves_the_kfold_mean_empty(table_module, seven_pairs, tmp_path, capsys, monkeypatch):
    prefix = tmp_path / "lc"
    write_run(Path(f"{prefix}-fold0"), seven_pairs, 0, [(1000, 3600, "25.0", "0.8")])
    monkeypatch.setattr(sys, "argv", ["learning_curve_table.py", "--prefix", str(prefix)])
    table_module.main()
    row = capsys.readouterr().out.strip().splitlines()[-1]
    assert row.startswith("| 1,000 | 25.00 / 0.8000 (1.00) | 0.1000 |") and row.endswith("| - |")

