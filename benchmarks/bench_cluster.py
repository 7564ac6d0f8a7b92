"""Dask: frames per minute on a LocalCluster, per-task costs, and the memory of a 16384-wide OME-Zarr restoration.

    python -m benchmarks.bench_cluster throughput   # 1 process x 2 threads vs 2 workers x 1 thread
    python -m benchmarks.bench_cluster big           # the 16384x16384 uint16 input: statistics, pyramid
    python -m benchmarks.bench_cluster strip --rows 1024   # restore its top rows (client + worker RSS)
    python -m benchmarks.bench_cluster tile --model M     # one 768x768 tile: the network's share of RSS
    python -m benchmarks.bench_cluster               # all of them, each stage in its own process

The throughput runs restore the real blurry micrographs of $MIDNET_DATA (default ../shared/data/sem-pairs) (all seven,
1280x1024) with the shipped model into a temporary folder. The 16384x16384 input is made
lazily from micrograph 1-1 (its 1280x960 body as 16 bits, mirrored copies side by side) and
written chunk by chunk; it is kept in /tmp/midnet-bench for later runs. Peak memory is each
process's ru_maxrss (the client's, and each worker's through ``client.run``).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from midnet.data.shared import shared_pairs

REPO = Path(__file__).resolve().parents[1]
BLUR = shared_pairs() / "blur"
WORK = Path(tempfile.gettempdir()) / "midnet-bench"
BIG = WORK / "sem16k.ome.zarr"
SIDE = 16384


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def throughput(model: str) -> None:
    import torch

    from midnet.images.batch import collect_inputs, plan_jobs
    from midnet.cluster.files import RestorerSpec, dask_client, run_distributed
    from midnet.images.io import read_image, write_image
    from midnet.pipeline import FramePipeline
    from midnet.inference.settings import RestoreSettings

    files = collect_inputs([str(BLUR)])
    n = len(files)
    spec = RestorerSpec(RestoreSettings.exact(model=model))
    with tempfile.TemporaryDirectory() as tmp:
        torch.set_num_threads(2)
        pipeline = FramePipeline.build(spec.settings)  # what every worker builds
        t0 = time.perf_counter()
        report = pipeline.run(plan_jobs(files, Path(tmp) / "one"))
        one = time.perf_counter() - t0
        assert len(report.restored) == n, report.failed
        t0 = time.perf_counter()
        img = read_image(files[0][0])
        write_image(Path(tmp) / "io.png", img.array, like=img)
        io_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        with dask_client("local:2") as client:
            start = time.perf_counter() - t0
            t1 = time.perf_counter()
            report = run_distributed(plan_jobs(files, Path(tmp) / "two"), client, spec, report_file=Path(tmp) / "r.jsonl",
                                     quiet=True)
            two = time.perf_counter() - t1
            lines = [json.loads(x) for x in (Path(tmp) / "r.jsonl").read_text().splitlines()]
            t1 = time.perf_counter()
            client.gather(client.map(lambda i: i, range(500), pure=False))
            per_task = (time.perf_counter() - t1) / 500
        assert len(report.restored) == n, report.failed
    task_mean = sum(x["seconds"] for x in lines) / n
    print(f"{n} real micrographs 1280x1024, model {model}")
    print(f"1 process x 2 threads:  {one:6.1f} s  {60 * n / one:5.2f} frames/min")
    print(f"2 workers x 1 thread:   {two:6.1f} s  {60 * n / two:5.2f} frames/min  ({one / two:.2f}x; plus "
          f"{start:.1f} s cluster start and model load per worker)")
    print(f"per file on a worker: {task_mean:.2f} s (of it, reading + writing a PNG here: {io_seconds:.2f} s); "
          f"scheduler round trip per task: {1000 * per_task:.1f} ms (500 empty tasks)")


def make_big() -> None:
    """The 16384x16384 uint16 OME-Zarr input, made lazily (dask) from a real micrograph."""
    import dask.array as da
    import zarr
    from ome_zarr.writer import write_multiscales_metadata

    from midnet.images.io import read_image

    if (BIG / "zarr.json").is_file():
        return
    frame = read_image(BLUR / "1-1.png").array
    frame = (frame[..., 0] if frame.ndim == 3 else frame)[:960].astype(np.uint16) * 257
    tile = np.block([[frame, frame[:, ::-1]], [frame[::-1], frame[::-1, ::-1]]])  # mirrored: no seams
    reps = (-(-SIDE // tile.shape[0]), -(-SIDE // tile.shape[1]))
    big = da.tile(da.from_array(tile, chunks=1024), reps)[:SIDE, :SIDE].rechunk(1024)
    # a detector's noise: 16-bit values between the 8-bit steps, so that percentiles fall between pixels
    noise = da.random.default_rng(0).normal(0.0, 400.0, big.shape, chunks=1024)
    big = (big.astype(np.float32) + noise).clip(0, 65535).round().astype(np.uint16)
    shutil.rmtree(BIG, ignore_errors=True)
    group = zarr.open_group(str(BIG), mode="w", zarr_format=3)
    target = group.create_array("0", shape=big.shape, chunks=(1024, 1024), dtype=np.uint16)
    da.store(big, target, lock=False)
    write_multiscales_metadata(group, [{"path": "0", "coordinateTransformations": [
        {"type": "scale", "scale": [0.005, 0.005]}]}], axes=[{"name": "y", "type": "space", "unit": "micrometer"},
                                                             {"name": "x", "type": "space", "unit": "micrometer"}])


def exact_percentiles(plane, percentiles) -> tuple[float, float]:
    """np.percentile's values over every pixel of a uint16 plane, from a histogram built chunk by chunk."""
    import dask.array as da

    counts = da.bincount(plane.ravel(), minlength=65536).compute().astype(np.int64)
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])
    out = []
    for p in percentiles:  # numpy's default (linear) between the order statistics around rank p/100 * (n - 1)
        rank = p / 100 * (n - 1)
        lo, hi = int(np.floor(rank)), int(np.ceil(rank))
        v_lo, v_hi = int(np.searchsorted(cumulative, lo + 1)), int(np.searchsorted(cumulative, hi + 1))
        out.append(v_lo + (v_hi - v_lo) * (rank - lo))
    return out[0], out[1]


