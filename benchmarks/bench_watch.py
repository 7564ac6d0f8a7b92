"""`midnet watch` kept running: memory against the number of files seen, and the scan of a very full folder.

1. Memory: ``--files`` small micrographs (48x64 PNGs) arrive in ten equal rounds; after each
   round the watcher polls until all are restored (a classical restorer: the figure is the
   watcher's own state, not a network's). tracemalloc measures the Python heap the watcher
   holds (current, after a collection) and the peak of each round; reported as ratios of the
   last round to the first (1.0: nothing grows with the files seen).
2. Scan: ``--scan-files`` files already in the folder (empty files with image names: a scan
   reads names and sizes, never pixels). Times one poll that finds them all new (a stat each,
   remembered as pending), a second poll (they settle), and a poll of a folder where every
   file is done (its output exists: one listing of the output folder, no stat per file).
    python -m benchmarks.bench_watch [--files 2000] [--scan-files 100000] [--folder DIR]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

from midnet.pipeline import FramePipeline
from midnet.inference.settings import RestoreSettings
from midnet.watch import WatchPlan, Watcher


class Clock:
    """The watcher's clock moved by hand: every file settles on its second poll, without sleeping."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drain(watcher: Watcher, clock: Clock) -> None:
    """Poll until a poll finds nothing new: what run() does between the microscope's files."""
    while True:
        watcher.scan()
        clock.now += watcher.settle + 1
        ready = watcher.scan()
        if not ready:
            return
        for path in ready:
            watcher.take(path)


def memory(root: Path, files: int) -> None:
    pipeline = FramePipeline.build(RestoreSettings(method="unsharp", infobar="none"))
    (root / "in").mkdir()
    clock = Clock()
    watcher = Watcher(WatchPlan(root / "in", root / "out"), pipeline, settle=1.0, echo=lambda _: None, clock=clock)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    tracemalloc.start()
    rounds, per_round = [], files // 10
    for r in range(10):
        tracemalloc.reset_peak()
        for i in range(per_round):
            Image.fromarray(frame).save(root / "in" / f"m{r:02d}_{i:05d}.png")
        drain(watcher, clock)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        rounds.append((per_round * (r + 1), current, peak, len(watcher.pending), len(watcher.passed)))
    tracemalloc.stop()
    print(f"memory: {files} files in 10 rounds, watcher state after each round (tracemalloc, Python heap)")
    print(f"{'files seen':>10} {'held KiB':>9} {'peak KiB':>9} {'pending':>8} {'remembered':>10}")
    for seen, current, peak, pending, passed in rounds:
        print(f"{seen:>10} {current / 1024:>9.0f} {peak / 1024:>9.0f} {pending:>8} {passed:>10}")
    first, last = rounds[0], rounds[-1]
    print(f"held after {last[0]} / after {first[0]}: {last[1] / first[1]:.2f}; "
          f"peak of the last round / of the first: {last[2] / first[2]:.2f}")
    done = sum(1 for _ in (root / "out").glob("*.png"))
    print(f"restored {done} of {files} ({watcher.tally.counts['restored']} by the watcher's count)")


def scan(root: Path, files: int) -> None:
    source, out = root / "full", root / "full-out"
    source.mkdir()
    out.mkdir()
    for i in range(files):
        (source / f"f{i:06d}.tif").touch()
    clock = Clock()
    watcher = Watcher(WatchPlan(source, out), pipeline=None, settle=1.0, echo=lambda _: None, clock=clock)
    t0 = time.perf_counter()
    watcher.scan()
    t_new = time.perf_counter() - t0
    pending = len(watcher.pending)
    clock.now += 2
    t0 = time.perf_counter()
    ready = watcher.scan()
    t_settled = time.perf_counter() - t0
    for i in range(files):
        (out / f"f{i:06d}.tif").touch()
    t0 = time.perf_counter()
    left = watcher.scan()
    t_done = time.perf_counter() - t0
    print(f"scan of {files} files already in the folder ({root}):")
    print(f"  first poll, all new:  {t_new:.2f} s ({files / t_new:,.0f} files/s), {pending} pending")
    print(f"  second poll, settled: {t_settled:.2f} s, {len(ready)} ready")
    print(f"  every file done:      {t_done:.2f} s ({files / t_done:,.0f} files/s), {len(left)} ready, "
          f"{len(watcher.pending)} pending")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--scan-files", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, default=None, help="Where to make the files (default: a temporary folder).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        memory(Path(tmp), args.files)
        scan(Path(tmp), args.scan_files)


if __name__ == "__main__":
    main()
