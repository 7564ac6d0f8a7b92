#!/usr/bin/env bash
# The k-fold comparisons of docs/results.md at a reduced budget (1500 steps, else configs/cpu.yaml):
# MIDNet vs NAFNet of the same size (does the gate help?), the paper's loss ablation
# (L1; +edge; +FFT; all), then the paper's other networks at CPU size (HINet, Restormer,
# DMPHN; DMPHN-s and Restormer-s runs take ~3.6x and ~5.6x the wall time of MIDNet-s), then the gate comparison again
# with other seeds (init and crops), for its spread. Every stage resumes its checkpoint, so re-run
# after an interruption; the table: python scripts/kfold_table.py --methods input,wiener,cmp/midnet-all,...
#   bash scripts/run_comparisons.sh [runs-folder]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}; STEPS=1500
stage() {  # stage NAME [--set ...]
  local out="$RUNS/cmp/$1"; shift
  if grep -q "^$STEPS," "$out/metrics.csv" 2>/dev/null; then echo "== $out: done"; return; fi
  if { [ -f "$out/checkpoint.json" ] || [ -f "$out/last.state.pt" ]; }; then extra=--resume; else extra=; fi
  echo "== $out"; midnet train configs/cpu.yaml --out "$out" --set iterations=$STEPS --set val_every=$STEPS "$@" $extra
}
# Table 1 first (the gate), then the loss ablation, then the other networks. The paper's protocol:
#   midnet train configs/cpu.yaml --out runs/paper-protocol --set data.protocol=paper --set iterations=1500 --set val_every=1500
for f in 0 1 2; do
  k="--set data.folds=3 --set data.fold=$f"
  stage "midnet-all-f$f" $k
  stage "nafnet-all-f$f" $k --set model.preset=nafnet-s
done
for f in 0 1 2; do
  k="--set data.folds=3 --set data.fold=$f"
  stage "midnet-l1-f$f" $k --set loss.edge=0 --set loss.fft=0
  stage "midnet-l1edge-f$f" $k --set loss.fft=0
  stage "midnet-l1fft-f$f" $k --set loss.edge=0
done
# one network at a time over the folds, so an interrupted run leaves whole columns
for net in hinet dmphn restormer; do
  for f in 0 1 2; do
    stage "$net-f$f" --set data.folds=3 --set data.fold=$f --set model.preset=$net-s
  done
done
# the gate comparison with seeds 1 and 2: is MIDNet-s vs NAFNet-s more than seed noise?
for s in 1 2; do
  for f in 0 1 2; do
    k="--set data.folds=3 --set data.fold=$f --set seed=$s"
    stage "midnet-all-s$s-f$f" $k
    stage "nafnet-all-s$s-f$f" $k --set model.preset=nafnet-s
  done
done
