"""One variable names the shared pair folder for the tests, scripts and benchmarks: MIDNET_DATA."""

from __future__ import annotations

from pathlib import Path

from midnet.data.shared import shared_pairs

REPO = Path(__file__).resolve().parents[2]


def test_midnet_data_names_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("MIDNET_DATA", str(tmp_path / "pairs"))
    assert shared_pairs() == tmp_path / "pairs"


def test_without_it_the_folder_is_beside_the_checkout(monkeypatch):
    monkeypatch.delenv("MIDNET_DATA", raising=False)
    assert shared_pairs() == REPO.parent / "shared" / "data" / "sem-pairs"


def test_no_python_script_hard_codes_the_folder():
    """scripts/ and benchmarks/ ask shared_pairs(); a path spelt out in code would ignore MIDNET_DATA."""
    spelt = [f"{p.relative_to(REPO)}:{n}" for folder in ("scripts", "benchmarks") for p in sorted((REPO / folder).glob("*.py"))
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if ('"shared" / "data"' in line or '"../shared/data' in line)]
    assert not spelt, "hard-coded shared data paths: " + ", ".join(spelt)
