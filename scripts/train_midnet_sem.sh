#!/usr/bin/env bash
# Trains the bundled midnet-sem model and its by-micrograph 3-fold held-out twins with
# configs/cpu.yaml on the shared SEM pairs: fold 0 first (the first held-out check of the
# recipe), then the shipped run on all seven, then folds 1 and 2. Each stage resumes its checkpoint when one
# exists, so the script can be re-run after an interruption until every stage is done.
#   bash scripts/train_midnet_sem.sh [runs-folder]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}
source scripts/stages.sh
stage configs/cpu.yaml "$RUNS/sem-fold0" --set data.folds=3 --set data.fold=0  # the first held-out check
stage configs/cpu.yaml "$RUNS/sem-all"
for f in 1 2; do stage configs/cpu.yaml "$RUNS/sem-fold$f" --set data.folds=3 --set data.fold=$f; done
