"""How the domain check of `midnet deblur` behaves: no alarm on unseen micrographs of the training
kind, an alarm on other kinds. For each fold model: its held-out real blurry frames (should pass),
the sharp exposures (another blur width and noise), and a blur domain it never saw.

    python scripts/domain_report.py --data ../shared/data/sem-pairs --other runs/defocus-pairs
"""

from __future__ import annotations

import argparse

from midnet.quality import domain
from midnet.data import load_pairs, split_names
from midnet.data.pairs import find_pairs
from midnet.models.zoo import metadata_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--other", help="a pair folder of another blur domain (its blurry frames are checked)")
    parser.add_argument("--model", default="models/folds/midnet-sem-fold{fold}.safetensors")
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    names = [n for n, _, _ in find_pairs(args.data)]
    other = load_pairs(args.other, align="none", warn_shift=False) if args.other else []
    for fold in range(args.folds):
        model = args.model.format(fold=fold)
        try:
            ranges = domain.domain_from_metadata(metadata_of(model))
        except Exception as exc:  # a fold not trained yet
            print(f"fold {fold}: {model}: {exc}")
            continue
        held = split_names(names, folds=args.folds, fold=fold)[1]
        print(f"fold {fold}: domain {ranges}")
        if ranges is None:
            continue  # a model that records no domain is never checked
        for pair in load_pairs(args.data, names=held, align="none", warn_shift=False):
            for label, frame in (("blurry (unseen)", pair.blur), ("sharp exposure", pair.sharp)):
                report(f"{pair.name} {label}", frame, pair.full_scale, ranges)
        for pair in other:
            if pair.name in held:
                report(f"{pair.name} other domain", pair.blur, pair.full_scale, ranges)


def report(label: str, frame, full_scale: float, ranges) -> None:
    described = domain.describe(frame, full_scale)
    reasons = domain.departures(described, ranges)
    values = ", ".join(f"{k} {v:.3g}" for k, v in sorted(described.items()))
    print(f"  {label:<26} {'OUTSIDE' if reasons else 'inside '}  {values}" + (f"  ({'; '.join(reasons)})" if reasons else ""))


if __name__ == "__main__":
    main()
