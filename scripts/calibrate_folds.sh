#!/usr/bin/env bash
# Fits the classical methods on the training micrographs of each by-micrograph fold
# (the same 3 folds as scripts/train_midnet_sem.sh), and on all seven for the built-in defaults.
#   bash scripts/calibrate_folds.sh [runs-folder] [methods]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}; METHODS=${2:-wiener,richardson-lucy,unsharp}
DATA=${MIDNET_DATA:-../shared/data/sem-pairs}  # the shared pairs (docs/install.md)
mkdir -p "$RUNS/calib"
for f in 0 1 2; do
  names=$(python3 -c "from midnet.data import split_names, find_pairs
print(','.join(split_names([n for n, _, _ in find_pairs('$DATA')], folds=3, fold=$f)[0]))")
  midnet calibrate --data "$DATA" --names "$names" --methods "$METHODS" -o "$RUNS/calib/fold$f.json" > /dev/null
done
midnet calibrate --data "$DATA" --methods "$METHODS" -o "$RUNS/calib/all.json" > /dev/null
