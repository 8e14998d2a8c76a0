#!/usr/bin/env bash
# The PRM's GPU measurements on a lent machine, in stages (see benchmarks/gpu/README.md).
#
#   bash benchmarks/gpu/run.sh part1        carry .gpu/part1: keeps the first half of the GGUF
#   bash benchmarks/gpu/run.sh setup        carry .gpu/part2, within 30 s of part1: joins and
#                                           verifies the GGUF, converts it, installs gguf
#   bash benchmarks/gpu/run.sh quality      prm_quality on the carried sets, with a fine-tuned row
#   bash benchmarks/gpu/run.sh throughput   prm_throughput (edits/s, tokens/s, MFU) and
#                                           prm_train_speed (bucketed vs shuffled batches)
#
# "setup quality" in one call runs both. Results go to $OUT (the device tool's folder).
# DEVICE=cpu, STEPS and FT_SECONDS rehearse it here without a GPU; FINETUNED=DIR evaluates a
# checkpoint already fine-tuned (codeprm prm train --kind zero-shot) instead of training one.
set -euo pipefail
W=${CODEPRM_GPU_WORK:-/tmp/codeprm-gpu}
OUT=${OUT:-$W/out}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
mkdir -p "$W" "$OUT"
export PYTHONPATH="$PWD:$W/site${PYTHONPATH:+:$PYTHONPATH}"
export CODEPRM_CACHE="$W/cache" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1

for stage in "$@"; do
  echo "== $stage ($(date -u +%T))"
  case $stage in
    part1)
      cp .gpu/part1/smollm2.gguf.1 "$W/"
      ls -l "$W"
      ;;
    setup)
      test -f "$W/smollm2.gguf.1" || { echo "run the part1 stage first (on this machine)"; exit 2; }
      cat "$W/smollm2.gguf.1" .gpu/part2/smollm2.gguf.2 > "$W/smollm2.gguf"
      rm -rf "$W/sets" && cp -r .gpu/part2/sets "$W/sets"
      "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$W/site" .gpu/part2/wheels/*.whl
      "$PY" -m codeprm prm fetch --gguf "$W/smollm2.gguf"  # checks the pinned sha256, converts
      { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
        "$PY" -c "import sys, torch, transformers; print(sys.version.split()[0], torch.__version__, transformers.__version__, torch.cuda.is_available())"
      } | tee "$OUT/machine.txt"
      ;;
    quality)
      if [ -n "${FINETUNED:-}" ]; then ft=(--finetuned "$FINETUNED"); else
        ft=(--finetune-steps "${STEPS:-300}" --finetune-seconds "${FT_SECONDS:-240}"
            --finetune-batch-bugs "${BATCH_BUGS:-16}" --finetune-length 512 --finetune-lr "${LR:-2e-5}"); fi
      "$PY" benchmarks/prm_quality.py --sets "$W/sets" --device "$DEVICE" --tiny-seconds "${TINY_SECONDS:-60}" \
        "${ft[@]}" --json "$OUT/quality.json" 2>&1 | tee "$OUT/quality.txt"
      ;;
    throughput)
      "$PY" benchmarks/prm_throughput.py --device "$DEVICE" 2>&1 | tee "$OUT/throughput.txt"
      "$PY" benchmarks/prm_train_speed.py --model smollm2 --device "$DEVICE" --steps "${SPEED_STEPS:-30}" \
        --batch-bugs 16 2>&1 | tee "$OUT/train-speed.txt"
      if [ "$DEVICE" != cpu ]; then
        "$PY" benchmarks/prm_throughput.py --device "$DEVICE" --compile --mfu-only 2>&1 | tee "$OUT/throughput-compile.txt" || true
      fi
      ;;
    *)
      echo "unknown stage $stage (part1, setup, quality, throughput)"; exit 2 ;;
  esac
done
