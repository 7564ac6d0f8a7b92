#!/usr/bin/env bash
# Trains the bundled midnet-sem model and its by-micrograph 3-fold held-out twins with
# configs/cpu.yaml on the shared SEM pairs. Each stage resumes its checkpoint when one
# exists, so the script can be re-run after an interruption until every stage is done.
#   bash scripts/train_midnet_sem.sh [runs-folder]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}
stage() {  # stage NAME [--set ...]
  local out="$RUNS/$1"; shift
  if { [ -f "$out/checkpoint.json" ] || [ -f "$out/last.state.pt" ]; }; then
    if grep -q "^$(python3 -c "import yaml;print(yaml.safe_load(open('configs/cpu.yaml'))['iterations'])")," "$out/metrics.csv" 2>/dev/null; then
      echo "== $out: done"; return; fi
    echo "== $out: resuming"; midnet train configs/cpu.yaml --out "$out" "$@" --resume
  else
    echo "== $out: starting"; midnet train configs/cpu.yaml --out "$out" "$@"
  fi
}
stage sem-fold0 --set data.folds=3 --set data.fold=0  # the first held-out check before the shipped run
stage sem-all
for f in 1 2; do stage "sem-fold$f" --set data.folds=3 --set data.fold=$f; done
