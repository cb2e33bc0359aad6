#!/usr/bin/env bash
# Everything this project checks on a lent CUDA machine, in one time-boxed run (see bench/gpu_check.sh
# for the kernel stages). Optional: faiss wheels in .whl/ and MNIST files in .device_data/.
set -u
export PYTHONUNBUFFERED=1
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
GPU_CHECK_SECONDS="${GPU_CHECK_SECONDS:-300}" bash bench/gpu_check.sh
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
timeout 150 python3 bench/gpu_end_to_end.py --data-dir .device_data --out "$OUT" 2>&1 | tee "$OUT/gpu_end_to_end.log" | grep -v Warning
ls -la "$OUT"
