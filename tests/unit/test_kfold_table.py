"""scripts/kfold_table.py: which weights score which fold."""

from __future__ import annotations

from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture()
def kfold_table(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import kfold_table

    return kfold_table


def test_a_run_prefix_scores_each_folds_last_weights(kfold_table, tmp_path):
    (tmp_path / "lever" / "local-fold2").mkdir(parents=True)
    assert kfold_table.weights_for(tmp_path, "lever/local", 2) == tmp_path / "lever" / "local-fold2" / "last.safetensors"
    with pytest.raises(SystemExit, match="no run for lever/w24 fold 0"):
        kfold_table.weights_for(tmp_path, "lever/w24", 0)


def test_a_pattern_names_each_folds_own_weights(kfold_table, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k in (0, 1):
        Path(f"m-fold{k}.safetensors").write_bytes(b"")
    assert kfold_table.weights_for(tmp_path, "v1=m-fold{fold}.safetensors", 1) == Path("m-fold1.safetensors")
    with pytest.raises(SystemExit, match="no weights m-fold2.safetensors for fold 2"):
        kfold_table.weights_for(tmp_path, "v1=m-fold{fold}.safetensors", 2)


def test_one_model_for_every_fold_is_refused(kfold_table, tmp_path):
    # it would score micrographs the model was trained on as if held out
    with pytest.raises(SystemExit, match="needs {fold}"):
        kfold_table.weights_for(tmp_path, "v1=models/midnet-sem.safetensors", 0)
