"""The one cache of exported models: keys that follow the weights and the tools, an override, atomic files, clearing."""

import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

import midnet
from midnet.inference import cache
from midnet.cli import cli
from midnet.inference.fast import optimize_for_inference
from midnet.images.publish import HOST, atomic_write


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    return folder


def small_net(seed=0):
    torch.manual_seed(seed)
    return midnet.create_model("midnet-s", width=8).eval()


def test_weights_hash_is_the_same_for_a_module_and_its_file_and_follows_every_weight(tmp_path):
    net = small_net()
    path = midnet.save_model(net, tmp_path / "w.safetensors")
    sha = cache.weights_sha256(net)
    assert sha == cache.weights_sha256(path) == cache.weights_sha256(midnet.load_model(path))
    # layout, grad flags and device bookkeeping are not weights
    assert cache.weights_sha256(net.to(memory_format=torch.channels_last).requires_grad_(False)) == sha
    # the fused inference copy names the network it was made from
    assert cache.weights_sha256(optimize_for_inference(net)) == sha
    with torch.no_grad():
        next(net.parameters()).view(-1)[0] += 1e-6
    assert cache.weights_sha256(net) != sha
    assert cache.weights_sha256("midnet-sem") == cache.weights_sha256(midnet.load_model("midnet-sem"))


def test_the_onnx_cache_name_changes_with_the_weights_and_the_exporters_version(cache_dir, monkeypatch):
    pytest.importorskip("onnx")
    onnxscript = pytest.importorskip("onnxscript")
    from midnet.inference.onnx_graph import onnx_cache_path

    a, b = small_net(0), small_net(1)
    path = onnx_cache_path(a)
    assert path.parent.parent == cache_dir and path.suffix == ".onnx"
    assert onnx_cache_path(a) == path  # stable: the same network finds its file again
    assert onnx_cache_path(b) != path
    plain = midnet.create_model("nafnet-s", width=8)
    ungated = midnet.create_model("midnet-s", width=8, skip="add")
    ungated.load_state_dict(plain.state_dict())  # equal tensors, another architecture: another graph
    assert cache.weights_sha256(plain) == cache.weights_sha256(ungated)
    assert onnx_cache_path(plain) != onnx_cache_path(ungated)
    monkeypatch.setattr(onnxscript, "__version__", "999.0")
    assert onnx_cache_path(a) != path
    monkeypatch.undo()
    monkeypatch.setenv(cache.CACHE_ENV, str(cache_dir))
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    assert onnx_cache_path(a) != path


def test_the_cache_folder_follows_the_environment_and_the_command_prints_it(tmp_path, monkeypatch):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    from platformdirs import user_cache_dir

    assert cache.cache_dir() == __import__("pathlib").Path(user_cache_dir("midnet", appauthor=False))
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert cache.cache_dir() == tmp_path / "elsewhere"
    result = CliRunner().invoke(cli, ["cache", "--path"], obj={})
    assert result.exit_code == 0 and result.output.strip() == str(tmp_path / "elsewhere")


def test_a_failed_export_leaves_nothing_that_is_used_later(cache_dir):
    target = cache.cache_path("onnx", "a" * 64, "tool1", ".onnx")

    def killed(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half a graph")
        raise KeyboardInterrupt  # the export dies halfway

    with pytest.raises(KeyboardInterrupt):
        cache.cached(target, killed)
    assert not target.exists() and cache.entries() == []
    made = []
    cache.cached(target, lambda tmp: (made.append(tmp), open(tmp, "wb").write(b"whole")))
    cache.cached(target, lambda tmp: made.append(tmp))  # present: not made again
    assert target.read_bytes() == b"whole" and len(made) == 1


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_cache_clear_removes_everything_and_says_how_much(cache_dir):
    for kind, sha in (("onnx", "a" * 64), ("onnx", "b" * 64), ("engine-choice", "c" * 64)):
        path = cache.cache_path(kind, sha, "tool1", ".bin")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    blob = cache_dir / "openvino" / "4947395460013535649.blob"  # OpenVINO names its compiled models itself
    blob.parent.mkdir()
    blob.write_bytes(b"x" * 1000)
    stale = cache_dir / "onnx" / f".half.onnx.midnet.{_dead_pid()}.{HOST}.abc.tmp"  # a killed writer's temporary
    stale.write_bytes(b"x")
    mine = cache_dir / "notes.txt"  # MIDNET_CACHE_DIR may point at a folder that holds other files
    mine.write_text("keep me")
    (cache_dir / "Desktop").mkdir()  # ... and empty folders that are not midnet's
    assert len(cache.entries()) == 4 and cache.total_size() == 4000
    listing = CliRunner().invoke(cli, ["cache"], obj={})
    assert listing.exit_code == 0 and "4 files, 4.0 kB" in listing.output
    assert os.path.join("openvino", blob.name) in listing.output
    result = CliRunner().invoke(cli, ["cache", "--clear"], obj={})
    assert result.exit_code == 0, result.output
    assert "removed 4 cached files" in result.output
    assert sorted(os.listdir(cache_dir)) == ["Desktop", "notes.txt"]  # artefacts, temporaries, emptied folders gone
    again = CliRunner().invoke(cli, ["cache", "--clear"], obj={})
    assert "removed 0 cached files" in again.output


def test_cache_clear_keeps_the_temporary_of_a_writer_still_running(cache_dir):
    target = cache.cache_path("onnx", "a" * 64, "tool1", ".onnx")
    done = cache.cache_path("onnx", "b" * 64, "tool1", ".onnx")
    with atomic_write(target) as tmp:  # this process is the writer, still under way
        open(tmp, "wb").write(b"half")
        cache.cached(done, lambda t: open(t, "wb").write(b"whole"))
        assert cache.clear() == 1
        assert os.path.exists(tmp) and not done.exists()  # the live writer's file (and its folder) stay
        open(tmp, "ab").write(b" and the rest")
    assert target.read_bytes() == b"half and the rest"


def test_cache_kinds_are_only_the_folders_clear_knows():
    with pytest.raises(ValueError, match="unknown cache kind"):
        cache.cache_path("Desktop", "a" * 64, "tool1", ".bin")
