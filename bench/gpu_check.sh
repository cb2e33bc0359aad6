#!/usr/bin/env bash
# GPU check of the fused n x n operators (issue 3), for a CUDA machine with torch + triton.
#
#   OUT=/some/dir bash bench/gpu_check.sh          # from the repository root
#
# Stages (each guarded and time-boxed; one failing does not stop the others; the whole run stays
# under ~5.5 minutes, GPU_CHECK_SECONDS overrides the total):
#   1. environment probe                          -> $OUT/env.txt
#   2. pip install --no-deps of the package (checks that kernels/ ships as pssc_fast.kernels);
#      the tests and benchmarks then run from the source tree, which pssc_fast.ops also supports
#   3. tests/test_ops.py on CUDA, 8 shards side by side (Triton compiles on several cores)
#                                                 -> $OUT/test_ops_cuda.log
#   4. bench/kernel_scaling.py, float32 at torch's default "highest" precision (cuBLAS fp32,
#      Triton "ieee"), all five variants, n up to 100000 or the time budget
#                                                 -> $OUT/kernel_scaling_cuda.{json,png}
#   5. the same with TF32 on both sides (cuBLAS TF32, Triton "tf32"), as time allows
#                                                 -> $OUT/kernel_scaling_cuda_tf32.{json,png}
# plus $OUT/gpu_check.log (everything printed). Seven files, flat.
set -u
export PYTHONUNBUFFERED=1

OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
T0=$SECONDS
DEADLINE=$((T0 + ${GPU_CHECK_SECONDS:-320}))
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
SCRATCH="$(mktemp -d)"

stage() { echo; echo "=== [$((SECONDS - T0))s] $*"; }
# budget WANT [RESERVE]: at most WANT seconds, leaving RESERVE seconds for later stages.
budget() {
    local want=$1 reserve=${2:-0}
    local rem=$((DEADLINE - SECONDS - reserve))
    if ((rem < want)); then want=$rem; fi
    if ((want < 1)); then want=1; fi
    echo "$want"
}

stage "environment"
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
    python3 - <<'EOF'
import sys, torch
print("python", sys.version.split()[0])
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0), "memory GiB", round(torch.cuda.mem_get_info()[1] / 2**30, 1))
try:
    import triton
    print("triton", triton.__version__)
except Exception as err:
    print("triton import failed:", err)
EOF
    nproc
} > "$OUT/env.txt" 2>&1 || echo "environment probe failed (continuing)"
cat "$OUT/env.txt"

stage "install (pip --no-deps) and import check"
if timeout "$(budget 90 240)" python3 -m pip install --no-deps --no-build-isolation -q . ; then
    (cd "$SCRATCH" && python3 -c "import pssc_fast.kernels.grad_c as g; print('installed pssc_fast.kernels:', g.__file__)") \
        || echo "installed package does not import pssc_fast.kernels (continuing from the source tree)"
else
    echo "pip install failed (continuing from the source tree)"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import pssc_fast.ops.triton_backend, pssc_fast.kernels as k; print('source-tree kernels:', k.__file__)" \
    || echo "pssc_fast.kernels is not importable from the source tree"

stage "ops tests on CUDA (8 shards in parallel), benchmark kernels compiled alongside"
SHARDS=8
TT="$(budget 150 190)"
echo "time box ${TT}s"
# Compiling a Triton kernel takes seconds of one CPU core and the benchmarks need ~20 variants:
# compile them now, beside the tests, so that the timed stages find them in Triton's cache.
timeout "$TT" python3 bench/kernel_scaling.py --device cuda --warm 1000 2000 --variants triton triton_fused \
    > "$SCRATCH/warm_ieee.log" 2>&1 &
warm1=$!
timeout "$TT" python3 bench/kernel_scaling.py --device cuda --matmul-precision high \
    --warm 1000 2000 --variants triton triton_fused > "$SCRATCH/warm_tf32.log" 2>&1 &
warm2=$!
pids=()
for i in $(seq 0 $((SHARDS - 1))); do
    PSSC_TEST_SHARD="$i/$SHARDS" timeout "$TT" python3 -m pytest tests/test_ops.py -q -p no:cacheprovider -rfEs \
        > "$SCRATCH/shard$i.log" 2>&1 &
    pids+=($!)
done
for i in $(seq 0 $((SHARDS - 1))); do
    if wait "${pids[$i]}"; then status=ok; else status="FAILED (rc=$?; 124 = time box)"; fi
    echo "--- shard $i/$SHARDS: $status" >> "$OUT/test_ops_cuda.log"
    cat "$SCRATCH/shard$i.log" >> "$OUT/test_ops_cuda.log"
    echo "shard $i: $status: $(tail -n 1 "$SCRATCH/shard$i.log")"
done
grep -E "^(FAILED|ERROR)" "$OUT/test_ops_cuda.log" | head -n 40 || true
wait "$warm1" "$warm2" 2>/dev/null
echo "kernel warm-up:"; cat "$SCRATCH/warm_ieee.log" "$SCRATCH/warm_tf32.log"

stage "kernel scaling, float32 'highest' (cuBLAS fp32, Triton ieee)"
TB="$(budget 200 75)"
echo "time box ${TB}s"
timeout "$TB" python3 bench/kernel_scaling.py --device cuda --tag cuda --out "$OUT" \
    --sizes 1000 2000 4000 8000 16000 32000 65536 100000 --time-budget $((TB - 45)) \
    || echo "kernel_scaling (highest) ended with rc=$? (results so far are in $OUT)"

stage "kernel scaling, TF32 on both sides (cuBLAS TF32, Triton tf32)"
TF="$(budget 120 5)"
if ((TF >= 40)); then
    echo "time box ${TF}s"
    timeout "$TF" python3 bench/kernel_scaling.py --device cuda --tag cuda_tf32 \
        --out "$OUT" --matmul-precision high --sizes 2000 8000 16000 32000 65536 --time-budget $((TF - 30)) \
        || echo "kernel_scaling (tf32) ended with rc=$? (results so far are in $OUT)"
else
    echo "skipped: only ${TF}s left"
fi

stage "done"
rm -rf "$SCRATCH"
ls -la "$OUT"
echo "total $((SECONDS - T0))s"
