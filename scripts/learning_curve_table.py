"""The learning-curve table of docs/results.md from the runs of scripts/learning_curve.sh.

Reads each fold's metrics.csv (the held-out PSNR/SSIM the training loop logs at every
validation step, computed by the same `score_pairs` as `midnet eval`) and prints one
markdown row per validated step: the cumulative training wall time, each fold's held-out
mean and its training L1 (the mean of the steps logged since the previous row: a held-out
score falling while this falls is overfitting), and the k-fold mean over the held-out micrographs (each fold weighted by how many it
holds out, so the mean is over micrographs, as kfold_table.py's is) where every fold has
reached that step.
    python scripts/learning_curve_table.py [--prefix runs/lc] [--folds 3]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import yaml

from kfold_table import fold_names


def read_curve(run: Path) -> dict[int, tuple[float, float, float, float]]:
    """step -> (held-out PSNR, SSIM, cumulative wall seconds, training L1 since the previous validation).

    A resumed run's clock restarts at 0; its segments are added up.
    """
    curve, offset, previous, l1 = {}, 0.0, 0.0, []
    with open(run / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            elapsed = float(row["elapsed_s"] or 0.0)
            if elapsed < previous:  # a resumed segment: its clock starts again
                offset += previous
            previous = elapsed
            if row.get("l1"):
                l1.append(float(row["l1"]))
            if row.get("val_psnr"):
                mean_l1 = sum(l1) / len(l1) if l1 else float("nan")
                curve[int(row["iteration"])] = (float(row["val_psnr"]), float(row["val_ssim"]), offset + elapsed, mean_l1)
                l1 = []
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default="runs/lc", help="runs are PREFIX-fold0, PREFIX-fold1...")
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    curves, weights = {}, {}
    for k in range(args.folds):
        run = Path(f"{args.prefix}-fold{k}")
        if not (run / "metrics.csv").is_file():
            continue
        config = yaml.safe_load((run / "config.yaml").read_text())
        if config["data"]["folds"] != args.folds or config["data"]["fold"] != k:
            raise SystemExit(f"{run}: trained as fold {config['data']['fold']} of {config['data']['folds']}, "
                             f"not fold {k} of {args.folds}")
        weights[k] = len(fold_names(str(config["data"]["path"]), args.folds, k))
        curves[k] = read_curve(run)
    if not curves:
        raise SystemExit(f"no runs {args.prefix}-fold<k> with a metrics.csv")
    steps = sorted(set().union(*curves.values()))
    header = ["step"] + [h for k in curves for h in (f"fold {k} PSNR / SSIM (wall h)", f"fold {k} training L1")]
    header += ["k-fold mean PSNR / SSIM"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for step in steps:
        cells = [f"{step:,}"]
        for k, curve in curves.items():
            if step in curve:
                psnr, ssim, seconds, l1 = curve[step]
                cells += [f"{psnr:.2f} / {ssim:.4f} ({seconds / 3600:.2f})", f"{l1:.4f}"]
            else:
                cells += ["-", "-"]
        if len(curves) == args.folds and all(step in c for c in curves.values()):
            total = sum(weights.values())
            psnr = sum(weights[k] * curves[k][step][0] for k in curves) / total
            ssim = sum(weights[k] * curves[k][step][1] for k in curves) / total
            cells.append(f"**{psnr:.2f} / {ssim:.4f}**")
        else:
            cells.append("-")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
