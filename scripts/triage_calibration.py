"""Calibrate `midnet score`'s "sharp" / "worth restoring" line on what the fold models gain.

    python scripts/triage_calibration.py --sweep sweep.csv --method 1.1 [--data DIR]

``--sweep`` is the CSV of ``benchmarks/bench_blur_sweep.py``: for every held-out micrograph,
condition and noise seed, the PSNR of the input and of each fold model that never saw the
micrograph. This script remakes each input (the sweep's inputs are a pure function of the
micrograph, the condition and the seed), scores its focus as `midnet score` does, and prints:

- each input's blur_px beside the method's gain (the in-focus exposure counts as harmed when
  the restoration is below 38 dB of itself: restoring moved it);
- the range of blur_px where restoring helps by >= 0.5 dB and where it harms (gain < 0), and
  the sharp/worth-restoring threshold that keeps them apart, if one does;
- the seven real blurry exposures' blur_px, which must all land on the "worth restoring" side
  (every fold model gains >= 1.7 dB on them: docs/results.md section 9).
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict

import numpy as np

from midnet.quality.blur_sweep import IN_FOCUS, conditions, sharp_frames
from midnet.data import find_pairs
from midnet.data.shared import shared_pairs
from midnet.quality.focus import SHARP_MAX_PX, score
from midnet.images.io import read_image

HELPS_DB = 0.5  # a frame restoring improves by this much must never be called sharp
UNCHANGED_DB = 38.0  # an in-focus frame restored to within this PSNR of itself was left alone


def gains_by_input(path: str, method: str) -> dict[tuple[str, str, int], float]:
    rows: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows[(r["micrograph"], r["condition"], int(r["seed"]))][r["method"]] = float(r["psnr"])
    out = {}
    for key, psnrs in rows.items():
        if key[1] == IN_FOCUS:  # no gain against itself: harmed unless left (nearly) as it was
            out[key] = 0.0 if psnrs[method] >= UNCHANGED_DB else -1.0
        else:
            out[key] = psnrs[method] - psnrs["input"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", required=True)
    ap.add_argument("--method", required=True, help="The sweep's label of the model to calibrate for.")
    ap.add_argument("--data", default=str(shared_pairs()))
    args = ap.parse_args()
    gains = gains_by_input(args.sweep, args.method)
    columns = {c.name: c for c in conditions()}
    frames = sharp_frames(args.data, sorted({k[0] for k in gains}))
    blur = {k: score(columns[k[1]].input_for(frames[k[0]], k[2]), infobar="none").blur_px for k in gains}
    print("| condition | blur_px (mean over micrographs and seeds) | gain dB (mean) |")
    print("| --- | --- | --- |")
    for name in columns:
        keys = [k for k in gains if k[1] == name]
        if not keys:
            continue
        if name == IN_FOCUS:  # no gain against itself: how many restorations stayed within UNCHANGED_DB of it
            kept = sum(gains[k] == 0 for k in keys)
            shown = f"left alone (>= {UNCHANGED_DB:g} dB of itself) in {kept} of {len(keys)}"
        else:
            shown = f"{np.mean([gains[k] for k in keys]):+.2f}"
        print(f"| {name} | {np.mean([blur[k] for k in keys]):.2f} | {shown} |")
    helps = [blur[k] for k in gains if gains[k] >= HELPS_DB]
    harms = [blur[k] for k in gains if gains[k] < 0]
    print(f"restoring helps by >= {HELPS_DB} dB: blur_px {min(helps):.2f}..{max(helps):.2f} ({len(helps)} inputs)")
    if harms:
        print(f"restoring harms: blur_px {min(harms):.2f}..{max(harms):.2f} ({len(harms)} inputs)")
        fits = max(harms) < min(helps)
        print(f"a sharp/worth-restoring line between {max(harms):.2f} and {min(helps):.2f} px "
              + ("keeps them apart" if fits else "does not exist: the two ranges overlap"))
    else:
        print(f"restoring harms no input: every line below {min(helps):.2f} px keeps the helped frames off 'sharp'")
    real = {name: score(read_image(path).array, infobar="auto").blur_px for name, path, _ in find_pairs(args.data)}
    print("real blurry exposures: " + ", ".join(f"{n} {v:.2f}" for n, v in sorted(real.items()))
          + f" (current line: {SHARP_MAX_PX} px)")


if __name__ == "__main__":
    main()
