"""Batches on a real dask LocalCluster: two worker processes over loopback, one thread each.

A small MIDNet (width 8, perturbed beta/gamma, saved to a file) stands in for the shipped model:
the tests are about what the cluster does to the bytes, not about the network.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from tests.conftest import SEM_PAIRS  # noqa: E402
from midnet.images.batch import collect_inputs, plan_jobs  # noqa: E402
from midnet.cluster.files import RestorerSpec, dask_client, restore_file, run_distributed  # noqa: E402
from midnet.pipeline import FramePipeline  # noqa: E402
from midnet.inference.restore import make_restorer  # noqa: E402
from midnet.inference.settings import RestoreSettings  # noqa: E402

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def client():
    """One LocalCluster for the module: 2 worker processes x 1 thread (2 cores / 2 workers)."""
    with dask_client("local:2") as c:
        yield c


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory) -> Path:
    """256x256 crops of three real blurry micrographs and one whole frame (with its info bar)."""
    if not (SEM_PAIRS / "blur").is_dir():
        pytest.skip(f"real SEM pairs not found at {SEM_PAIRS}")
    folder = tmp_path_factory.mktemp("micrographs")
    names = sorted((SEM_PAIRS / "blur").glob("*.png"))
    for i, path in enumerate(names[:3]):
        frame = np.asarray(Image.open(path))
        Image.fromarray(frame[200 + 64 * i : 456 + 64 * i, 300 : 556]).save(folder / f"crop-{path.name}")
    Image.open(names[3]).save(folder / names[3].name)
    return folder


def _spec(model_file: Path) -> RestorerSpec:
    return RestorerSpec(RestoreSettings.exact(model=str(model_file)))


@pytest.fixture(scope="module")
def alone(micrographs, model_file, tmp_path_factory) -> Path:
    """The single-process batch's outputs, at the workers' thread count (one)."""
    out = tmp_path_factory.mktemp("alone")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pipeline = FramePipeline.build(_spec(model_file).settings)  # as the command line writes it
        report = pipeline.run(plan_jobs(collect_inputs([str(micrographs)]), out))
    finally:
        torch.set_num_threads(threads)
    assert len(report.restored) == 4
    return out


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_two_workers_write_the_bytes_of_one_process(client, micrographs, model_file, alone, tmp_path):
    spec = _spec(model_file)
    files = collect_inputs([str(micrographs)])
    report = run_distributed(plan_jobs(files, tmp_path / "cluster"), client, spec, report_file=tmp_path / "r.jsonl",
                             quiet=True)
    assert len(report.restored) == 4 and not report.failed
    # same bytes: torch runs one thread in each worker and in this process, so the sums run in one order
    assert _bytes(tmp_path / "cluster") == _bytes(alone)
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert sorted(x["input"] for x in lines) == sorted(str(f) for f, _ in files)
    assert {x["status"] for x in lines} == {"restored"} and all(x["error"] is None for x in lines)
    assert {x["worker"] for x in lines} <= set(client.scheduler_info()["workers"]) and all(x["seconds"] > 0 for x in lines)


def test_the_thread_count_moves_a_few_pixels_by_one_grey_level_at_most(client, micrographs, model_file, tmp_path):
    """Workers of one thread against one process of two: oneDNN splits the sums by thread, so a value that
    lands near a rounding boundary may round the other way (docs/cluster.md: midnet-sem on the seven real
    512x512 crops, 1 vs 2 threads, moved 1 or 2 pixels in 3 of 7 crops by one level, none by more)."""
    spec = _spec(model_file)
    crops = plan_jobs(collect_inputs([str(p) for p in sorted(micrographs.glob("crop-*"))]), tmp_path / "cluster")
    run_distributed(crops, client, spec, quiet=True)
    torch.set_num_threads(2)  # the autouse fixture restores the count
    FramePipeline.build(spec.settings).run(
        plan_jobs(collect_inputs([str(p) for p in sorted(micrographs.glob("crop-*"))]), tmp_path / "two"))
    for job in crops:
        one = np.asarray(Image.open(job.output)).astype(int)
        two = np.asarray(Image.open(tmp_path / "two" / job.output.name)).astype(int)
        assert np.abs(one - two).max() <= 1


def kill_worker_once(job, overwrite, output_is_input, plugin=None):
    """The batch's task, but the first time it meets crop-*1-1* it kills its own worker process outright."""
    marker = job.output.parent / "killed-once"
    if "1-1" in job.source.name and not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return restore_file(job, overwrite, output_is_input, plugin)


