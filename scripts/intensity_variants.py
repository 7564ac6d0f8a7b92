"""Does a restoration depend on how the micrograph's intensities were stored?

Each blurry micrograph is stored again as another lab would store it (10-16-bit data in a
uint16 container, float in other ranges, the detector's gain and offset turned), restored
by ``midnet.deblur`` exactly as a file would be, mapped back to the nominal 8-bit scale and
scored against the sharp exposure like ``midnet eval`` (affine registration measured on
the blurry/sharp pair, info bar excluded). Printed: the nominal PSNR/SSIM and each
variant's PSNR change against it.

    python scripts/intensity_variants.py --data ../shared/data/sem-pairs \
        --model 'runs/sem-fold{fold}/last.safetensors' --folds 3

``{fold}`` in --model takes, for each micrograph, the model of the fold that held it out.
With --folds 0 every micrograph is restored by the one --model. The script uses only
``midnet.deblur``, ``load_pairs``, ``split_names``, ``quantise``, ``psnr`` and ``ssim``, so it
also runs on older checkouts (PYTHONPATH=<checkout>) to measure the behaviour before a change.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import midnet
from midnet.inference.settings import EXACT
from midnet.data import load_pairs, split_names
from midnet.data.pairs import find_pairs
from midnet.quality.evaluate import quantise
from midnet.quality.metrics import psnr, ssim

# name -> (container dtype, gain, offset) applied to the 8-bit values v: stored = v * gain + offset
VARIANTS = {
    "8-bit (nominal)": (np.uint8, 1.0, 0.0),
    "10-bit in uint16": (np.uint16, 1023 / 255, 0.0),
    "12-bit in uint16": (np.uint16, 4095 / 255, 0.0),
    "14-bit in uint16": (np.uint16, 16383 / 255, 0.0),
    "16-bit": (np.uint16, 65535 / 255, 0.0),
    "gain x0.45": (np.uint8, 0.45, 0.0),
    "gain x0.3": (np.uint8, 0.3, 0.0),
    "12-bit, gain x1.5": (np.uint16, 1.5 * 4095 / 255, 0.0),
    "contrast x0.5 + offset 100": (np.uint8, 0.5, 100.0),
    "float 0..255": (np.float32, 1.0, 0.0),
    "float -1..1": (np.float32, 2 / 255, -1.0),
}


def stored(blur_8bit: np.ndarray, dtype, gain: float, offset: float) -> np.ndarray:
    values = blur_8bit.astype(np.float64) * gain + offset
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if values.max() > info.max:
            raise ValueError("variant would clip")
        return np.round(values).astype(dtype)
    return values.astype(dtype)


def score_variants(pair, model: str) -> dict[str, tuple[float, float]]:
    blur_8bit = np.round(pair.blur * 255)
    scores = {}
    for name, (dtype, gain, offset) in VARIANTS.items():
        restored = midnet.deblur(stored(blur_8bit, dtype, gain, offset), model=model, infobar="none", **EXACT)
        back = quantise((restored.astype(np.float64) - offset) / gain / 255, 255)
        scores[name] = (psnr(pair.sharp, back, data_range=1.0), ssim(pair.sharp, back, data_range=1.0))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True, help="preset or weights file; {fold} for one model per fold")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = [n for n, _, _ in find_pairs(args.data)]
    rows = {}
    for fold in range(max(args.folds, 1)):
        held = split_names(names, folds=args.folds, fold=fold)[1] if args.folds > 1 else names
        for pair in load_pairs(args.data, "auto", held, align="affine", warn_shift=False):
            rows[pair.name] = score_variants(pair, args.model.format(fold=fold))
    if args.json:
        print(json.dumps(rows))
        return
    nominal = "8-bit (nominal)"
    print("| micrograph | nominal PSNR / SSIM | " + " | ".join(v for v in VARIANTS if v != nominal) + " |")
    print("| --- " * len(VARIANTS) + "| --- |")
    mean = {v: np.mean([r[v][0] - r[nominal][0] for r in rows.values()]) for v in VARIANTS}
    for name, r in rows.items():
        cells = [f"{r[v][0] - r[nominal][0]:+.2f}" for v in VARIANTS if v != nominal]
        print(f"| {name} | {r[nominal][0]:.2f} / {r[nominal][1]:.4f} | " + " | ".join(cells) + " |")
    base = np.mean([r[nominal][0] for r in rows.values()]), np.mean([r[nominal][1] for r in rows.values()])
    print(f"| mean | {base[0]:.2f} / {base[1]:.4f} | " + " | ".join(f"{mean[v]:+.2f}" for v in VARIANTS if v != nominal) + " |")


if __name__ == "__main__":
    main()
