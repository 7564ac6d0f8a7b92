#!/usr/bin/env bash
# Trains the any-blur recipe (configs/any-blur.yaml): the three by-micrograph fold models, each
# warm-started from the 1.1 fold model that never saw its held-out micrographs, then the model on
# all seven from the 1.1 that shipped before 2.0 (models/v1.1/midnet-sem.safetensors). Each stage resumes its checkpoint when one exists.
#   bash scripts/train_any_blur.sh [runs-folder] [stages...]     (stages: fold0 fold1 fold2 all)
#   MIDNET_DATA=DIR points at the pair folder (default: ../shared/data/sem-pairs)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}
shift || true
STAGES=${*:-fold0 fold1 fold2 all}
DATA=${MIDNET_DATA:-../shared/data/sem-pairs}
source scripts/stages.sh
for s in $STAGES; do
  case $s in
    fold[0-2]) k=${s#fold}; stage configs/any-blur.yaml "$RUNS/any-blur-fold$k" --data "$DATA" \
                 --set data.folds=3 --set data.fold=$k --set model.init_from=models/folds/midnet-sem-fold$k.safetensors ;;
    all) stage configs/any-blur.yaml "$RUNS/any-blur-all" --data "$DATA" --set model.init_from=models/v1.1/midnet-sem.safetensors ;;
    *) echo "unknown stage $s (fold0 fold1 fold2 all)" >&2; exit 2 ;;
  esac
done
