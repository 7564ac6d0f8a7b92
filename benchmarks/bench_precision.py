"""Reduced precision's quality test: a real frame's grey levels, and the k-fold by micrograph.

1. On a real 1280x960 micrograph (the body of sem-pairs/blur/1-1.png) with the shipped
   model: each engine and precision against the torch fp32 restorer, as the largest and
   mean difference in grey levels of an 8-bit and a 16-bit file (the restorer's output on
   the file's [0, 1] scale times 255 and 65535), and the time against fp32 torch (same
   process, alternating, best of N).
2. ``--kfold``: the three fold models of the shipped recipe (models/folds/) each scored
   with `midnet eval`'s code on the micrographs it never saw, in every precision; the mean
   PSNR/SSIM and the difference from fp32 (the bound reduced precision is held to: 0.01 dB and 0.0005).
    python -m benchmarks.bench_precision [--repeats 3] [--kfold] [--data ../shared/data/sem-pairs]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from midnet.data.shared import shared_pairs
from midnet.inference.engine_choice import installed
from midnet.inference.settings import RestoreSettings
from midnet.images.io import read_image, to_gray_float
from midnet.inference.precision import native_bf16
from midnet.inference.restore import make_restorer

ROOT = Path(__file__).resolve().parents[1]
DATA = shared_pairs()
PSNR_BOUND, SSIM_BOUND = 0.01, 0.0005


def paths() -> list[tuple[str, str]]:
    """(engine, precision) pairs installed here, torch fp32 (the reference) first."""
    pairs = [("torch", "fp32"), ("torch", "bf16")]
    if installed("onnx"):
        pairs.append(("onnx", "fp32"))
    if installed("openvino"):
        pairs += [("openvino", "fp32"), ("openvino", "bf16")]
    return pairs


def real_frame(data: Path) -> np.ndarray:
    image = read_image(data / "blur" / "1-1.png").array[:960]  # rows 960.. are the info bar
    return to_gray_float(image)  # [0, 1] on the file's scale


def frame_table(gray: np.ndarray, model: str, repeats: int) -> None:
    restorers = {p: make_restorer(RestoreSettings(model=model, engine=p[0], precision=p[1])) for p in paths()}
    outputs = {p: r(gray) for p, r in restorers.items()}  # warm-up: exports, compiles
    times: dict[tuple[str, str], list[float]] = {p: [] for p in restorers}
    for _ in range(repeats):  # alternating, so a shared machine's drifts hit every path
        for p, r in restorers.items():
            t0 = time.perf_counter()
            r(gray)
            times[p].append(time.perf_counter() - t0)
    ref, t_ref = outputs[("torch", "fp32")], min(times[("torch", "fp32")])
    print(f"real frame 1-1 (1280x960), model {model}; best of {repeats}; native bf16: {native_bf16()}")
    print(f"{'path':<18} {'s/frame':>8} {'vs torch fp32':>13} {'max 8-bit':>10} {'mean 8-bit':>10} "
          f"{'max 16-bit':>10} {'mean 16-bit':>11}")
    for p, r in restorers.items():
        d = np.abs(outputs[p] - ref)
        label = f"{p[0]} {r.provenance['precision']}"
        print(f"{label:<18} {min(times[p]):8.3f} {t_ref / min(times[p]):12.2f}x {d.max() * 255:10.3f} "
              f"{d.mean() * 255:10.4f} {d.max() * 65535:10.1f} {d.mean() * 65535:11.2f}")


def kfold_table(data: Path) -> None:
    from midnet.data import find_pairs, load_pairs, split_names
    from midnet.quality.evaluate import score_restorer

    names = [n for n, _, _ in find_pairs(data)]
    scores: dict[tuple[str, str], list[dict]] = {}
    for fold in range(3):
        held_out = split_names(names, folds=3, fold=fold)[1]
        pairs = load_pairs(data, "auto", held_out, align="affine", warn_shift=False)
        model = str(ROOT / "models" / "folds" / f"midnet-sem-fold{fold}.safetensors")
        for p in paths():
            restorer = make_restorer(RestoreSettings(model=model, engine=p[0], precision=p[1]))
            scores.setdefault(p, []).extend(score_restorer(restorer, pairs, align=False)["images"])
    ref = scores[("torch", "fp32")]
    print(f"\nk-fold by micrograph (3 fold models, {len(ref)} held-out micrographs, registered affine)")
    print(f"{'path':<16} {'PSNR dB':>8} {'SSIM':>7} {'mean dPSNR':>10} {'mean dSSIM':>10} {'worst |dPSNR|':>13} "
          f"{'worst |dSSIM|':>13}  (bound on the means: {PSNR_BOUND} dB / {SSIM_BOUND})")
    mean = lambda images, k: float(np.mean([i[k] for i in images]))  # noqa: E731
    for p, images in scores.items():
        dp, ds = mean(images, "psnr") - mean(ref, "psnr"), mean(images, "ssim") - mean(ref, "ssim")
        wp = max(abs(a["psnr"] - b["psnr"]) for a, b in zip(images, ref))
        ws = max(abs(a["ssim"] - b["ssim"]) for a, b in zip(images, ref))
        verdict = "passes" if abs(dp) <= PSNR_BOUND and abs(ds) <= SSIM_BOUND else "FAILS"
        print(f"{p[0] + ' ' + p[1]:<16} {mean(images, 'psnr'):8.3f} {mean(images, 'ssim'):7.4f} {dp:+10.4f} "
              f"{ds:+10.5f} {wp:13.4f} {ws:13.5f}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="midnet-sem")
    parser.add_argument("--kfold", action="store_true", help="also the k-fold PSNR/SSIM with the fold models")
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()
    data = Path(args.data)
    frame_table(real_frame(data), args.model, args.repeats)
    if args.kfold:
        kfold_table(data)


if __name__ == "__main__":
    main()
