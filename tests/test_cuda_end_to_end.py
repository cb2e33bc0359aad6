"""End to end on CUDA: PSSC on digits and ORL with backend="auto" at each precision, against the CPU fit of the
same seed. CUDA only (skipped without it; bench/gpu_all.sh runs it on the GPU machine).

Bar: |ACC(cuda) - ACC(cpu)| within the seed spread of the defaults: 3 standard deviations over 3 seeds, at least
0.02 (digits 0.907 +- 0.022, ORL 0.778 +- 0.014 with contrastive_pseudo=0.5, the default:
bench/results/contrastive_check_pseudo.md). Both fits take seed 0 and the CPU's contrastive budget (the default budget
depends on the device: CUDA's trains the encoder 5x longer), so that only the device, the backend and the
precision differ. The ACC values go to $PSSC_E2E_OUT/end_to_end_cuda.json when the variable is set. ORL needs
ORL_32x32.mat in $PSSC_DATA_DIR (default ../shared/data, then .device_data); without it only digits runs.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

ROOT = Path(__file__).resolve().parents[1]
SPREAD = {"digits": max(3 * 0.022, 0.02), "orl": max(3 * 0.014, 0.02)}
_CPU: dict = {}
_RESULTS: dict = {}


def _data_dir() -> Path | None:
    for candidate in (os.environ.get("PSSC_DATA_DIR"), ROOT.parent / "shared/data", ROOT / ".device_data"):
        if candidate and (Path(candidate) / "ORL_32x32.mat").exists():
            return Path(candidate)
    return None


def _load(name):
    from pssc_fast import datasets as D

    if name == "digits":
        return D.load_digits()
    folder = _data_dir()
    if folder is None:
        pytest.skip("ORL_32x32.mat not found (PSSC_DATA_DIR)")
    X, y = D.load_mat(folder / "ORL_32x32.mat")
    return np.asarray(X, dtype=np.float32).reshape(-1, 1, 32, 32), np.asarray(y)


def _fit(name, device, precision):
    from pssc_fast import PSSC
    from pssc_fast.contrastive import default_budget
    from pssc_fast.metrics import acc

    X, y = _load(name)
    steps, max_epochs = default_budget("cpu")
    t0 = time.perf_counter()
    model = PSSC(n_clusters=len(np.unique(y)), random_state=0, device=device, precision=precision,
                 contrastive_steps=steps, contrastive_max_epochs=max_epochs).fit(X)
    return {"acc": float(acc(y, model.labels_)), "seconds": time.perf_counter() - t0, "backend": model.backend_,
            "precision": model.precision_, "chosen": model.chosen_}


@pytest.mark.parametrize("precision", ["ieee", "tf32"])
@pytest.mark.parametrize("name", ["digits", "orl"])
def test_cuda_fit_matches_the_cpu_fit(name, precision):
    if name not in _CPU:
        _CPU[name] = _fit(name, "cpu", "ieee")
    cuda = _fit(name, "cuda", precision)
    _RESULTS[f"{name}/{precision}"] = {"cpu": _CPU[name], "cuda": cuda, "spread": SPREAD[name]}
    out = os.environ.get("PSSC_E2E_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "end_to_end_cuda.json").write_text(json.dumps(_RESULTS, indent=1))
    print(f"{name} {precision}: ACC cuda {cuda['acc']:.4f} ({cuda['backend']}, {cuda['seconds']:.1f} s) "
          f"vs cpu {_CPU[name]['acc']:.4f} ({_CPU[name]['seconds']:.1f} s); spread {SPREAD[name]}")
    assert cuda["precision"] == precision
    assert abs(cuda["acc"] - _CPU[name]["acc"]) <= SPREAD[name]
