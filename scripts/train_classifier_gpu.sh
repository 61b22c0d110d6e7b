#!/usr/bin/env bash
# Train classifier candidates side by side on one lent GPU machine in one
# ten-minute call (16 cores, one H100), from the portable pack of framed images
# (no data folder and no wheels needed there):
#   A  from random weights, with the train augmentations       (a candidate)
#   B  from random weights, without augmentation, same budget  (A's ablation partner)
#   C  a fine-tune of the shipped weights, with augmentation   (a candidate)
# Each keeps an exponential moving average of its weights, evaluated and saved
# in place of the raw weights, and the final (annealed) state comes back as
# X_last.pt split into parts of 15 MB (the device returns files of at most 16 MiB):
#   cat X_last.pt.part* > X_last.pt
# Make the pack here first (see weights/MODEL_CARD.md):
#   python -m training.classifier.train --data ../shared/data --not-star-galaxies \
#       --gz2-two-way --size 96 --cache-size 128 --write-pack .gpu_classifier/classifier_pack.npz
# then run from the repository root, carrying .gpu_classifier:
#   scripts/train_classifier_gpu.sh SEED SECONDS
# Environment: RUN="A B C" (candidates), LR_A / LR_B / LR_C, BATCH, WORKERS_A/B/C,
# DEVICE (cuda; cpu for a local smoke test), EMA (per-step decay), OUT, PACK, PY.
set -uo pipefail
SEED=${1:-11}; BUDGET=${2:-560}; START=$(date +%s)
PY=${PY:-python3}; DEVICE=${DEVICE:-cuda}; BATCH=${BATCH:-256}; EMA=${EMA:-0.998}
PACK=${PACK:-.gpu_classifier/classifier_pack.npz}; OUT=${OUT:-/tmp/out}; RUN=${RUN:-A B C}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
mkdir -p "$OUT" cache/clf_gpu
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
# Reading the pack and starting the workers takes about a minute; keep 60 s for the last evaluation and the copy.
MINUTES=$($PY -c "print(round(max($BUDGET - ($(date +%s) - $START) - 120, 30) / 60, 2))")
echo "training for $MINUTES min each: $RUN"
common="--pack $PACK --not-star-galaxies --gz2-two-way --size 96 --cache-size 128 --epochs 100000
  --time-budget-min $MINUTES --batch-size $BATCH --seed $SEED --threads 2 --device $DEVICE --amp
  --model-ema-decay $EMA --eval-every 5 --keep-last --no-tta-default"
for m in $RUN; do
  case $m in
    A) extra="--lr ${LR_A:-0.002} --balance-power 0.7 --distant-p 0.4 --distant-snr 4 100 --workers ${WORKERS_A:-6}" ;;
    B) extra="--lr ${LR_B:-0.002} --balance-power 0.7 --no-augment --workers ${WORKERS_B:-2}" ;;
    C) extra="--lr ${LR_C:-0.0005} --balance-power 0.7 --distant-p 0.4 --distant-snr 4 100 --init weights/classifier.pt --workers ${WORKERS_C:-6}" ;;
    *) echo "unknown candidate $m"; exit 2 ;;
  esac
  # shellcheck disable=SC2086
  $PY -m training.classifier.train $common $extra --out cache/clf_gpu/$m.pt >"$OUT/$m.log" 2>&1 &
done
wait
for m in $RUN; do
  echo "== $m"; grep -E "EPOCH|done in|Error|error" "$OUT/$m.log" | tail -n 3 | cut -c1-400
  [ -f cache/clf_gpu/${m}_last.pt ] && split -b 15M -d cache/clf_gpu/${m}_last.pt "$OUT/${m}_last.pt.part"
done
# At most 8 files come back: the logs travel as one archive.
(cd "$OUT" && tar czf logs.tgz $(for m in $RUN; do echo "$m.log"; done) && rm -f ./?.log)
ls -la "$OUT"
echo "total $(( $(date +%s) - START )) s"