def test_a_killed_workers_file_is_restored_by_another(client, micrographs, model_file, alone, tmp_path):
    crops = tmp_path / "crops"
    crops.mkdir()
    for p in micrographs.glob("crop-*"):
        (crops / p.name).write_bytes(p.read_bytes())
    jobs = plan_jobs(collect_inputs([str(crops)]), tmp_path / "out")
    report = run_distributed(jobs, client, _spec(model_file), report_file=tmp_path / "r.jsonl", quiet=True,
                             task=kill_worker_once)
    assert (tmp_path / "out" / "killed-once").is_file()  # a worker did die mid-batch
    (tmp_path / "out" / "killed-once").unlink()
    assert len(report.restored) == 3 and not report.failed and not report.skipped
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [x["status"] for x in lines] == ["restored"] * 3
    restored = _bytes(tmp_path / "out")
    assert restored == {name: data for name, data in _bytes(alone).items() if name in restored}


def test_the_planes_of_a_zarr_stack_are_tasks(client, model_file, tmp_path):
    from midnet.cluster.large_images import open_lazy, restore_zarr_file

    from ..conftest import smooth_image

    stack = np.stack([smooth_image(120, 150, seed=s) for s in range(3)])
    stack = np.round(stack * 50000 + np.random.default_rng(0).normal(0, 500, stack.shape)).clip(0, 65535)
    stack = stack.astype(np.uint16)
    zarr.open_array(str(tmp_path / "stack.zarr"), mode="w", shape=stack.shape, chunks=(1, 64, 64), dtype=np.uint16)[:] = stack
    spec = RestorerSpec(RestoreSettings.exact(model=str(model_file), tile=64, overlap=32, infobar="none"))
    assert restore_zarr_file(tmp_path / "stack.zarr", tmp_path / "out", "", spec, client=client, quiet=True) == (
        "restored", "")
    got = open_lazy(tmp_path / "out" / "stack.ome.zarr")
    assert got.axes == ["z", "y", "x"]
    # planes restored in two worker processes equal the in-memory restorer's pages in this one (one thread each)
    want = make_restorer(spec.settings).deblur(stack, "none")
    np.testing.assert_array_equal(got.array.compute(), want)


def test_cli_on_a_scheduler_reports_a_bad_file_at_the_end_and_resumes(client, micrographs, model_file, tmp_path):
    from midnet.cli import cli

    inputs = tmp_path / "in"
    inputs.mkdir()
    for p in sorted(micrographs.glob("crop-*"))[:2]:
        (inputs / p.name).write_bytes(p.read_bytes())
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    scan = tmp_path / "scan.zarr"  # restored block by block on the same cluster: a report line of its own
    zarr.open_array(str(scan), mode="w", shape=(96, 80), chunks=(48, 48), dtype=np.uint8)[:] = (
        np.random.default_rng(3).integers(0, 255, (96, 80), dtype=np.uint8))
    args = ["deblur", str(inputs), str(scan), "-o", str(tmp_path / "out"), "--model", str(model_file),
            "--engine", "torch",  # auto would first time the engines on every worker: a minute of 2 busy cores
            "--scheduler", client.scheduler.address,  # the module's cluster: --cluster local:N is the other tests'
            "--report", str(tmp_path / "r.jsonl"), "--log", str(tmp_path / "run.log"), "--quiet"]
    first = CliRunner().invoke(cli, args, obj={})
    assert first.exit_code == 1
    assert "3 restored, 0 skipped, 1 failed" in first.output
    assert first.output.rstrip().splitlines()[-1].startswith(f"failed: {inputs / 'broken.png'}")  # at the end
    lines = {Path(x["input"]).name: x for x in map(json.loads, (tmp_path / "r.jsonl").read_text().splitlines())}
    assert set(lines) == {p.name for p in inputs.iterdir()} | {"scan.zarr"}
    assert lines["scan.zarr"]["output"] == str(tmp_path / "out" / "scan.ome.zarr")
    assert lines["broken.png"]["status"] == "failed" and "broken.png" in lines["broken.png"]["error"]
    assert {lines[n]["status"] for n in lines if n != "broken.png"} == {"restored"}
    assert "restored" in (tmp_path / "run.log").read_text()
    # atomic writes (and the Zarr input's partial store, renamed when complete) left nothing behind
    assert not [p for p in (tmp_path / "out").iterdir() if ".tmp" in p.name or ".midnet-partial" in p.name]
    second = CliRunner().invoke(cli, args, obj={})  # a rerun skips what is done
    assert "0 restored, 3 skipped, 1 failed" in second.output and second.exit_code == 1


