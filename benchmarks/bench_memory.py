"""Peak memory of restoring a large 16-bit micrograph with midnet.deblur (CPU, automatic tiles).

Runs the restoration in a fresh child process per case and reads its peak RSS
(resource.getrusage), so the cases do not share a high-water mark. Prints the peak
of the 8192x8192 case, the reference (the same child only importing midnet, loading
the model and allocating the input), and their difference and ratio.
    python -m benchmarks.bench_memory [--size 8192]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, '.')
from benchmarks.common import product_model
import midnet
size, run, tile = int(sys.argv[1]), sys.argv[2] == "run", (int(sys.argv[3]) if sys.argv[3] != "auto" else None)
net, label = product_model()
rng = np.random.default_rng(0)
image = (rng.random((size, size), dtype=np.float32) * 65535).astype(np.uint16)
seconds = 0.0
if run:
    t0 = time.perf_counter()
    out = midnet.deblur(image, model=net, infobar="none", tile=tile)
    seconds = time.perf_counter() - t0
    assert out.dtype == np.uint16 and out.shape == image.shape
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
print(json.dumps({"peak_mib": peak, "seconds": seconds, "model": label}))
"""


def child(size: int, run: bool, tile: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(size), "run" if run else "load", tile],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--tile", default="auto")
    args = parser.parse_args()
    ref = child(args.size, run=False, tile=args.tile)
    res = child(args.size, run=True, tile=args.tile)
    image_mib = args.size * args.size * 2 / 2**20
    print(f"model: {res['model']}; image {args.size}x{args.size} uint16 ({image_mib:.0f} MiB); tile {args.tile}")
    print(f"reference (imports + model + input):  {ref['peak_mib']:8.0f} MiB peak RSS")
    print(f"deblur {args.size}x{args.size}:                {res['peak_mib']:8.0f} MiB peak RSS ({res['seconds']:.0f} s)")
    print(f"added by restoring: {res['peak_mib'] - ref['peak_mib']:.0f} MiB; ratio to reference {res['peak_mib'] / ref['peak_mib']:.2f}x;"
          f" {res['peak_mib'] / 1024:.2f} GiB in all (limit 3 GiB)")


if __name__ == "__main__":
    main()
