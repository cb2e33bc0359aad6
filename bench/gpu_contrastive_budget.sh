#!/usr/bin/env bash
# Issue 17 on a lent CUDA machine: bench/diagnostics/contrastive_budget.py for several sets, seeds and encoder
# shapes at once (8 processes, 2 CPU threads each, one GPU), each stopped after $SECONDS_BOX seconds (default 150)
# or at its last checkpoint. One JSON line per checkpoint lands in $OUT/contrastive_budget.jsonl, the output in
# $OUT/contrastive_budget.log. Data in .device_data/ (ORL_32x32.mat, COIL20.mat, MNIST's t10k-*.gz) and the faiss-cpu
# wheel in .whl/ (MNIST-10k's nearest-anchor labels need it; the H200 image lacks it), both carried:
#   run(command="bash bench/gpu_contrastive_budget.sh", carry=[".device_data", ".whl"], timeout_s=...)
# CB_SMALL=1 shrinks every run to a few steps (how the script is checked on a CPU).
set -u
export PYTHONUNBUFFERED=1 PSSC_DATA_DIR="$PWD/.device_data"
OUT="${OUT:-$PWD/gpu_out}"; mkdir -p "$OUT"
BOX="${SECONDS_BOX:-150}"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ "${CB_SMALL:-0}" = 1 ]; then BIG="2 4"; ORL="1 2"; THREADS=1; else BIG="2000 5000 10000 20000 40000"; ORL="700 2000 5000 10000 20000"; THREADS=2; fi
run() { python3 bench/diagnostics/contrastive_budget.py "$@" --threads $THREADS --seconds "$BOX" \
    --out "$OUT/contrastive_budget.jsonl" 2>&1 | grep -v Warning; }
{
    run mnist10k --seed 0 --checkpoints $BIG &
    run mnist10k --seed 1 --checkpoints $BIG &
    run mnist10k --seed 0 --width 64 --batch 512 --checkpoints $BIG &
    run coil20 --seed 0 --checkpoints $BIG &
    run coil20 --seed 1 --checkpoints $BIG &
    run orl --seed 0 --checkpoints $ORL &
    run orl --seed 1 --checkpoints $ORL &
    run mnist1k --seed 0 --checkpoints $BIG &
    wait
} | tee "$OUT/contrastive_budget.log"
nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | tee -a "$OUT/contrastive_budget.log"