def test_two_specs_on_one_scheduler_keep_their_own_restorers(client, model_file):
    from midnet.cluster.files import ensure_plugin, release_plugins, worker_restorer

    a = RestorerSpec(RestoreSettings.exact(model=str(model_file), tile=64, overlap=32, infobar="none"))
    b = RestorerSpec(RestoreSettings.exact(model=str(model_file), tile=96, overlap=32, infobar="none"))
    name_a, name_b = ensure_plugin(client, a), ensure_plugin(client, b)  # as two runs on one scheduler would
    assert name_a != name_b and name_a.startswith("midnet-restorer-")

    def built(name, dask_worker):
        return id(dask_worker.plugins[name].restorer)

    first = client.run(built, name_a)
    assert ensure_plugin(client, a) == name_a and client.run(built, name_a) == first  # once per client: not rebuilt

    def tile(name):
        return worker_restorer(name).spec.settings.tile

    assert client.gather([client.submit(tile, n, pure=False) for n in (name_a, name_b)]) == [64, 96]
    release_plugins(client)  # the end of a run: its restorers leave the workers
    left = client.run(lambda dask_worker: [n for n in dask_worker.plugins if n.startswith("midnet-restorer")])
    assert not any(name in names for names in left.values() for name in (name_a, name_b))


def test_engine_auto_is_chosen_once_on_the_client_at_the_workers_thread_count(client, model_file, monkeypatch):
    from midnet.inference import engine_choice
    from midnet.cluster.files import ensure_plugin, release_plugins

    threads = []

    def choose(net, precision="auto"):  # stands in for the minute of timing: what matters is where and how often
        threads.append(torch.get_num_threads())
        return engine_choice.Choice("torch", "bf16", measured=False)

    monkeypatch.setattr(engine_choice, "choose_engine", choose)
    spec = RestorerSpec(RestoreSettings(model=str(model_file), tile=64, engine="auto", precision="auto", infobar="none"))
    name = ensure_plugin(client, spec)
    assert threads == [1]  # here, once, at the workers' one thread each
    ran = client.run(lambda dask_worker: (dask_worker.plugins[name].spec.settings.engine,
                                          dask_worker.plugins[name].restorer.provenance["precision"]))
    assert set(ran.values()) == {("torch", "bf16")}  # the workers got the choice; none measured its own
    release_plugins(client)


def test_a_zarr_plane_that_fails_on_the_cluster_fails_its_file_only(client, model_file, tmp_path):
    from midnet.cluster.large_images import restore_zarr_file

    stack = np.random.default_rng(4).integers(0, 255, (3, 48, 64), dtype=np.uint8)
    for name in ("bad.zarr", "good.zarr"):
        zarr.open_array(str(tmp_path / name), mode="w", shape=stack.shape, chunks=(1, 48, 64),
                        dtype=np.uint8)[:] = stack
    chunk = tmp_path / "bad.zarr" / "c" / "1" / "0" / "0"
    assert chunk.is_file()
    chunk.write_bytes(b"not zstd")  # plane 1 cannot be decoded: the codec's own error on a worker
    spec = RestorerSpec(RestoreSettings.exact(model=str(model_file), tile=64, overlap=32, infobar="none"))
    status, why = restore_zarr_file(tmp_path / "bad.zarr", tmp_path / "out", "", spec, client=client, quiet=True)
    assert status == "failed" and "bad.zarr" in why and "\n" not in why
    assert restore_zarr_file(tmp_path / "good.zarr", tmp_path / "out", "", spec, client=client, quiet=True) == (
        "restored", "")
