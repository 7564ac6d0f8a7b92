"""The blur sweep on the k-fold by micrograph: each held-out micrograph restored by the fold models that never saw it.

    python benchmarks/bench_blur_sweep.py --models "1.1=models/folds/midnet-sem-fold{fold}.safetensors" \
        --wiener --seeds 3 --csv sweep.csv

``{fold}`` in a model path is replaced by the fold's number (3 folds, sorted names, as
``midnet train --set data.folds=3``). The shared pairs come from ``--data`` or MIDNET_DATA.
It prints one markdown table: per condition, the input's PSNR / SSIM against the in-focus
exposure and each method's gain (mean over micrographs and noise seeds; the worst micrograph's
in brackets). midnet/quality/blur_sweep.py says how the inputs are made.

Runs can be split and put together: ``--first-seed 1 --seeds 2`` adds seeds 1 and 2 to a run of
seed 0, and ``--table A.csv B.csv --methods 1.1,2.0`` prints the table of several runs' CSVs
(a score that two files hold is taken from the later file; both measured the same input).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from midnet.quality.blur_sweep import IN_FOCUS, Score, conditions, gains, score_micrograph, sharp_frames
from midnet.inference.settings import RestoreSettings
from midnet.data import find_pairs, split_names
from midnet.data.shared import shared_pairs
from midnet.inference.restore import make_restorer

FOLDS = 3


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(shared_pairs()))
    ap.add_argument("--models", default="1.1=models/folds/midnet-sem-fold{fold}.safetensors",
                    help="Comma-separated LABEL=PATH, {fold} in PATH replaced by the fold number.")
    ap.add_argument("--wiener", action="store_true", help="Also the Wiener filter with its fitted parameters.")
    ap.add_argument("--seeds", type=int, default=3, help="Noise seeds per condition.")
    ap.add_argument("--first-seed", type=int, default=0, help="The first noise seed (seeds run from it upwards).")
    ap.add_argument("--table", type=Path, nargs="+", help="Print the table of these CSVs instead of running.")
    ap.add_argument("--methods", help="With --table: the comma-separated methods to show (default: all).")
    ap.add_argument("--folds", default="0,1,2", help="Which folds to run.")
    ap.add_argument("--gaussian", default="0,0.5,1,2,3,4,6,8")
    ap.add_argument("--disc", default="1,2,3,4,6,8")
    ap.add_argument("--astigmatic", default="2,4,6")
    ap.add_argument("--csv", type=Path, help="Write every score here.")
    return ap.parse_args(argv)


def _numbers(text: str) -> list[float]:
    return [float(t) for t in text.split(",") if t.strip()]


def fold_restorers(models: dict[str, str], fold: int, wiener: bool) -> dict:
    """Label -> uint8 frame -> uint8 restoration, exact fp32 on PyTorch, whole frames as deblur runs them."""
    out = {}
    for label, path in models.items():
        r = make_restorer(RestoreSettings(model=path.format(fold=fold), engine="torch", precision="fp32"))
        out[label] = lambda frame, r=r: r.deblur(frame, infobar="none")
    if wiener:
        w = make_restorer(RestoreSettings(method="wiener"))
        out["wiener"] = lambda frame: w.deblur(frame, infobar="none")
    return out


def run(args: argparse.Namespace) -> list[Score]:
    models = dict(item.split("=", 1) for item in args.models.split(",") if item)
    columns = conditions(_numbers(args.gaussian), _numbers(args.disc), _numbers(args.astigmatic))
    names = [name for name, _, _ in find_pairs(args.data)]
    folds = [int(f) for f in args.folds.split(",")]
    held = {k: split_names(names, None, FOLDS, k)[1] for k in folds}
    runs_per_frame = 1 + (len(columns) - 1) * args.seeds
    bar = tqdm(total=sum(len(v) for v in held.values()) * runs_per_frame, desc="sweep", unit="input")
    scores: list[Score] = []
    for fold, held_out in held.items():
        restorers = fold_restorers(models, fold, args.wiener)
        for name, sharp in sharp_frames(args.data, held_out).items():
            bar.set_postfix_str(f"fold {fold}, {name}")
            seeds = list(range(args.first_seed, args.first_seed + args.seeds))
            scores += score_micrograph(name, sharp, columns, seeds, restorers, on_done=bar.update)
    bar.close()
    return scores


def table(scores: list[Score]) -> str:
    """Gains over the input per condition; for the in-focus exposure, the restoration's PSNR against itself."""
    methods = [m for m in dict.fromkeys(s.method for s in scores) if m != "input"]
    lines = ["| condition | input PSNR / SSIM | " + " | ".join(f"{m} gain dB (worst) / SSIM" for m in methods) + " |",
             "| --- | --- | " + " | ".join("---" for _ in methods) + " |"]
    for condition in dict.fromkeys(s.condition for s in scores):
        row = [s for s in scores if s.condition == condition]
        if condition == IN_FOCUS:  # the input is the reference: say how far each restorer moved it
            cells = ["(reference)"] + [f"{_mean(row, m, 'psnr'):.2f} dB of itself (worst {_worst(row, m):.2f}) / "
                                       f"{_mean(row, m, 'ssim'):.4f}" for m in methods]
            lines.append(f"| {condition} | " + " | ".join(cells) + " |")
            continue
        cells = [f"{_mean(row, 'input', 'psnr'):.2f} / {_mean(row, 'input', 'ssim'):.4f}"]
        for m in methods:
            g = [v for (_, c), v in gains(row, m).items() if c == condition]
            cells.append(f"{np.mean(g):+.2f} ({min(g):+.2f}) / {_mean(row, m, 'ssim'):.4f}")
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _worst(rows: list[Score], method: str) -> float:
    return float(min(s.psnr for s in rows if s.method == method))


def _mean(rows: list[Score], method: str, field: str) -> float:
    return float(np.mean([getattr(s, field) for s in rows if s.method == method]))


def read_tables(paths: list[Path], methods: str | None) -> list[Score]:
    """The scores of several runs' CSVs, one per (micrograph, condition, seed, method), the later file's first."""
    keep = None if methods is None else {"input", *methods.split(",")}
    merged: dict[tuple, Score] = {}
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                s = Score(row["micrograph"], row["condition"], int(row["seed"]), row["method"], float(row["psnr"]),
                          float(row["ssim"]))
                if keep is None or s.method in keep:
                    merged[(s.micrograph, s.condition, s.seed, s.method)] = s
    order = ["input", *methods.split(",")] if methods else []  # the table's columns in the order asked
    return sorted(merged.values(), key=lambda s: order.index(s.method) if s.method in order else 0)


def main(argv=None) -> None:
    args = parse(argv)
    scores = read_tables(args.table, args.methods) if args.table else run(args)
    if args.csv and not args.table:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(asdict(scores[0])))
            writer.writeheader()
            writer.writerows(asdict(s) for s in scores)
    micrographs = sorted({s.micrograph for s in scores})
    print(f"{len(micrographs)} held-out micrographs ({', '.join(micrographs)}), "
          f"{len({s.seed for s in scores})} noise seeds")
    print(table(scores))


if __name__ == "__main__":
    main()
