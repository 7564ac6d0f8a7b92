#!/usr/bin/env bash
# The figures of docs/results.md section 9: the shipped recipe's fold models on
# the by-micrograph 3-fold, with and without test-time augmentation; the storage variants;
# fine-tuning on an unseen blur domain. Writes each command's output to runs/reports/.
#   bash scripts/measure_any_micrograph.sh [pairs-folder]      # default: $MIDNET_DATA
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${MIDNET_DATA:-../shared/data/sem-pairs}}  # the shared pairs (docs/install.md)
OUT=runs/reports
mkdir -p "$OUT"
HELD=("1-1,2-1,3-1" "5-1,6-1" "7-1,9-1")  # the 3 folds of the sorted names (midnet.data.split_names)
for k in 0 1 2; do
  midnet eval --model "models/folds/midnet-sem-fold$k.safetensors" --data "$DATA" --names "${HELD[$k]}" \
    | tee "$OUT/eval-fold$k.txt"
  midnet eval --model "models/folds/midnet-sem-fold$k.safetensors" --data "$DATA" --names "${HELD[$k]}" --tta \
    | tee "$OUT/eval-tta-fold$k.txt"
done
python scripts/intensity_variants.py --data "$DATA" --model 'models/folds/midnet-sem-fold{fold}.safetensors' \
  --folds 3 | tee "$OUT/variants-after.md"
# Fine-tuning on a blur the model never saw: a defocus disc with shot noise (scripts/make_defocus_domain.py),
# one micrograph to fine-tune on (fold 0's model never saw 1-1, 2-1 or 3-1), the others to judge.
python scripts/make_defocus_domain.py "$DATA" runs/defocus-pairs --radius 4 --dose 60
rm -rf runs/defocus-one && mkdir -p runs/defocus-one/blur runs/defocus-one/sharp
cp runs/defocus-pairs/blur/1-1.png runs/defocus-one/blur/ && cp runs/defocus-pairs/sharp/1-1.png runs/defocus-one/sharp/
midnet finetune runs/defocus-one -o runs/finetuned-defocus.safetensors --base models/folds/midnet-sem-fold0.safetensors \
  --minutes 8 --overwrite | tee "$OUT/finetune.txt"
for model in models/folds/midnet-sem-fold0.safetensors runs/finetuned-defocus.safetensors; do
  midnet eval --model "$model" --data runs/defocus-pairs --names 2-1,3-1,5-1,6-1,7-1,9-1 \
    | tee "$OUT/defocus-$(basename "$model" .safetensors).txt"
done
