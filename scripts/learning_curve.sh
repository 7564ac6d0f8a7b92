#!/usr/bin/env bash
# The learning curve of docs/results.md section 10.1: the shipped recipe (configs/cpu.yaml) as one long cosine
# run per fold of the 3-fold split by micrograph, the held-out micrographs scored every
# 1,000 steps (the same `score_pairs` that `midnet eval` prints). Points before the last
# are intermediate checkpoints of one long schedule (the learning rate is still high there),
# not separate runs of that budget. Folds run one after another, never two at once; each
# resumes its checkpoint, so the script can be re-run after an interruption.
#   bash scripts/learning_curve.sh [steps] [run-prefix] [folds...]   # runs/lc-fold0, -fold1, -fold2
#   python scripts/learning_curve_table.py --prefix runs/lc             # the table of docs/results.md
#   python scripts/kfold_table.py --methods input,lc                   # the last step by `midnet eval`
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-12000}
RUNS=${2:-runs/lc}
shift $(( $# > 2 ? 2 : $# )) || true
FOLDS=${*:-0 1 2}
# Spinning OpenMP threads are faster on a quiet machine, and far slower when anything else
# shares the cores: set OMP_WAIT_POLICY=PASSIVE then.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-ACTIVE}
for f in $FOLDS; do
  out="$RUNS-fold$f"
  if grep -q "^$STEPS," "$out/metrics.csv" 2>/dev/null; then
    echo "== $out: done"; continue
  fi
  if [ -f "$out/checkpoint.json" ]; then
    echo "== $out: resuming"; midnet train --out "$out" --resume
  else
    echo "== $out: starting"
    midnet train configs/cpu.yaml --out "$out" --set iterations="$STEPS" --set data.folds=3 \
      --set data.fold="$f" --set val_every=1000
  fi
done
