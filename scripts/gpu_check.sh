#!/usr/bin/env bash
# The GPU paths end to end, on a CUDA machine, offline: extraction (bf16 autocast, channels_last,
# pinned memory), multi-view extraction, probes and the L-BFGS protocol on the GPU, fine-tuning
# with autocast, and the two benchmarks with --device "$DEV".  (torchrun with NCCL needs two GPUs:
# NCCL refuses two ranks on one device; the sharding itself is tested on CPU with gloo.)
#
#   bash scripts/gpu_check.sh [LOGDIR]        # needs `python -m seabench` importable
#   DEVICE=cpu SMOKE=1 bash scripts/gpu_check.sh /tmp/smoke   # a quick CPU run of this script
#
# Each step logs to LOGDIR (default ./gpu-check) and a failing step does not stop the others;
# the exit status is the number of failed steps.
set -u
LOG=${1:-gpu-check}
PY=${PYTHON:-python3}
mkdir -p "$LOG"
HOME_DIR=$(mktemp -d)
export SEABENCH_NO_PROGRESS=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
DEV=${DEVICE:-cuda}
SB=("$PY" -m seabench)
COMMON=(--dataset mnist5k --backbone efficientnet_lite0 --home "$HOME_DIR")
SMALL=()
BENCH_E=(--images 4800 --image-size 224 --batch-size 256)
BENCH_P=()
FT_STEPS=300
if [ -n "${SMOKE:-}" ]; then
    SMALL=(--subset 40)
    BENCH_E=(--images 60 --image-size 32 --batch-size 16 --rounds 1)
    BENCH_P=(--epochs 2 --repeat 1 --skip-lbfgs)
    FT_STEPS=2
fi
failed=0

step() {  # step NAME LOGFILE COMMAND...
    local name=$1 file=$2
    shift 2
    echo "== $name" | tee -a "$LOG/$file"
    local t0=$SECONDS
    if "$@" >>"$LOG/$file" 2>&1; then
        echo "   ok ($((SECONDS - t0)) s)" | tee -a "$LOG/$file"
    else
        echo "   FAILED ($((SECONDS - t0)) s), see $LOG/$file" | tee -a "$LOG/$file"
        failed=$((failed + 1))
    fi
}

if [ "$DEV" != cpu ]; then
    step "GPU" cli.log nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    step "torch" cli.log "$PY" -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
fi
step "extract ($DEV)" cli.log "${SB[@]}" extract "${COMMON[@]}" "${SMALL[@]}" --image-size 96 --device "$DEV"
step "extract --views rot4 ($DEV)" cli.log \
    "${SB[@]}" extract "${COMMON[@]}" "${SMALL[@]}" --image-size 96 --views rot4 --device "$DEV"
for aug in none sea views sla; do
    step "probe --aug $aug ($DEV, 3 seeds)" cli.log \
        "${SB[@]}" probe "${COMMON[@]}" --aug "$aug" --seeds 3 --device "$DEV"
done
step "probe --solver lbfgs ($DEV)" cli.log \
    "${SB[@]}" probe "${COMMON[@]}" --solver lbfgs --device "$DEV"
step "finetune ($DEV, autocast)" cli.log \
    "${SB[@]}" finetune "${COMMON[@]}" "${SMALL[@]}" --image-size 96 --grid small --max-steps "$FT_STEPS" \
    --batch-size 64 --device "$DEV"
step "report" cli.log "${SB[@]}" report --home "$HOME_DIR" --format html --format markdown \
    --out "$LOG"
step "bench_extract ($DEV, 224 px)" bench_extract.log "$PY" scripts/bench_extract.py \
    --device "$DEV" "${BENCH_E[@]}"
step "bench_probe ($DEV)" bench_probe.log "$PY" scripts/bench_probe.py --device "$DEV" \
    --home "$HOME_DIR" "${BENCH_P[@]}"
if [ -z "${SMOKE:-}" ]; then
    step "bench_probe --large ($DEV)" bench_large.log "$PY" scripts/bench_probe.py \
        --device "$DEV" --large --large-epochs 3
fi
echo "failed steps: $failed"
exit "$failed"
