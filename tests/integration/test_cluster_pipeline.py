"""A Dask worker restores with the one frame pipeline (midnet/pipeline.py), as the single-process batch does.

On a LocalCluster of one worker process: the worker's plugin holds a FramePipeline, each task reports its own
file's domain record (frames, outside_domain), and --uncertainty's spread is written beside each output, equal
to what FramePipeline.run writes in this process at the worker's thread count.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("distributed")
tifffile = pytest.importorskip("tifffile")

import midnet  # noqa: E402
from midnet.quality import domain  # noqa: E402
from midnet.images.batch import collect_inputs, plan_jobs  # noqa: E402
from midnet.cluster.files import RestorerSpec, core_count, dask_client, run_distributed  # noqa: E402
from midnet.pipeline import FramePipeline, domain_watch  # noqa: E402
from midnet.inference.settings import RestoreSettings  # noqa: E402

from ..conftest import smooth_image  # noqa: E402

pytestmark = pytest.mark.slow


def _frame(sigma: float, seed: int, bar: bool = False) -> np.ndarray:
    """A 128 px 8-bit frame with noise ``sigma``; with ``bar``, a 16-row info bar of text on black at its bottom."""
    rng = np.random.default_rng(seed)
    f = np.clip(0.2 + 0.6 * smooth_image(128, 128, seed) + sigma * rng.standard_normal((128, 128)), 0, 1)
    f = np.round(f * 255).astype(np.uint8)
    if bar:
        f[-16:] = 0
        f[-12:-4, 10:60:3] = 255  # the "text"
    return f


def _pixels(path: Path) -> np.ndarray:
    return tifffile.imread(path)


def test_a_dask_worker_restores_with_the_frame_pipeline(tmp_path):
    ranges = domain.fit([domain.describe(_frame(0.005, 3) / 255.0, 255)])
    weights = midnet.save_model(midnet.create_model("midnet-s", width=8), tmp_path / "m.safetensors",
                                metadata={domain.DOMAIN_KEY: json.dumps(ranges)})
    (tmp_path / "in").mkdir()
    for name, frame in (("clean", _frame(0.005, 3)), ("noisy", _frame(0.1, 3)), ("bar", _frame(0.005, 3, bar=True))):
        Image.fromarray(frame).save(tmp_path / "in" / f"{name}.png")
    settings = RestoreSettings.exact(model=str(weights), uncertainty=True)  # infobar auto: found once per frame
    inputs = collect_inputs([str(tmp_path / "in")])
    jobs = plan_jobs(inputs, tmp_path / "dask", fmt="tif", uncertainty=True)
    watch = domain_watch(settings)
    with dask_client("local:1") as client:
        report = run_distributed(jobs, client, RestorerSpec(settings), report_file=tmp_path / "r.jsonl", quiet=True,
                                 watch=watch)
        held = client.run(lambda dask_worker: [type(p.pipeline).__name__ for n, p in dask_worker.plugins.items()
                                               if n.startswith("midnet-restorer")])
    assert list(held.values()) == [["FramePipeline"]]
    assert len(report.restored) == 3 and not report.failed
    lines = {Path(x["input"]).stem: x for x in map(json.loads, (tmp_path / "r.jsonl").read_text().splitlines())}
    assert all(x["frames"] == 1 for x in lines.values())  # each task's own record: a fresh view of the pipeline
    assert lines["clean"]["outside_domain"] == [] and lines["noisy"]["outside_domain"][0][0] == 1

    torch.set_num_threads(core_count())  # the worker's threads (local:1): the same sums in the same order
    alone = FramePipeline.build(settings)
    alone.run(plan_jobs(inputs, tmp_path / "alone", fmt="tif", uncertainty=True))
    assert sorted(r for _, r in watch.outside) == sorted(r for _, r in alone.watch.outside)  # tasks end in any order
    for job in jobs:
        for target in (job.output, job.uncertainty):
            np.testing.assert_array_equal(_pixels(target), _pixels(tmp_path / "alone" / target.name))
    bar = next(job for job in jobs if job.source.stem == "bar")
    np.testing.assert_array_equal(_pixels(bar.output)[-16:], _frame(0.005, 3, bar=True)[-16:])  # kept bit for bit
    assert not _pixels(bar.uncertainty)[-16:].any()  # no spread on the info bar
