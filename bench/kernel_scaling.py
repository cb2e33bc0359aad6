"""Kernel scaling: one forward + backward of the coupled n x n loss, every backend side by side.

The loss is the n x n part of a PSSC training step (docs/DESIGN.md sections 2 and 4):

    Zc = C0 Z,  X_hat = sigmoid(Zc W)  (decoder stand-in),
    L  = ||X - X_hat||^2 + 2 Tr(X^T L_n X_hat) + gamma ||Z - Zc||^2,

differentiated in C, Z and W. Variants:

    reference     plain torch, every n x n matrix built (pssc_fast.ops.reference: the tests' oracle, written
                  for clarity - each operator forms its own C0 - not a tuned baseline)
    torch         chunked torch, ops.self_expression + ops.laplacian_trace (two n x n gradients)
    torch_fused   chunked torch, ops.graph_step (degrees shared, dC written once)
    triton        Triton kernels, separate ops            (CUDA only)
    triton_fused  Triton kernels, ops.graph_step          (CUDA only)

For each size: median wall seconds over a few repetitions after one warm-up, the variants
interleaved rep by rep (CUDA: CUDA events); peak memory beyond the inputs (CPU: resident-set
high-water mark of a fresh subprocess per (variant, n), reset once the inputs exist, minus its resident
set then, with glibc's mmap threshold fixed at 1 MiB for every variant -- glibc otherwise raises it
after the first large free and keeps later freed blocks resident, so RSS would follow allocation
history rather than live memory; --malloc-threshold 0 restores glibc's default; CUDA:
max_memory_allocated minus memory_allocated after the inputs), that peak in units of one n x n
float32 matrix, the n x n
buffers and passes each design implies, and the achieved GFLOP/s (nominal flops of the loss,
6 n^2 (m + d)) next to a plain torch matmul of the same shapes timed in the same run. A size
that would not fit in memory, or that would overrun the time budget, is skipped with the reason.
Results: JSON and PNG under --out (default bench/results/kernel_scaling_<device>.*).

    python bench/kernel_scaling.py                       # CPU: reference, torch, torch_fused
    python bench/kernel_scaling.py --device cuda --sizes 1000 2000 4000 8000 16000 32000 65536
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import pssc_fast  # noqa: F401
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pssc_fast import ops  # noqa: E402
from measure import proc_status_bytes, reset_peak_rss  # noqa: E402
from provenance import provenance  # noqa: E402

VARIANTS = ["reference", "torch", "torch_fused", "triton", "triton_fused"]
GAMMA = 0.5

# What each design implies per training step (forward + backward of the loss above).
# "reads of C" counts sweeps over the n x n matrix C; "n x n writes" counts sweeps that write an
# n x n array (the gradient, or autograd adding two gradients); "n x n buffers" counts n x n
# arrays alive at the peak besides C itself. Measured peaks are in the results.
DESIGN = {
    "reference": {
        "nxn_buffers": "~9 (C0 twice, |C0|, S, a*S, S_hat, their gradients; autograd saves 5)",
        "passes": "~25 elementwise n x n sweeps forward + backward, plus the S_hat GEMMs",
    },
    "torch": {
        "nxn_buffers": "2 (dC of each operator; autograd adds them)",
        "passes": "reads of C: 6 (C0Z 1, degrees 1, S_hat 2 (rows and columns of a block), "
                  "trace dC signs 1, C0^T dZc 1); n x n writes: 3 (two gradients + their sum)",
    },
    "torch_fused": {
        "nxn_buffers": "1 (dC)",
        "passes": "reads of C: 4 (C0Z+degrees 1, S_hat 2, dC signs and C0^T dZc 1); n x n writes: 1",
    },
    "triton": {
        "nxn_buffers": "2 (dC of each operator; autograd adds them)",
        "passes": "reads of C: 6 (C0Z 1, degrees 1, S_hat 2 (tiles of C and C^T), dC writers 2); "
                  "n x n writes: 3 (two gradients + their sum)",
    },
    "triton_fused": {
        "nxn_buffers": "1 (dC)",
        "passes": "reads of C: 4 (C0Z+degrees 1, S_hat 2, dC writer 1); n x n writes: 1",
    },
}
# Rough peak n x n float32 equivalents, to skip sizes that cannot fit before trying them; replaced
# by the measured ratio of the previous size as soon as there is one.
PRIOR_NXN = {"reference": 11.0, "torch": 3.0, "torch_fused": 2.0, "triton": 3.0, "triton_fused": 2.0}


def nominal_flops(n: int, m: int, d: int) -> float:
    """C0 Z, C0^T dZc, dZc Z^T (2 n^2 m each); S_hat X_hat, S_hat X, and the trace's dC tiles
    N = X X_hat^T + X_hat X^T on one triangle (2 n^2 d each)."""
    return 6.0 * n * n * (m + d)


# ---------------------------------------------------------------------------------------------
# One measurement
# ---------------------------------------------------------------------------------------------


def make_inputs(n, m, d, dtype, device, seed=0):
    """Inputs created in place, so that no transient allocation inflates the memory baseline."""
    g = torch.Generator(device=device).manual_seed(seed)
    C = torch.empty(n, n, dtype=dtype, device=device).normal_(0.0, 1e-2, generator=g)
    C.fill_diagonal_(0.0)
    C.requires_grad_()
    Z = torch.empty(n, m, dtype=dtype, device=device).normal_(generator=g).requires_grad_()
    X = torch.empty(n, d, dtype=dtype, device=device).uniform_(generator=g)
    W = torch.empty(m, d, dtype=dtype, device=device).normal_(0.0, m ** -0.5, generator=g).requires_grad_()
    return C, Z, X, W


def loss_and_backward(variant, C, Z, X, W):
    """One forward + backward of the coupled loss; gradients land in .grad (set to None first)."""
    C.grad = Z.grad = W.grad = None
    backend = variant.replace("_fused", "")
    if variant.endswith("_fused"):
        step = ops.graph_step(C, backend=backend)
        Zc = step.self_expression(Z)
        X_hat = torch.sigmoid(Zc @ W)
        T = step.laplacian_trace(X, X_hat)
    else:
        Zc = ops.self_expression(C, Z, backend=backend)
        X_hat = torch.sigmoid(Zc @ W)
        T = ops.laplacian_trace(C, X, X_hat, backend=backend)
    loss = ((X - X_hat) ** 2).sum() + 2.0 * T + GAMMA * ((Z - Zc) ** 2).sum()
    loss.backward()
    return loss.detach()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    """VmHWM (since the last reset_peak_rss) in bytes, or ru_maxrss where /proc is not there."""
    peak = proc_status_bytes("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _timed_step(variant, tensors, dev):
    """Seconds for one step (CUDA: CUDA events)."""
    if dev.type == "cuda":
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        loss_and_backward(variant, *tensors)
        stop.record()
        torch.cuda.synchronize()
        return start.elapsed_time(stop) / 1e3
    t0 = time.perf_counter()
    loss_and_backward(variant, *tensors)
    return time.perf_counter() - t0


def measure_memory(variant, n, m, d, device, dtype=torch.float32):
    """Peak bytes beyond the inputs during one step (and that step's seconds).

    A small step first loads libraries and thread pools, whose memory is not the variant's.
    """
    dev = torch.device(device)
    loss_and_backward(variant, *make_inputs(min(n, 1024), m, d, dtype, dev))
    tensors = make_inputs(n, m, d, dtype, dev)
    gc.collect()
    _sync(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_bytes()
        reset_peak_rss()
    seconds = _timed_step(variant, tensors, dev)
    peak = (torch.cuda.max_memory_allocated() if dev.type == "cuda" else _peak_rss_bytes()) - base
    del tensors
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return {"peak_extra_bytes": int(max(0, peak)), "single_step_s": seconds}


def measure_times(variants, n, m, d, reps, device, dtype=torch.float32):
    """Seconds per step of every variant, interleaved rep by rep on the same inputs.

    Interleaving puts the variants side by side in time, so that load from other processes
    on a shared machine shifts all of them alike and their ratios stay meaningful.
    """
    dev = torch.device(device)
    tensors = make_inputs(n, m, d, dtype, dev)
    out, good = {}, []
    for v in variants:  # warm-up: page faults, Triton compilation; a failing variant drops out
        try:
            # A single CPU repetition (the largest sizes) goes without: the memory run already
            # paid for any compilation, and first-touch page faults are small against a step.
            if reps > 1 or dev.type == "cuda":
                loss_and_backward(v, *tensors)
            good.append(v)
        except Exception as err:
            out[v] = {"error": repr(err)}
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    times = {v: [] for v in good}
    for _ in range(reps):
        for v in good:
            times[v].append(_timed_step(v, tensors, dev))
    del tensors
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    # with one repetition (the largest CPU sizes) "median_s" is that single sample: each row's "reps" says so
    out.update({v: {"median_s": statistics.median(ts), "times_s": ts} for v, ts in times.items()})
    return out


def matmul_rate(n, m, d, device, reps=3, dtype=torch.float32):
    """GFLOP/s of torch (n x n) @ (n x d) and of the skinny (n x n) @ (n x m), same run."""
    dev = torch.device(device)
    C = torch.empty(n, n, dtype=dtype, device=dev).normal_()
    out = {}
    for name, k in (("dense", d), ("skinny", m)):
        Y = torch.empty(n, k, dtype=dtype, device=dev).normal_()
        ts = []
        for i in range(reps + 1):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            torch.mm(C, Y)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if i > 0:
                ts.append(time.perf_counter() - t0)
        out[f"gflops_{name}"] = 2.0 * n * n * k / statistics.median(ts) / 1e9
    del C
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return out


def accuracy(variants, device, n=300, m=10, d=64):
    """Largest relative error (loss and every gradient) against float64 reference autograd."""
    from pssc_fast.ops import reference

    torch.manual_seed(0)
    dev = torch.device(device)
    C64 = (torch.randn(n, n, dtype=torch.float64) * 1e-2)
    C64[torch.rand(n, n) < 0.1] = 0.0
    Z64, X64 = torch.randn(n, m, dtype=torch.float64), torch.rand(n, d, dtype=torch.float64)
    W64 = torch.randn(m, d, dtype=torch.float64) / m ** 0.5

    def run(variant, dtype):
        C, Z, W = (t.detach().to(dev, dtype).clone().requires_grad_() for t in (C64, Z64, W64))
        if variant == "oracle":
            X = X64.to(dev)
            Zc = reference.self_expression(C, Z)
            X_hat = torch.sigmoid(Zc @ W)
            L = ((X - X_hat) ** 2).sum() + 2.0 * reference.laplacian_trace(C, X, X_hat) \
                + GAMMA * ((Z - Zc) ** 2).sum()
            L.backward()
        else:
            L = loss_and_backward(variant, C, Z, X64.to(dev, dtype), W)
        return [L.detach().double().cpu()] + [t.grad.double().cpu() for t in (C, Z, W)]

    want = run("oracle", torch.float64)
    out = {}
    for variant in variants:
        # Triton's claim is float32 (float64 Triton is covered by the tests); skipping it here
        # saves a set of kernel compilations on the GPU run.
        for dtype in (torch.float32,) if variant.startswith("triton") else (torch.float64, torch.float32):
            got = run(variant, dtype)
            err = max(float((a - b).norm() / b.norm()) for a, b in zip(got, want))
            out.setdefault(variant, {})[str(dtype).replace("torch.", "")] = err
    return {"n": n, "m": m, "d": d, "max_rel_err": out}


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def available_bytes(device) -> int:
    if torch.device(device).type == "cuda":
        return torch.cuda.mem_get_info()[0]
    with open("/proc/meminfo") as f:
        info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) * 1024


def runnable(variant, device):
    if variant.startswith("triton") and torch.device(device).type != "cuda":
        return "triton runs on CUDA; on CPU only the test interpreter runs it (not timed)"
    if variant.startswith("triton") and not ops.triton_available():
        return "triton cannot be imported"
    return None


def run_worker(args) -> None:
    """Subprocess entry: one (variant, n) measurement, printed as a JSON line."""
    torch.set_num_threads(args.threads or torch.get_num_threads())
    if args.worker == "matmul":
        res = matmul_rate(args.n, args.m, args.d, args.device)
    elif args.worker == "times":
        res = measure_times(args.timed, args.n, args.m, args.d, args.reps, args.device)
    else:
        res = measure_memory(args.worker, args.n, args.m, args.d, args.device)
    print("RESULT " + json.dumps(res), flush=True)


def warm(args) -> None:
    """One step of each runnable variant at the given sizes, so that Triton compiles the kernel
    variants a later run needs (they depend on n mod 16) into its cache while other work runs."""
    for n in args.warm:
        for v in args.variants:
            if runnable(v, args.device):
                continue
            t0 = time.perf_counter()
            try:
                loss_and_backward(v, *make_inputs(n, args.m, args.d, torch.float32, torch.device(args.device)))
                print(f"warm {v} n={n}: {time.perf_counter() - t0:.1f}s", flush=True)
            except Exception as err:
                print(f"warm {v} n={n} failed: {err!r}", flush=True)


def measure_isolated(variant, n, args, timeout, timed=()):
    """CPU: a fresh process per measurement, so that high-water marks do not contaminate."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", variant, "--n", str(n), "--m", str(args.m),
           "--d", str(args.d), "--reps", str(args.reps_for(n)), "--device", args.device]
    if timed:
        cmd += ["--timed", *timed]
    env = dict(os.environ)
    if variant not in ("times", "matmul") and args.malloc_threshold:
        env["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_threshold)
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"worker failed (rc={proc.returncode}): {proc.stderr.strip()[-800:]}")


