"""The by-micrograph k-fold table of docs/results.md, from `midnet eval --json` runs.

For each fold, every method is scored with `midnet eval` on the micrographs that fold held
out: networks trained without them (runs/<prefix>-fold<k>/last.safetensors) and classical
methods calibrated without them (runs/calib/fold<k>.json). Prints one markdown table with
each micrograph and the mean, and the exact commands it ran.
    python scripts/kfold_table.py --methods input,wiener,sem [--folds 3] [--only 0,1] [--runs runs]
A method is `input`, `wiener`/`richardson-lucy`/`unsharp`, a run prefix such as `sem`
(runs/sem-fold0...) or `cmp/nafnet-all` (runs/cmp/nafnet-all-f0...), or `label=weights` with
`{fold}` in the weights' path, relative to the current folder
(`v1=models/folds/midnet-sem-fold{fold}.safetensors`). `--region registered` passes eval's
diagnostic on (scored only where the pair lines up) and adds each micrograph's scored fraction.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from midnet.inference.classical import CLASSICAL_METHODS, INPUT
from midnet.data.shared import shared_pairs
from midnet.quality.evaluate import REGIONS

ROOT = Path(__file__).resolve().parents[1]


def fold_names(data: str, folds: int, fold: int) -> list[str]:
    from midnet.data import find_pairs, split_names

    return split_names([n for n, _, _ in find_pairs(data)], folds=folds, fold=fold)[1]


def run_dir(runs: Path, prefix: str, fold: int) -> Path:
    for candidate in (runs / f"{prefix}-fold{fold}", runs / f"{prefix}-f{fold}"):
        if candidate.is_dir():
            return candidate
    raise SystemExit(f"no run for {prefix} fold {fold} under {runs}")


def weights_for(runs: Path, method: str, fold: int) -> Path:
    """The weights a network method was trained with for ``fold``: a `{fold}` pattern or a run's last."""
    if "=" in method:
        pattern = method.split("=", 1)[1]
        if "{fold}" not in pattern:  # one model on every fold would score micrographs it was trained on
            raise SystemExit(f"{method}: the weights' path needs {{fold}}, one model per fold")
        weights = Path(pattern.format(fold=fold))
        if not weights.is_file():
            raise SystemExit(f"{method}: no weights {weights} for fold {fold}")
        return weights
    return run_dir(runs, method, fold) / "last.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="input,wiener,sem")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--only", default=None, help="comma-separated folds to score (default: all), e.g. 0,1 "
                        "while a method's last fold is still training")
    parser.add_argument("--runs", default=str(ROOT / "runs"))
    parser.add_argument("--region", choices=REGIONS, default="all",
                        help="eval's --region: 'registered' is the diagnostic, 'all' the protocol")
    parser.add_argument("--data", default=str(shared_pairs()))
    args = parser.parse_args()
    runs, methods = Path(args.runs), args.methods.split(",")
    table: dict[str, dict[str, tuple[float, float]]] = {}
    scored: dict[str, float] = {}  # the fraction of each frame --region registered scored
    commands = []
    folds = [int(k) for k in args.only.split(",")] if args.only else range(args.folds)
    for fold in folds:
        names = ",".join(fold_names(args.data, args.folds, fold))
        for method in methods:
            if method == INPUT:
                continue
            if method in CLASSICAL_METHODS:
                cmd = ["midnet", "eval", "--method", method, "--calib", str(runs / "calib" / f"fold{fold}.json")]
            else:
                cmd = ["midnet", "eval", "--model", str(weights_for(runs, method, fold))]
            cmd += ["--data", args.data, "--names", names, "--region", args.region, "--json"]
            commands.append(" ".join(cmd))
            result = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            for im in result["images"]:
                table.setdefault(im["name"], {})[method] = (im["psnr"], im["ssim"])
                table[im["name"]][INPUT] = (im["input_psnr"], im["input_ssim"])
                if "scored_fraction" in im:
                    scored[im["name"]] = im["scored_fraction"]
    extra = " scored |" if scored else ""
    print("| micrograph (fold) | " + " | ".join(f"{m.split('=')[0]} PSNR / SSIM" for m in methods) + " |" + extra)
    print("|" + " --- |" * (len(methods) + 1 + bool(scored)))
    for name in sorted(table):
        fold = next(k for k in folds if name in fold_names(args.data, args.folds, k))
        cells = [f"{table[name][m][0]:.2f} / {table[name][m][1]:.4f}" for m in methods]
        cells += [f"{scored[name]:.3f}"] if scored else []
        print(f"| {name} ({fold}) | " + " | ".join(cells) + " |")
    means = [(sum(table[n][m][0] for n in table) / len(table), sum(table[n][m][1] for n in table) / len(table)) for m in methods]
    cells = [f"**{p:.2f} / {s:.4f}**" for p, s in means] + ([f"{sum(scored.values()) / len(scored):.3f}"] if scored else [])
    print("| **mean** | " + " | ".join(cells) + " |")
    print("\ncommands:", file=sys.stderr)
    for c in commands:
        print("  " + c, file=sys.stderr)


if __name__ == "__main__":
    main()
