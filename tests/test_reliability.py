"""Bad input fails early with a named reason; random input either works or raises ValueError/TypeError."""
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pssc_fast import PSSC, datasets, ops
from pssc_fast.memory import check_self_expression_fits, self_expression_bytes
from pssc_fast.metrics import acc

TINY = dict(hidden_dims=(8,), latent_dim=4, pretrain_epochs=2, epochs=3)


# -- ops ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("call,match", [
    (lambda: ops.self_expression(torch.zeros(3, 4), torch.zeros(3, 2)), "square"),
    (lambda: ops.self_expression(torch.zeros(3, 3), torch.zeros(4, 2)), "rows"),
    (lambda: ops.self_expression(torch.zeros(3, 3), torch.zeros(3)), "2-D"),
    (lambda: ops.laplacian_trace(torch.zeros(3, 3), torch.zeros(3, 2), torch.zeros(3, 5)), "same shape"),
    (lambda: ops.laplacian_trace(torch.zeros(2, 2), torch.zeros(3, 2), torch.zeros(3, 2)), "rows"),
    (lambda: ops.self_expression(torch.zeros(3, 3), torch.zeros(3, 2), backend="numpy"), "backend"),
    (lambda: ops.laplacian_trace(torch.zeros(3, 3), torch.zeros(3, 2), torch.zeros(3, 2), backend=None), "backend"),
    (lambda: ops.self_expression(np.zeros((3, 3)), torch.zeros(3, 2)), "square"),
])
def test_ops_reject_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 12), m=st.integers(1, 5), d=st.integers(1, 5), scale=st.sampled_from([0.0, 1e-6, 1.0, 1e3]),
       backend=st.sampled_from(["torch", "triton"]), seed=st.integers(0, 2**16))
def test_ops_property_agree_with_the_reference_at_any_scale(n, m, d, scale, backend, seed):
    """Values and gradients equal the plain reference's (float64, 1e-10 relative) whether C is zero,
    tiny, unit or large: an all-zero C must not divide by zero (the degrees are at least 1)."""
    g = torch.Generator().manual_seed(seed)
    base = {"C": scale * torch.randn(n, n, generator=g, dtype=torch.float64),
            "Z": torch.randn(n, m, generator=g, dtype=torch.float64),
            "X": torch.rand(n, d, generator=g, dtype=torch.float64),
            "Xh": torch.rand(n, d, generator=g, dtype=torch.float64)}
    results = {}
    for name in ("reference", backend):
        t = {k: v.clone().requires_grad_(k != "X") for k, v in base.items()}
        Zc = ops.self_expression(t["C"], t["Z"], backend=name)
        T = ops.laplacian_trace(t["C"], t["X"], t["Xh"], backend=name)
        assert Zc.shape == (n, m) and T.shape == ()
        (Zc.sum() + T).backward()
        results[name] = [v.detach() for v in (Zc, T, t["C"].grad, t["Z"].grad, t["Xh"].grad)]
    for got, want in zip(results[backend], results["reference"]):
        assert torch.isfinite(got).all()
        assert float((got - want).abs().max()) <= 1e-10 * max(1.0, float(want.abs().max()))
    assert torch.all(results[backend][2].diagonal() == 0)


# -- estimator ----------------------------------------------------------------------------------
def test_degenerate_inputs_finish_or_fail_cleanly():
    with pytest.raises(ValueError, match="constant"):
        PSSC(2, **TINY).fit(np.zeros((20, 5)))
    rng = np.random.default_rng(0)
    base = rng.random((10, 6))
    duplicated = np.repeat(base, 3, axis=0)  # every row three times
    labels = PSSC(3, random_state=0, **TINY).fit_predict(duplicated)
    assert labels.shape == (30,) and set(labels.tolist()) <= {0, 1, 2}
    constant_feature = rng.random((30, 6))
    constant_feature[:, 2] = 7.0
    labels = PSSC(3, random_state=0, **TINY).fit_predict(constant_feature)
    assert labels.shape == (30,)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=arrays(np.float64, st.tuples(st.integers(1, 14), st.integers(1, 5)),
                elements=st.one_of(st.floats(-1e6, 1e6), st.just(np.nan), st.just(np.inf))),
       k=st.integers(-1, 6))
def test_estimator_property_works_or_raises_cleanly(X, k):
    try:
        labels = PSSC(k, random_state=0, **TINY).fit_predict(X)
    except (ValueError, TypeError):
        return
    assert labels.shape == (X.shape[0],) and labels.min() >= 0 and labels.max() < k


def test_training_stops_on_a_non_finite_loss_naming_step_and_term():
    X, _ = datasets.make_subspaces(40, 2, 2, 6, random_state=0)
    with pytest.raises(FloatingPointError, match=r"(fine-tune|pre-train).*step \d+.*learning rate"):
        PSSC(2, hidden_dims=(8,), pretrain_epochs=3, epochs=3, lr=1e30, pretrain_lr=1e30, random_state=0).fit(X * 1e30)