def plot(report, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as err:  # pragma: no cover - plotting is optional
        print(f"no plot: {err}")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ok = [r for r in report["results"] if r["status"] == "ok"]
    for variant in VARIANTS:
        rows = sorted((r for r in ok if r["variant"] == variant), key=lambda r: r["n"])
        if not rows:
            continue
        ns = [r["n"] for r in rows]
        axes[0].plot(ns, [r["median_s"] for r in rows], "o-", label=variant)
        axes[1].plot(ns, [r["peak_extra_bytes"] / 2 ** 20 for r in rows], "o-", label=variant)
    sizes = sorted({r["n"] for r in ok})
    if sizes:
        axes[1].plot(sizes, [4 * n * n / 2 ** 20 for n in sizes], "k--", lw=1, label="one n x n fp32 (dC)")
    dev = report["machine"]["device"]
    axes[0].set(xscale="log", yscale="log", xlabel="n", ylabel="median seconds (fwd+bwd)",
                title=f"coupled loss, m={report['config']['m']}, d={report['config']['d']} ({dev})")
    axes[1].set(xscale="log", yscale="log", xlabel="n", ylabel="peak extra memory (MiB)",
                title="memory beyond the inputs")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8000, 16000])
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    p.add_argument("--m", type=int, default=10)
    p.add_argument("--d", type=int, default=784)
    p.add_argument("--reps", type=int, default=0,
                   help="timed repetitions (0: 5 up to n = 4000, then 3; on CPU 1 beyond n = 8000)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    p.add_argument("--tag", default="", help="file suffix (default: the device type)")
    p.add_argument("--time-budget", type=float, default=3600.0, help="seconds; later sizes are skipped past it")
    p.add_argument("--matmul-precision", default=None, choices=["highest", "high", "medium"],
                   help="torch.set_float32_matmul_precision for cuBLAS and the Triton kernels alike")
    p.add_argument("--no-accuracy", action="store_true")
    p.add_argument("--malloc-threshold", type=int, default=1 << 20,
                   help="CPU memory runs: glibc MALLOC_MMAP_THRESHOLD_ in bytes (0: glibc's default)")
    p.add_argument("--warm", type=int, nargs="*", default=None,
                   help="only run one step of each variant at these sizes (fills Triton's cache) and exit")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--timed", nargs="*", default=[], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.matmul_precision:
        torch.set_float32_matmul_precision(args.matmul_precision)
    if args.worker:
        return run_worker(args)
    if args.warm is not None:
        return warm(args)

    t_start = time.perf_counter()
    cuda = torch.device(args.device).type == "cuda"
    # CPU steps grow as n^2 d: at n = 16000 one step takes tens of seconds on 2 cores.
    args.reps_for = lambda n: args.reps or (5 if n <= 4000 else 3 if (n <= 8000 or cuda) else 1)
    tag = args.tag or torch.device(args.device).type
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = {
        "device": torch.cuda.get_device_name() if cuda else f"CPU ({platform.processor() or platform.machine()})",
        "cpu_count": os.cpu_count(), "torch_threads": args.threads or torch.get_num_threads(),
        "torch": torch.__version__, "python": platform.python_version(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "loadavg_start": os.getloadavg(),
        "provenance": provenance(),
    }
    try:
        import triton

        machine["triton"] = triton.__version__
    except Exception:
        pass
    if cuda and ops.triton_available():
        from pssc_fast.ops.primitives import resolve_precision

        # what the kernels' dots resolve "auto" to
        machine["triton_dot_precision"] = resolve_precision("auto", torch.float32)
    report = {
        "machine": machine,
        "config": {"m": args.m, "d": args.d, "dtype": "float32", "gamma": GAMMA, "sizes": args.sizes,
                   "variants": args.variants, "flops_model": "6 n^2 (m + d)",
                   "cpu_memory_runs": (f"glibc MALLOC_MMAP_THRESHOLD_={args.malloc_threshold}" if args.malloc_threshold
                                       else "glibc defaults")},
        "design": {v: DESIGN[v] for v in args.variants},
        "matmul": {}, "results": [], "accuracy": None,
    }
    print(f"kernel_scaling on {machine['device']}, torch {machine['torch']}, threads {machine['torch_threads']}",
          flush=True)

    live = []
    for v in args.variants:
        why = runnable(v, args.device)
        if why:
            print(f"  {v}: skipped ({why})", flush=True)
            report["results"].append({"variant": v, "n": None, "status": "skipped", "reason": why})
        else:
            live.append(v)

    if not args.no_accuracy:
        try:
            report["accuracy"] = accuracy(live, args.device)
            print("accuracy vs float64 autograd:", json.dumps(report["accuracy"]["max_rel_err"]), flush=True)
        except Exception as err:
            report["accuracy"] = {"error": repr(err)}
            print(f"accuracy check failed: {err!r}", flush=True)

    last = {}  # variant -> (n, seconds per step, n x n equivalents)
    for n in args.sizes:
        nxn = 4.0 * n * n
        elapsed = time.perf_counter() - t_start
        if elapsed > args.time_budget:
            print(f"n={n}: skipped, time budget of {args.time_budget:.0f}s spent", flush=True)
            report["results"].append({"variant": "*", "n": n, "status": "skipped", "reason": "time budget spent"})
            continue
        try:
            if cuda:
                report["matmul"][str(n)] = matmul_rate(n, args.m, args.d, args.device)
            else:
                report["matmul"][str(n)] = measure_isolated("matmul", n, args, timeout=1800)
            mm = report["matmul"][str(n)]
            print(f"n={n}: torch matmul {mm['gflops_dense']:.0f} GFLOP/s (n x n @ n x {args.d}), "
                  f"{mm['gflops_skinny']:.0f} GFLOP/s (n x n @ n x {args.m})", flush=True)
        except Exception as err:
            mm = None
            print(f"n={n}: matmul reference failed: {err!r}", flush=True)
        reps = args.reps_for(n)
        rows = {}
        for v in live:
            row = rows[v] = {"variant": v, "n": n}
            ratio = last[v][2] if v in last else PRIOR_NXN[v]
            need = (1.0 + ratio) * nxn + 16.0 * n * (args.m + args.d)
            avail = available_bytes(args.device)
            left = args.time_budget - (time.perf_counter() - t_start)
            projected = last[v][1] * (n / last[v][0]) ** 2 * (reps + 2) if v in last else 0.0
            if need > 0.85 * avail:
                row.update(status="skipped", reason=f"needs ~{need / 2**30:.1f} GiB, {avail / 2**30:.1f} GiB available")
            elif projected > left:
                row.update(status="skipped", reason=f"projected {projected:.0f}s > {left:.0f}s of time budget left")
            else:
                try:
                    if cuda:
                        res = measure_memory(v, n, args.m, args.d, args.device)
                    else:
                        res = measure_isolated(v, n, args, timeout=max(600, args.time_budget))
                    row.update(res)
                    row["nxn_equiv"] = res["peak_extra_bytes"] / nxn
                except Exception as err:  # one failure must not lose the rest of the run
                    _record_failure(row, err, cuda)
        timed = [v for v in live if "status" not in rows[v]]
        if timed:
            try:
                if cuda:
                    res = measure_times(timed, n, args.m, args.d, reps, args.device)
                else:
                    res = measure_isolated("times", n, args, timeout=max(600, args.time_budget), timed=timed)
            except Exception as err:
                res = {v: {"error": repr(err)} for v in timed}
            for v in timed:
                row = rows[v]
                if "error" in res[v]:
                    row.update(status="failed", reason=res[v]["error"][-500:])
                    continue
                row.update(status="ok", reps=reps, **res[v])
                row["gflops"] = nominal_flops(n, args.m, args.d) / row["median_s"] / 1e9
                if mm:
                    row["vs_matmul_dense"] = row["gflops"] / mm["gflops_dense"]
                last[v] = (n, row["median_s"], max(row["nxn_equiv"], 1.0))
        for v in live:
            row = rows[v]
            report["results"].append(row)
            if row["status"] == "ok":
                print(f"  {v:13s} n={n:6d}: {row['median_s']:8.3f} s  peak +{row['peak_extra_bytes'] / 2**20:9.1f} MiB"
                      f" ({row['nxn_equiv']:.2f} n x n)  {row['gflops']:7.1f} GFLOP/s"
                      + (f" = {row['vs_matmul_dense']:.2f} x matmul" if mm else ""), flush=True)
            else:
                print(f"  {v:13s} n={n:6d}: {row['status']} ({row['reason']})", flush=True)
        # partial results survive an interrupted run
        report["summary"] = summarize(report)
        (out_dir / f"kernel_scaling_{tag}.json").write_text(json.dumps(report, indent=1))
        plot(report, out_dir / f"kernel_scaling_{tag}.png")

    report["summary"] = summarize(report)
    report["wall_s"] = time.perf_counter() - t_start
    report["machine"]["loadavg_end"] = os.getloadavg()
    (out_dir / f"kernel_scaling_{tag}.json").write_text(json.dumps(report, indent=1))
    plot(report, out_dir / f"kernel_scaling_{tag}.png")
    print(json.dumps(report["summary"], indent=1))
    print(f"wrote {out_dir / f'kernel_scaling_{tag}.json'} and .png in {report['wall_s']:.0f}s", flush=True)


def _record_failure(row, err, cuda):
    msg = repr(err)
    if "out of memory" in msg.lower():
        row.update(status="skipped", reason="out of memory")
    else:
        row.update(status="failed", reason=msg[-500:])
    if cuda:
        gc.collect()
        torch.cuda.empty_cache()


def summarize(report):
    """Each variant against the reference at every size both completed (time and memory ratios)."""
    ok = {(r["variant"], r["n"]): r for r in report["results"] if r["status"] == "ok"}
    out = {}
    for (v, n), r in sorted(ok.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ref = ok.get(("reference", n))
        entry = {"median_s": round(r["median_s"], 4), "reps": r.get("reps"),
                 "peak_extra_MiB": round(r["peak_extra_bytes"] / 2 ** 20, 1)}
        if ref and v != "reference":
            entry["time_vs_reference"] = round(r["median_s"] / ref["median_s"], 3)
            entry["memory_vs_reference"] = round(r["peak_extra_bytes"] / max(1, ref["peak_extra_bytes"]), 3)
        out.setdefault(str(n), {})[v] = entry
    return out


if __name__ == "__main__":
    main()