def big(model: str) -> None:
    """Statistics pass and pyramid of the full 16384x16384 input, in this process (no cluster)."""
    import dask.array as da
    import zarr

    from midnet.images import intensity
    from midnet.cluster.large_images import _pyramid, measure_plane, open_lazy

    t0 = time.perf_counter()
    make_big()
    made = time.perf_counter() - t0
    image = open_lazy(BIG)
    t0 = time.perf_counter()
    scale = measure_plane(image.array)
    measured = time.perf_counter() - t0
    low, high = exact_percentiles(image.array, intensity.PERCENTILES)
    low, high = low / 65535, high / 65535
    print(f"input {BIG}: {SIDE}x{SIDE} uint16 ({SIDE * SIDE * 2 / 2**30:.2f} GiB), made lazily in {made:.0f} s")
    print(f"intensity map from the strided read (step {intensity.sample_step(SIDE * SIDE)}, "
          f"{measured:.0f} s with the extremes): low {scale.low:.6f} span {scale.width:.6f}")
    print(f"over every pixel (histogram):                         low {low:.6f} span {high - low:.6f}; "
          f"difference {abs(scale.low - low) * 65535:.1f} and {abs(scale.width - (high - low)) * 65535:.1f} "
          f"levels of 16 bits")
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        group = zarr.open_group(tmp, mode="w", zarr_format=3)
        da.store(image.array, group.create_array("0", shape=image.array.shape, chunks=(1024, 1024), dtype=np.uint16),
                 lock=False)
        t0 = time.perf_counter()
        levels = _pyramid(group, np.uint16)
        print(f"pyramid of {levels} levels (2x2 means) in {time.perf_counter() - t0:.0f} s")
    print(f"peak RSS of this process: {peak_mib():.0f} MiB")


