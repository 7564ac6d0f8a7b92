"""The ONNX engine with one cached dynamic-size export, against the old per-frame-size export and torch.

A microscope's batch: ``--per-size`` frames of each of 2-3 sizes, in turn. Three ways to
run the network on them, all in this process, on the same normalised frames (the part of
the restorer that differs between engines; normalisation is the same for all):

- torch: midnet's restorer's network (the fused inference copy, predict_whole);
- old onnx: the engine as it was before the cache, reimplemented here as the reference:
  one static ONNX export and session per frame shape, kept for at most 4 shapes;
- new onnx: midnet.inference.engines.OnnxEngine: one dynamic file from midnet's cache, started with
  a cold cache (export included) and again with a warm one (a later process).

Memory: each ONNX Runtime session keeps its own memory arena and the old engine holds
one session per size, so keep the sizes few on a small machine (docs/performance.md).

Start-up is the time until the first frame is done minus the steady per-frame time of
that size. Per-frame times are best of ``--repeats``, measured after the batches with the
engines interleaved, so that a busy machine's changing load falls on all of them alike.
    python -m benchmarks.bench_onnx_engine [--sizes 1280x960,640x480,512x384] [--per-size 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import logging
import os
import tempfile
import time
import warnings

import numpy as np
import torch

from benchmarks.common import product_model, threads
from midnet.inference.engines import OnnxEngine
from midnet.inference.fast import inference_copy
from midnet.inference.tiling import predict_whole

MAX_SESSIONS = 4  # the old engine's bound on exported shapes


class PerSizeOnnxEngine:
    """The old engine (before midnet/inference/onnx_graph.py): a static export and a session per input shape."""

    def __init__(self, module, threads_: int):
        self.module, self.threads, self.sessions, self.exports = module, threads_, {}, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = tuple(x.shape)
        if key not in self.sessions:
            if len(self.sessions) >= MAX_SESSIONS:
                self.sessions.pop(next(iter(self.sessions)))
            self.sessions[key] = self._export(x)
        return torch.from_numpy(self.sessions[key].run(None, {"x": x.contiguous().numpy()})[0])

    def _export(self, x: torch.Tensor):
        import onnxruntime as ort

        self.exports += 1
        buf = io.BytesIO()
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(self.module, (x.contiguous(),), buf, input_names=["x"], output_names=["y"],
                              dynamo=True, verbose=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        return ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])


def frames(sizes: list[tuple[int, int]], per_size: int) -> list[torch.Tensor]:
    rng = np.random.default_rng(0)
    return [torch.from_numpy(rng.random((h, w), dtype=np.float32))[None, None]
            for _ in range(per_size) for (w, h) in sizes]


def run_batch(runner, batch: list[torch.Tensor], multiple: int) -> list[float]:
    """Seconds per frame, in batch order, first frame's start-up included."""
    times = []
    with torch.inference_mode():
        for x in batch:
            t0 = time.perf_counter()
            predict_whole(runner, x, multiple)
            times.append(time.perf_counter() - t0)
    return times


def steady(runners: dict, sizes, multiple: int, repeats: int) -> dict[str, dict[tuple[int, int], float]]:
    """Best seconds per frame of each runner at each size, the runners interleaved (a busy machine's load
    then changes under all of them alike)."""
    best = {name: {size: float("inf") for size in sizes} for name in runners}
    inputs = {(w, h): torch.rand(1, 1, h, w) for (w, h) in sizes}
    with torch.inference_mode():
        for _ in range(repeats):
            for size, x in inputs.items():
                for name, runner in runners.items():
                    t0 = time.perf_counter()
                    predict_whole(runner, x, multiple)
                    best[name][size] = min(best[name][size], time.perf_counter() - t0)
    return best


def report(name: str, times: list[float], per_frame: dict, sizes, torch_per_frame: dict) -> None:
    first = sizes[0]
    cells = ", ".join(f"{w}x{h} {per_frame[(w, h)]:.3f} s ({torch_per_frame[(w, h)] / per_frame[(w, h)]:.2f}x torch)"
                      for (w, h) in sizes)
    print(f"{name:<22} batch {sum(times):7.1f} s; first frame {times[0]:6.1f} s "
          f"(start-up {times[0] - per_frame[first]:5.1f} s); per frame: {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1280x960,640x480,512x384")
    parser.add_argument("--per-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="midnet-sem")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    net, label = product_model(args.model)
    fused = inference_copy(net)
    m = int(fused.padder_size)
    batch = frames(sizes, args.per_size)
    print(f"model {label}; {threads()} threads; batch of {len(batch)} frames: {args.per_size} each of "
          f"{', '.join(f'{w}x{h}' for w, h in sizes)}, in turn")
    old = PerSizeOnnxEngine(fused, threads())
    with tempfile.TemporaryDirectory(prefix="midnet-bench-cache-") as folder:
        os.environ["MIDNET_CACHE_DIR"] = folder
        batches = {"torch restorer": run_batch(fused, batch, m), "old onnx (per size)": run_batch(old, batch, m),
                   "new onnx, cold cache": run_batch(OnnxEngine(fused), batch, m)}  # dropped after: its memory back
        gc.collect()
        warm = OnnxEngine(fused)  # what a later process finds: the file in the cache
        batches["new onnx, warm cache"] = run_batch(warm, batch, m)
        per_frame = steady({"torch restorer": fused, "old onnx (per size)": old, "new onnx": warm}, sizes, m,
                           args.repeats)
        x = batch[0]
        with torch.inference_mode():
            diff = (predict_whole(warm, x, m) - predict_whole(old, x, m)).abs().max().item()
            diff_torch = (predict_whole(warm, x, m) - predict_whole(fused, x, m)).abs().max().item()
    per_frame["new onnx, cold cache"] = per_frame["new onnx, warm cache"] = per_frame.pop("new onnx")
    for name, times in batches.items():
        report(name, times, per_frame[name], sizes, per_frame["torch restorer"])
    print(f"exports: old onnx {old.exports} (one per frame size), new onnx 1 (cold cache) and 0 (warm cache)")
    total = {name: sum(times) for name, times in batches.items()}
    print("batch time vs torch restorer: " + ", ".join(f"{name} {total['torch restorer'] / t:.2f}x"
                                                         for name, t in total.items() if name != "torch restorer"))
    print(f"max |new - old onnx| {diff:.2e}; max |new onnx - torch| {diff_torch:.2e} (normalised scale)")


if __name__ == "__main__":
    main()
