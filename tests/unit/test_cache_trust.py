"""The cache is checked, never trusted blindly (issue 33: faults 1, 6 and 7, and the cache category).

Every artefact's SHA-256 is recorded when it is written and verified before it is used; a
cache that cannot be written only costs time; a stored engine choice that names anything
but a candidate of this machine is measured again.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import midnet
from midnet.inference import cache


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    return folder


def _maker(content: bytes, calls: list):
    def make(tmp: str) -> None:
        calls.append(tmp)
        Path(tmp).write_bytes(content)

    return make


def test_a_cached_artefact_changed_after_it_was_written_is_made_again_with_one_line(cache_dir, capsys):
    path = cache.cache_path("onnx", "a" * 64, "tools1", ".onnx")
    calls: list = []
    make = _maker(b"the graph of these weights", calls)
    assert cache.cached(path, make) == path
    path.write_bytes(b"another model's graph, same size")  # replaced behind the cache's back
    assert cache.cached(path, make) == path
    assert len(calls) == 2 and path.read_bytes() == b"the graph of these weights"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "SHA-256" in err[0]
    assert cache.cached(path, make) == path and len(calls) == 2  # verified now: used as it is, silently
    assert capsys.readouterr().err == ""
    assert cache.verified_sha256(path) == hashlib.sha256(b"the graph of these weights").hexdigest()


def test_an_artefact_without_its_record_is_made_again_and_records_are_not_listed_as_artefacts(cache_dir):
    path = cache.cache_path("onnx", "b" * 64, "tools1", ".onnx")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"written by an older midnet, or by hand")
    calls: list = []
    cache.cached(path, _maker(b"made here", calls))
    assert calls and path.read_bytes() == b"made here"
    assert [e.path for e in cache.entries()] == [path]  # its record is no artefact of its own
    assert cache.clear() == 1 and not any(cache_dir.rglob("*.*"))  # and goes with it


def test_a_read_only_cache_costs_time_not_the_work(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder cannot be made below a file, as on a read-only file system")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocker / "cache"))
    calls: list = []
    make = _maker(b"measured", calls)
    first = cache.cached(cache.cache_path("engine-choice", "c" * 64, "v1", ".json"), make)
    second = cache.cached(cache.cache_path("engine-choice", "d" * 64, "v1", ".json"), make)
    assert first.read_bytes() == second.read_bytes() == b"measured" and len(calls) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cache" in err[0] and str(blocker) in err[0]  # one warning per process


def _small_net(seed: int):
    torch.manual_seed(seed)
    net = midnet.create_model("midnet-s", width=8).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_(0, 0.1)
    return net


@pytest.mark.slow
def test_a_cached_onnx_file_replaced_by_another_models_export_is_never_run(cache_dir, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from midnet.inference.onnx_graph import INPUT, OUTPUT, onnx_cache_path
    from midnet.inference.restore import make_restorer
    from midnet.inference.settings import RestoreSettings

    ours = _small_net(0)
    path = onnx_cache_path(ours)
    # an artefact the cache wrote and recorded, then replaced by another model's graph under our name; small graphs
    # of their own, since what runs in the end is under test, and each export of a net costs ~30 s here
    cache.cached(path, lambda tmp: _save_graph(tmp, scale=1.0, names=(INPUT, OUTPUT)))
    _save_graph(path, scale=3.0, names=(INPUT, OUTPUT))
    frame = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    onnx = make_restorer(RestoreSettings(model=ours, engine="onnx", precision="fp32"))
    out = onnx.deblur(frame, infobar=None)
    torch_out = make_restorer(RestoreSettings(model=ours, engine="torch", precision="fp32")).deblur(frame, infobar=None)
    assert np.abs(out.astype(int) - torch_out.astype(int)).max() <= 1  # ONNX Runtime's rounding, not another model
    ran = onnx.provenance
    assert ran["graph_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "SHA-256" in capsys.readouterr().err


def _save_graph(path, scale: float, names: tuple[str, str]) -> None:
    """An ONNX model with midnet's input and output names that multiplies the frame by ``scale``: another model."""
    from onnx import TensorProto, helper, numpy_helper, save

    dims = ["batch", 1, "height", "width"]
    graph = helper.make_graph([helper.make_node("Mul", [names[0], "scale"], [names[1]])], "another-model",
                              [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info(names[1], TensorProto.FLOAT, dims)],
                              [numpy_helper.from_array(np.array(scale, np.float32), "scale")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.slow
def test_a_stored_choice_naming_an_unknown_engine_or_precision_is_measured_again(cache_dir, monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from midnet.inference import engine_choice
    from midnet.inference.engine_choice import candidates, choice_path, choose_engine

    monkeypatch.setattr(engine_choice, "TRIAL_SIDE", 64)  # what is read back is under test, not the timings

    net = _small_net(0)
    pairs = candidates("fp32", torch.device("cpu"))
    assert len(pairs) > 1
    path = choice_path(net, "fp32", pairs)
    for engine, precision in (("tensorrt", "fp32"), ("torch", "int4")):
        cache.cached(path, lambda tmp: Path(tmp).write_text(json.dumps(
            {"engine": engine, "precision": precision, "seconds": {}})))
        choice = choose_engine(net, "fp32")
        assert choice.measured and (choice.engine, choice.precision) in pairs
        path.unlink()


def test_two_processes_making_one_artefact_at_once_leave_one_verified_artefact(cache_dir):
    path = cache.cache_path("onnx", "e" * 64, "tools1", ".onnx")
    code = ("import sys, time; from pathlib import Path; from midnet.inference import cache\n"
            "def make(tmp):\n    time.sleep(0.5); Path(tmp).write_bytes(b'same artefact ' * 1000)\n"
            f"cache.cached(Path({str(path)!r}), make)\n")
    runs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    assert [r.wait(60) for r in runs] == [0, 0]
    calls: list = []
    cache.cached(path, _maker(b"not needed", calls))
    assert not calls and cache.verified_sha256(path) == hashlib.sha256(b"same artefact " * 1000).hexdigest()
