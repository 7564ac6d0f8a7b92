"""Scoring a frame against restoring it: ``midnet.quality.focus.score`` vs the restorer's ``deblur``, same frame.

The focus score is meant to be at least 20x faster than restoring the frame. Both run on
the same 1280x1024 frame with a 64-row info bar (the shared SEM pairs' size), in this
process, alternating, best of N; the restorer is built once before timing (as a batch
does). Also times reading the file, which a batch pays for both.
    python -m benchmarks.bench_focus [--repeats 5] [--image PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import product_model, threads
from midnet.quality import focus
from midnet.data.shared import shared_pairs
from midnet.inference.settings import RestoreSettings
from midnet.images.io import read_image
from midnet.inference.restore import make_restorer

SAMPLE = shared_pairs() / "blur" / "1-1.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image", type=Path, default=SAMPLE)
    args = parser.parse_args()
    if args.image.is_file():
        t0 = time.perf_counter()
        frame = read_image(args.image).array
        t_read = time.perf_counter() - t0
        label = str(args.image)
    else:  # no shared data: a textured frame of the same size, blurred, with a black info bar
        from scipy import ndimage as ndi

        rng = np.random.default_rng(0)
        frame = np.clip(ndi.gaussian_filter(rng.random((1024, 1280)), 3) * 4 * 255 - 400, 0, 255).astype(np.uint8)
        frame[960:] = 0
        t_read, label = float("nan"), "generated 1280x1024 frame"
    net, model = product_model()
    restorer = make_restorer(RestoreSettings.exact(model=net))
    restorer.deblur(frame)  # warm-up
    focus.score(frame)
    t_score, t_restore = [], []
    for _ in range(args.repeats):  # alternate, so drifts of a shared machine hit both
        t0 = time.perf_counter(); focus.score(frame); t_score.append(time.perf_counter() - t0)  # noqa: E702
        t0 = time.perf_counter(); restorer.deblur(frame); t_restore.append(time.perf_counter() - t0)  # noqa: E702
    s, r = min(t_score), min(t_restore)
    print(f"{label}: {frame.shape}; model {model}; {threads()} torch threads; best of {args.repeats}")
    print(f"read the file:            {t_read:7.3f} s")
    print(f"midnet.quality.focus.score:       {s:7.3f} s")
    print(f"restorer.deblur:          {r:7.3f} s")
    print(f"restoring / scoring: {r / s:.1f}x")


if __name__ == "__main__":
    main()