def strip(model: str, rows: int, precision: str = "auto") -> None:
    """The input's top ``rows`` x 16384 restored end to end on a LocalCluster of one worker with 2 threads."""
    import dask.array as da
    import zarr

    from midnet.cluster.files import RestorerSpec, dask_client
    from midnet.cluster.large_images import open_lazy, restore_zarr_file
    from midnet.inference.settings import RestoreSettings

    make_big()
    source = WORK / f"strip{rows}.zarr"
    if not (source / "zarr.json").is_file():
        top = open_lazy(BIG).array[:rows]
        da.store(top, zarr.open_array(str(source), mode="w", shape=top.shape, chunks=(1024, 1024), dtype=np.uint16),
                 lock=False)
    out = WORK / f"out{rows}"
    shutil.rmtree(out, ignore_errors=True)
    spec = RestorerSpec(RestoreSettings(model=model, engine="torch", tile=None, overlap=128, precision=precision,
                                        infobar="none"))
    with dask_client("local:1") as client:
        t0 = time.perf_counter()
        status = restore_zarr_file(source, out, "", spec, client=client, quiet=True)
        seconds = time.perf_counter() - t0
        workers = client.run(peak_mib)
    assert status[0] == "restored", status
    tiles = open_lazy(out / f"strip{rows}.ome.zarr").array.shape
    print(f"{tiles[1]}x{tiles[0]} uint16 restored in {seconds:.0f} s (model {model}, precision {precision}, "
          "tile 768, overlap 128)")
    print(f"peak RSS: client {peak_mib():.0f} MiB; worker {max(workers.values()):.0f} MiB")


def tile_peak(model: str) -> None:
    """Peak RSS of one 768x768 tile through the restorer, over the process before it (the network's share)."""
    from midnet.inference.restore import make_restorer
    from midnet.inference.settings import RestoreSettings

    restorer = make_restorer(RestoreSettings.exact(model=model))
    tile = np.random.default_rng(0).random((768, 768), dtype=np.float32)
    before = peak_mib()
    t0 = time.perf_counter()
    restorer(tile)
    print(f"one 768x768 tile, model {model}: {time.perf_counter() - t0:.1f} s; peak RSS {before:.0f} MiB loaded, "
          f"{peak_mib():.0f} MiB after the forward (+{peak_mib() - before:.0f} MiB)")


def tiny_model() -> str:
    """A width-8 MIDNet with random weights: the pipeline's memory at a fraction of midnet-sem's compute."""
    import midnet

    path = WORK / "midnet-w8.safetensors"
    if not path.is_file():
        midnet.save_model(midnet.create_model("midnet-s", width=8), path)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", nargs="?", choices=["throughput", "big", "strip", "tile"])
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--model", default="midnet-sem", help="a preset, a weights file, or 'tiny' (width 8)")
    parser.add_argument("--precision", default="auto", help="as midnet deblur --precision (its default: auto)")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.model == "tiny":
        args.model = tiny_model()
    if args.stage == "throughput":
        throughput(args.model)
    elif args.stage == "big":
        big(args.model)
    elif args.stage == "strip":
        strip(args.model, args.rows, args.precision)
    elif args.stage == "tile":
        tile_peak(args.model)
    else:  # each stage in a fresh process: its own peak RSS
        for stage in (["throughput"], ["big"], ["strip", "--rows", "1024"], ["strip", "--rows", "2048"]):
            subprocess.run([sys.executable, "-m", "benchmarks.bench_cluster", *stage, "--model", args.model],
                           check=True, cwd=REPO)


if __name__ == "__main__":
    main()
