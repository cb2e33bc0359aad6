"""Diagnostic: random shifts in the conv auto-encoder's pre-training (a label-free image prior).

One PSSC fit with the defaults, with pre-training's reconstruction step patched: "shift_in" feeds each image
moved by up to 2 pixels (replicate padding) and asks for the original back (codes that undo small shifts),
"shift_both" moves input and target alike (more views of the data), "none" is the library as is.
Labels only score.

    printf "orl none 0\norl shift_in 0\nmnist1k none 0\nmnist1k shift_in 0\norl shift_both 0\nmnist1k shift_both 0\n" \
        | OMP_NUM_THREADS=1 xargs -P2 -L1 python bench/diagnostics/pretrain_shifts.py
Output of the session run: bench/results/diagnostics/pretrain_shifts.log
"""
import sys, time, json, numpy as np, torch
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
torch.set_num_threads(1)
from _common import load_dataset
import pssc_fast.train as T
from pssc_fast import PSSC
from pssc_fast.metrics import acc
name, mode, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
S = 2
orig = T.reconstruction_step
def shifted(x):
    n, c, h, w = x.shape
    p = torch.nn.functional.pad(x, (S, S, S, S), mode="replicate")
    dx = torch.randint(0, 2 * S + 1, (n,)); dy = torch.randint(0, 2 * S + 1, (n,))
    out = torch.empty_like(x)
    for a in range(2 * S + 1):
        for b in range(2 * S + 1):
            m = (dx == a) & (dy == b)
            if m.any():
                out[m] = p[m, :, b:b + h, a:a + w]
    return out
def aug_step(model, opt, target, inputs=None):
    if hasattr(model, "in_shape") and inputs is None and mode != "none":
        img = target.reshape(target.shape[0], *model.in_shape)
        if mode == "shift_in":   # input shifted, target original: undo the shift
            return orig(model, opt, target, shifted(img).reshape(target.shape))
        if mode == "shift_both":
            return orig(model, opt, shifted(img).reshape(target.shape))
    return orig(model, opt, target, inputs)
T.reconstruction_step = aug_step
X, y = load_dataset(name, ROOT.parent / "shared" / "data")
t = time.time()
m = PSSC(len(np.unique(y)), random_state=seed).fit(X)
print(json.dumps({"data": name, "mode": mode, "seed": seed, "acc": acc(y, m.labels_), "chosen": m.chosen_,
      "cand": {k: acc(y, v) for k, v in m.candidate_labels_.items()}, "s": round(time.time() - t)}), flush=True)