def test_memory_guard_refuses_before_allocating():
    n = 2_000_000  # 16 TB of n x n state
    assert self_expression_bytes(n) > 10**13
    with pytest.raises(MemoryError, match="anchors"):
        check_self_expression_fits(n)
    check_self_expression_fits(100)  # small problems pass


_FREED_BLOCKS_SCRIPT = """
import sys, torch
from pssc_fast import datasets, memory, train
from pssc_fast.models import FCAutoEncoder

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

X, _ = datasets.make_subspaces(30, 2, 2, 6, random_state=0)
train.finetune(FCAutoEncoder(6, (8,), 3), torch.from_numpy(X).float(), 2, epochs=2, verbose=False)
x = torch.ones(1 << 19); del x  # freeing a mapped 2 MiB block is what raises glibc's dynamic threshold
base = rss_mib()
big, small = [], []
for _ in range(100):
    big.append(torch.ones(1 << 19))     # 2 MiB each
    small.append(torch.ones(16 << 10))  # 64 KiB each, kept alive: pins the heap between the big blocks
grown = rss_mib() - base
del big
print(memory._large_blocks_mapped, grown, rss_mib() - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; glibc malloc")
@pytest.mark.parametrize("keep_malloc", ["", "1"])
def test_finetune_makes_freed_large_blocks_go_back_to_the_system(keep_malloc):
    """After fine-tuning on CPU, 200 MiB of freed 2 MiB tensors leave resident memory; with the opt-out
    (PSSC_FAST_KEEP_MALLOC=1) glibc keeps them in its heap (measured: 0 of 206 MiB returned)."""
    import os
    import subprocess

    from pssc_fast import memory

    env = {**os.environ, "PSSC_FAST_KEEP_MALLOC": keep_malloc, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _FREED_BLOCKS_SCRIPT], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    mapped, grown, left = out[0] == "True", float(out[1]), float(out[2])
    assert grown > 150
    if memory._MALLOPT is None:
        pytest.skip("not glibc: no mallopt")
    if keep_malloc:
        assert not mapped and left > 0.5 * grown
    else:
        assert mapped and left < 0.2 * grown
    assert memory.map_large_blocks(torch.device("meta")) is False  # GPU memory is torch's own allocator's


def test_same_seed_same_labels_on_cpu():
    X, y = datasets.make_subspaces(60, 3, 2, 8, random_state=2)
    a = PSSC(3, random_state=5, **TINY).fit_predict(X)
    b = PSSC(3, random_state=5, **TINY).fit_predict(X)
    np.testing.assert_array_equal(a, b)
    assert acc(y, a) > 0  # scored, not selected


@pytest.mark.parametrize("device", ["tpu", "cuda:99" if not torch.cuda.is_available() else "nonsense"])
def test_unknown_device(device):
    with pytest.raises(ValueError, match="device"):
        PSSC(2, device=device, **TINY).fit(np.random.rand(10, 3))


def test_loaders_validate():
    with pytest.raises(ValueError, match="n_per_class"):
        import pathlib
        import tempfile
        folder = pathlib.Path(tempfile.mkdtemp())
        (folder / "t10k-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + b"".join(
            int(s).to_bytes(4, "big") for s in (1, 2, 2)) + bytes(4))
        (folder / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + (1).to_bytes(4, "big") + bytes(1))
        datasets.load_mnist(folder, n_per_class=0)
    with pytest.raises(ValueError, match="n_clusters"):
        datasets.make_subspaces(3, 5)


@pytest.mark.parametrize("make", ["PSSC", "LargePSSC"])
def test_sparse_input_is_refused_by_name(make):
    import scipy.sparse

    from pssc_fast import LargePSSC, PSSC

    est = PSSC(2) if make == "PSSC" else LargePSSC(2, anchors=10)
    with pytest.raises(TypeError, match=r"scipy.sparse csr_matrix; pass a dense array \(X.toarray\(\)\)"):
        est.fit(scipy.sparse.csr_matrix(np.eye(20, 4)))


def test_bfloat16_tensors_are_read_as_float32():
    from pssc_fast.validation import as_numpy_input

    t = torch.tensor([[1.5, -2.0], [0.0078125, 3.0]], dtype=torch.bfloat16)
    got = as_numpy_input(t)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, t.float().numpy())


def test_ivf_index_on_few_anchors_prints_nothing(capfd):
    from pssc_fast.nearest import build_index

    codes = np.random.default_rng(0).random((50, 6)).astype(np.float32)
    index = build_index(codes, "ivf", seed=0, nprobe=None)
    assert index.ntotal == 50
    out = capfd.readouterr()
    assert out.out == "" and out.err == ""
