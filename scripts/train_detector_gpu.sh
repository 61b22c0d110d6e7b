#!/usr/bin/env bash
# Train two detector candidates side by side on one lent GPU machine in one
# ten-minute call (16 cores, one H100): fresh synthetic scenes from the compact
# cutout library, then a YOLOv8n fine-tune of the shipped detector (A) and a
# YOLOv8n-P2 (stride-4 head) seeded from it (B).  Run from the repository root
# with the wheels in .whl/ and the library in .gpu/ (see weights/MODEL_CARD.md);
# results land in $OUT.  Usage: scripts/train_detector_gpu.sh SEED SECONDS
# Environment: RUN="A B" (candidates to train), INIT_A / INIT_B (start points),
# LR_A / LR_B, N_TRAIN / N_VAL (scenes per recipe), JOBS, WORKERS (per candidate).
set -uo pipefail
SEED=${1:-7}; BUDGET=${2:-560}; START=$(date +%s)
PY=${PY:-python3}; DEVICE=${DEVICE:-0}; BATCH=${BATCH:-64}
[ -n "${SKIP_PIP:-}" ] || $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 YOLO_CONFIG_DIR=$PWD/.gpu/yolo_cfg
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
LIB=.gpu/library_compact.npz; D=.gpu/ds_$SEED
N_TRAIN=${N_TRAIN:-2400}; N_VAL=${N_VAL:-150}; JOBS=${JOBS:-15}; WORKERS=${WORKERS:-7}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
for r in standard small; do
  $PY -m training.detector.train --library $LIB --dataset ${D}_$r --recipe $r \
      --n-train $N_TRAIN --n-val $N_VAL --seed $((SEED * 10 + ${#r})) --jobs $JOBS --build-only \
      2>&1 | tail -n 2 || exit 1
done
LEFT=$(( BUDGET - ($(date +%s) - START) - 45 ))
HOURS=$($PY -c "print(round($LEFT / 3600, 4))")
echo "data built in $(( $(date +%s) - START )) s; training for $LEFT s each"
common="--dataset ${D}_small --recipe small --also ${D}_standard --epochs 60 --hours $HOURS \
  --batch $BATCH --imgsz 320 --seed $SEED --threads 2 --device $DEVICE --workers $WORKERS --cache-images --no-onnx"
RUN=${RUN:-A B}
case " $RUN " in *" A "*)
  $PY -m training.detector.train $common --init ${INIT_A:-weights/detector.pt} \
      --model yolov8n.yaml --lr0 ${LR_A:-0.001} --name gpuA --weights-out $OUT/detA.pt \
      >"$OUT/A.log" 2>&1 & ;;
esac
case " $RUN " in *" B "*)
  if [ -n "${INIT_B:-}" ]; then start_b="--init $INIT_B"; else start_b="--transfer weights/detector.pt"; fi
  $PY -m training.detector.train $common $start_b --model yolov8n-p2.yaml --lr0 ${LR_B:-0.002} \
      --name gpuB --weights-out $OUT/detB.pt >"$OUT/B.log" 2>&1 & ;;
esac
wait
for m in $RUN; do
  cp cache/detector/runs/gpu$m/results.csv "$OUT/$m.csv" 2>/dev/null
  echo "== $m"; grep -E "Epoch|all " "$OUT/$m.log" | tail -n 4; tail -n 3 "$OUT/$m.csv" 2>/dev/null
done
echo "total $(( $(date +%s) - START )) s"
