#!/usr/bin/env bash
# Issues 20 and 17 on a lent CUDA machine (one H200), in one time-boxed run of at most ~8 minutes; docs/gpu.md says how
# to launch it. Two phases:
#
#   1. alone on the GPU (so that its timings are clean): bench/kernel_bench.py, torch and triton at every
#      precision, n = 32000 first, then 8k, 16k, 4k as the time budget allows (issue 20's bar and backend="auto"'s table)
#   2. side by side (timings there share the GPU and 16 CPU cores, so they are upper bounds):
#      - tests/test_precision.py on CUDA (float64 oracle per precision, odd shapes), autotuned and once per tile
#        config of the autotuned kernel; tests/test_ops.py in 2 shards
#      - tests/test_cuda_end_to_end.py: digits and ORL on CUDA (ieee, tf32) vs the CPU, same seed
#      - PSSC with every default on ORL and COIL20, seeds 0 and 1 (CUDA's contrastive budget; bench/contrastive_check.py)
#      - fit_large on MNIST-10k with every default (rows read as images), 2000 anchors, seeds 0 and 1 (issue 17's bar)
#      - fit_large on MNIST-10k, all 10,000 rows as anchors, rows as vectors, auto:tf32 and triton:tf32, time per stage
#
# Everything lands in $OUT (default ./gpu_out) as summary.txt (what to read first) and results.tgz (every log and
# JSON): the device tool brings back at most 8 files. Data: ORL_32x32.mat, COIL20.mat and MNIST's t10k-*-ubyte.gz in
# .device_data/, a faiss-cpu wheel in .whl/ (fit_large's nearest anchors), both git-ignored: carry them. GPU_ALL_SMALL=1
# shrinks every stage to what a CPU runs in a few minutes (interpreter, tiny fits): how the script is checked without a GPU.
set -u
export PYTHONUNBUFFERED=1 TRITON_DEFAULT_FP_FUSION=1
OUT="${OUT:-$PWD/gpu_out}"
RUN="$OUT/run"
mkdir -p "$RUN"
SMALL="${GPU_ALL_SMALL:-0}"
T0=$SECONDS
if ls .whl/*.whl >/dev/null 2>&1; then  # optional wheels (faiss-cpu for fit_large), carried in .whl/
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PSSC_DATA_DIR="$PWD/.device_data" PSSC_E2E_OUT="$RUN"
stage() { echo; echo "=== [$((SECONDS - T0))s] $*"; }

stage "environment"
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
    python3 -c "import sys, torch, triton; print('python', sys.version.split()[0]); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available()); print('triton', triton.__version__); torch.cuda.is_available() and print('device', torch.cuda.get_device_name(0))"
    nproc
    git log -1 --format='library at %h %s' 2>/dev/null
    ls -la .device_data 2>&1
} > "$RUN/env.txt" 2>&1
cat "$RUN/env.txt"

if [ "$SMALL" = 1 ]; then
    BENCH_ARGS="--smoke"; BENCH_BOX=300; TEST_BOX=400; CONFIGS=""; FIT_BOX=400
    FITS="--tasks digits:0 --steps 20"; E2E_Q="--anchors 300 --runs auto:auto --pretrain-samples 2000 --skip-digits --contrastive-steps 20"
    E2E_T="--anchors 300 --runs auto:ieee --pretrain-samples 2000 --skip-digits"
else
    BENCH_ARGS="--sizes 32000 8000 16000 4000 --providers torch triton --time-budget 110"; BENCH_BOX=140
    TEST_BOX=240; CONFIGS="0 1 2 3"; FIT_BOX=330
    FITS="--tasks orl:0 orl:1 coil20:0 coil20:1"; E2E_Q="--anchors 2000 --runs auto:auto --skip-digits"
    E2E_T="--anchors 20000 --runs auto:tf32 triton:tf32 --skip-digits"
fi

stage "1. kernel benchmark, alone on the GPU"
timeout "$BENCH_BOX" python3 bench/kernel_bench.py $BENCH_ARGS --out "$RUN" 2>&1 | grep -v Warning | tee "$RUN/kernel_bench.log"

stage "2. tests, end-to-end accuracy, default fits and fit_large, side by side"
names=(); pids=()
launch() {  # launch NAME BOX "VAR=value ..." COMMAND...: runs in the background, output in $RUN/NAME.log
    local name=$1 box=$2 vars=$3; shift 3
    env $vars timeout "$box" "$@" > "$RUN/$name.log" 2>&1 &
    names+=("$name"); pids+=($!)
}
pytest_args="-q -p no:cacheprovider -rfEs"
launch precision_autotuned "$TEST_BOX" "OMP_NUM_THREADS=1" python3 -m pytest $pytest_args tests/test_precision.py
for c in $CONFIGS; do
    launch "precision_config$c" "$TEST_BOX" "OMP_NUM_THREADS=1 PSSC_TRITON_CONFIG=$c" python3 -m pytest $pytest_args tests/test_precision.py
done
if [ "$SMALL" != 1 ]; then
    launch ops_0of2 "$TEST_BOX" "OMP_NUM_THREADS=1 PSSC_TRITON_CONFIG=0 PSSC_TEST_SHARD=0/2" python3 -m pytest $pytest_args tests/test_ops.py
    launch ops_1of2 "$TEST_BOX" "OMP_NUM_THREADS=1 PSSC_TRITON_CONFIG=0 PSSC_TEST_SHARD=1/2" python3 -m pytest $pytest_args tests/test_ops.py
    launch end_to_end_cuda "$FIT_BOX" "OMP_NUM_THREADS=4" python3 -m pytest tests/test_cuda_end_to_end.py -q -s -p no:cacheprovider -rfEs
fi
launch pssc_defaults "$FIT_BOX" "OMP_NUM_THREADS=1" python3 bench/contrastive_check.py --data-dir .device_data --jobs 4 $FITS --tag gpu
for s in 0 1; do
    launch "fit_large_images_seed$s" "$FIT_BOX" "OMP_NUM_THREADS=2" python3 bench/gpu_end_to_end.py \
        --data-dir .device_data --out "$RUN/fit_large_images_seed$s" --image-shape auto --seeds $s $E2E_Q
done
launch fit_large_timing "$FIT_BOX" "OMP_NUM_THREADS=2" python3 bench/gpu_end_to_end.py --data-dir .device_data \
    --out "$RUN/fit_large_timing" $E2E_T
for k in "${!pids[@]}"; do
    if wait "${pids[$k]}"; then status=ok; else status="FAILED (rc=$?; 124 = time box)"; fi
    echo "${names[$k]}: $status: $(grep -v '^\s*$' "$RUN/${names[$k]}.log" | tail -n 1)" | tee -a "$RUN/lines.txt"
done
cp bench/results/contrastive_check_gpu.* "$RUN/" 2>/dev/null

stage "summary"
{
    echo "library: $(git log -1 --format='%h' 2>/dev/null); $(grep -m1 device "$RUN/env.txt")"
    echo "issue 20 (bench/kernel_bench.py, alone on the GPU):"
    sed -n '/^issue 20 at/,/^$/p' "$RUN/kernel_bench.log"
    grep -E "^\{'provider'" "$RUN/kernel_bench.log"
    grep -A1 "STEP_SECONDS" "$RUN/kernel_bench.log"
    echo "stage 2 (side by side):"
    cat "$RUN/lines.txt"
    echo "ACC on CUDA vs CPU (tests/test_cuda_end_to_end.py):"
    grep -E "ACC cuda" "$RUN/end_to_end_cuda.log" 2>/dev/null
    echo "PSSC defaults on CUDA (bench/contrastive_check.py):"
    grep -E '^\{"dataset"' "$RUN/pssc_defaults.log" | python3 -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r['dataset'], r['seed'], 'ACC', round(r['contrastive_acc'], 4), 'chosen', r['contrastive_choice'],
          'steps', r['contrastive_steps_run'], 'seconds', round(r['seconds']), 'candidates',
          {k: round(v, 3) for k, v in r['candidates'].items()})"
    echo "fit_large on MNIST-10k:"
    grep -hE "^mnist10k" "$RUN"/fit_large_*.log | cut -c1-600
    grep -hE "Error|error" "$RUN"/*.log | grep -v "^.*warn" | sort | uniq -c | head -n 12
} > "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
tar czf "$OUT/results.tgz" -C "$OUT" run && rm -rf "$RUN"
ls -la "$OUT"
echo "total $((SECONDS - T0))s"
