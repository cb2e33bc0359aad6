#!/usr/bin/env bash
# Issue 20 on a lent CUDA machine (one H200), in one time-boxed run of at most ~9 minutes (typically ~7); docs/gpu.md says how
# to launch it. Everything lands in $OUT (default ./gpu_out):
#
#   env.txt                  GPU, driver, CUDA, torch, Triton
#   tests_cuda.log           tests/test_precision.py on CUDA (float64 oracle per precision, odd shapes),
#                            autotuned and once per tile config; tests/test_ops.py in 2 shards; side by side
#   end_to_end_cuda.{log,json}  tests/test_cuda_end_to_end.py: digits and ORL on CUDA (ieee, tf32) vs CPU, same seed
#   kernel_bench.{json,png,log}  bench/kernel_bench.py at n = 32k, then 4k ... 65k as the budget allows
#   gpu_end_to_end.{json,log}    fit_large on MNIST-10k, all 10,000 rows as anchors, ieee and tf32, time per stage
#   summary.txt              issue 20's comparisons and the accuracy checks, as printed at the end
#
# Data: ORL_32x32.mat and MNIST's t10k-*-ubyte.gz in .device_data/, and a faiss-cpu wheel in .whl/ for
# fit_large (both git-ignored: pass them to the device tool with carry [".device_data", ".whl"]). GPU_ALL_SMALL=1 shrinks every stage to what a CPU runs in a few minutes
# (interpreter tests, kernel_bench --smoke, a tiny fit_large): how the script itself is checked without a GPU.
set -u
export PYTHONUNBUFFERED=1 TRITON_DEFAULT_FP_FUSION=1
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
SMALL="${GPU_ALL_SMALL:-0}"
T0=$SECONDS
SCRATCH="$(mktemp -d)"
if ls .whl/*.whl >/dev/null 2>&1; then  # optional wheels (faiss-cpu for fit_large), carried in .whl/
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PSSC_DATA_DIR="$PWD/.device_data" PSSC_E2E_OUT="$OUT"
stage() { echo; echo "=== [$((SECONDS - T0))s] $*"; }

stage "environment"
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
    python3 -c "import sys, torch, triton; print('python', sys.version.split()[0]); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available()); print('triton', triton.__version__); torch.cuda.is_available() and print('device', torch.cuda.get_device_name(0))"
    nproc
    ls -la .device_data 2>&1
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

if [ "$SMALL" = 1 ]; then
    TEST_BOX=600; E2E_TEST_BOX=600; CONFIGS=""
    BENCH_ARGS="--smoke"; BENCH_BOX=600
    E2E_ARGS="--anchors 300 --runs auto:ieee --pretrain-samples 20000 --skip-digits"; E2E_BOX=300
else
    # the end-to-end test fits digits and ORL on the CPU once and on CUDA twice each (~2 min)
    TEST_BOX=200; E2E_TEST_BOX=230; CONFIGS="0 1 2 3 4"
    BENCH_ARGS="--sizes 4000 8000 16000 32000 65536 --time-budget 170"; BENCH_BOX=210
    E2E_ARGS="--anchors 20000 --runs auto:ieee auto:tf32 triton:tf32 --skip-digits"; E2E_BOX=90
fi

stage "tests on CUDA, end-to-end accuracy, kernels compiled for the benchmark alongside"
# test_precision.py autotuned, and once per tile config (PSSC_TRITON_CONFIG=i: the i-th of each kernel's space,
# so that a config autotuning rarely picks is still checked); test_ops.py (every flag, dtype and operator) in two
# shards on the pre-autotuning tile (config 0), which compiles fastest.
names=(); pids=()
launch() {  # launch NAME "VAR=value ..." PYTEST-ARGS...
    local name=$1 vars=$2; shift 2
    env OMP_NUM_THREADS=2 $vars timeout "$TEST_BOX" python3 -m pytest "$@" -q -p no:cacheprovider -rfEs \
        > "$SCRATCH/$name.log" 2>&1 &
    names+=("$name"); pids+=($!)
}
launch precision_autotuned "" tests/test_precision.py
for c in $CONFIGS; do launch "precision_config$c" "PSSC_TRITON_CONFIG=$c" tests/test_precision.py; done
if [ "$SMALL" != 1 ]; then
    launch ops_0of2 "PSSC_TRITON_CONFIG=0 PSSC_TEST_SHARD=0/2" tests/test_ops.py
    launch ops_1of2 "PSSC_TRITON_CONFIG=0 PSSC_TEST_SHARD=1/2" tests/test_ops.py
fi
OMP_NUM_THREADS=8 timeout "$E2E_TEST_BOX" python3 -m pytest tests/test_cuda_end_to_end.py -q -s -p no:cacheprovider -rfEs \
    > "$OUT/end_to_end_cuda.log" 2>&1 &
e2e=$!
warm=()
if [ "$SMALL" != 1 ]; then
    # Triton compiles every autotuning config on first use, one at a time: compile them now, one process per
    # precision (and torch.compile's graphs), so that the timed stage finds them in the on-disk caches.
    for p in ieee tf32 bf16; do
        OMP_NUM_THREADS=1 timeout "$TEST_BOX" python3 bench/kernel_bench.py --sizes 1024 --providers triton \
            --precisions $p --out "$SCRATCH/warm_$p" > "$SCRATCH/warm_$p.log" 2>&1 &
        warm+=($!)
    done
    OMP_NUM_THREADS=2 timeout "$TEST_BOX" python3 bench/kernel_bench.py --sizes 1024 --providers compile \
        --precisions ieee --out "$SCRATCH/warm_compile" > "$SCRATCH/warm_compile.log" 2>&1 &
    warm+=($!)
fi
: > "$OUT/tests_cuda.log"
for k in "${!pids[@]}"; do
    if wait "${pids[$k]}"; then status=ok; else status="FAILED (rc=$?; 124 = time box)"; fi
    { echo "--- ${names[$k]}: $status"; cat "$SCRATCH/${names[$k]}.log"; } >> "$OUT/tests_cuda.log"
    echo "${names[$k]}: $status: $(tail -n 1 "$SCRATCH/${names[$k]}.log")" | tee -a "$SCRATCH/test_lines"
done
grep -E "^(FAILED|ERROR)" "$OUT/tests_cuda.log" | head -n 40 || true
if wait "$e2e"; then echo "end to end: ok"; else echo "end to end: FAILED (rc=$?)"; fi
grep -E "ACC|passed|failed|skipped" "$OUT/end_to_end_cuda.log" | tail -n 8
for w in "${warm[@]}"; do wait "$w" 2>/dev/null; done
cat "$SCRATCH"/warm_*.log 2>/dev/null | grep -E "error|Error" | head -n 5

stage "kernel benchmark"
timeout "$BENCH_BOX" python3 bench/kernel_bench.py $BENCH_ARGS --out "$OUT" 2>&1 | grep -v Warning | tee "$OUT/kernel_bench.log"

stage "fit_large on MNIST-10k, time per stage"
timeout "$E2E_BOX" python3 bench/gpu_end_to_end.py --data-dir .device_data --out "$OUT" $E2E_ARGS 2>&1 \
    | grep -v Warning | tee "$OUT/gpu_end_to_end.log"

stage "summary"
{
    echo "issue 20 (bench/kernel_bench.py):"
    sed -n '/^issue 20 at/,/^$/p' "$OUT/kernel_bench.log"
    echo "end to end, ACC on CUDA vs CPU (tests/test_cuda_end_to_end.py):"
    grep -E "ACC cuda|passed|failed|skipped" "$OUT/end_to_end_cuda.log" | tail -n 6
    echo "tests on CUDA:"
    cat "$SCRATCH/test_lines"
    echo "fit_large (seconds per stage):"
    grep -E "^mnist10k" "$OUT/gpu_end_to_end.log"
} | tee "$OUT/summary.txt"
rm -rf "$SCRATCH"
ls -la "$OUT"
echo "total $((SECONDS - T0))s"
