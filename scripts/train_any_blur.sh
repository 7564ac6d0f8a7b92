#!/usr/bin/env bash
# Trains midnet-sem 2.0's recipe (configs/any-blur.yaml): the three by-micrograph fold models,
# each warm-started from the 1.1 fold model that never saw its held-out micrographs, then the
# model on all seven from the shipped 1.1. Each stage resumes its checkpoint when one exists,
# so the script can be re-run after an interruption until every stage is done.
#   bash scripts/train_any_blur.sh [runs-folder] [stages...]     (stages: fold0 fold1 fold2 all)
#   MIDNET_DATA=DIR points at the pair folder (default: ../shared/data/sem-pairs)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}
shift || true
STAGES=${*:-fold0 fold1 fold2 all}
DATA=${MIDNET_DATA:-../shared/data/sem-pairs}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # sleep, not spin, at OpenMP barriers on shared cores
ITERATIONS=$(python3 -c "import yaml;print(yaml.safe_load(open('configs/any-blur.yaml'))['iterations'])")
stage() {  # stage NAME [--set ...]
  local out="$RUNS/$1"; shift
  if grep -q "^$ITERATIONS," "$out/metrics.csv" 2>/dev/null; then
    echo "== $out: done"; return
  fi
  if [ -d "$out" ] && ls "$out" | grep -q -v -e '^config.yaml$' -e '^metrics.csv$'; then
    echo "== $out: resuming"; midnet train --out "$out" --resume
  else
    echo "== $out: starting"; midnet train configs/any-blur.yaml --data "$DATA" --out "$out" "$@"
  fi
}
for s in $STAGES; do
  case $s in
    fold[0-2]) k=${s#fold}; stage "any-blur-fold$k" --set data.folds=3 --set data.fold=$k \
                 --set model.init_from=models/folds/midnet-sem-fold$k.safetensors ;;
    all) stage any-blur-all --set model.init_from=midnet-sem ;;
    *) echo "unknown stage $s (fold0 fold1 fold2 all)" >&2; exit 2 ;;
  esac
done
