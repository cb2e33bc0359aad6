"""The quality round's pieces: scale-free defaults, the input's own LSR as a candidate, the normalized cut
that chooses, and starting from DSC-Net's released (TensorFlow-padded) auto-encoders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from pssc_fast import PSSC
from pssc_fast import affinity as af
from pssc_fast.datasets import make_subspaces
from pssc_fast.losses import LossWeights
from pssc_fast.models import ConvAutoEncoder, FCAutoEncoder, load_dscnet_autoencoder
from pssc_fast.train import COEF_LR_SHARE, auto_coef_l2, finetune, ridge_coefficients, shallow_coefficients

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# ---------------------------------------------------------------- scale-free rules


@pytest.mark.parametrize("n, m", [(37, 5), (23, 41)])  # codes narrower and wider than the sample count
def test_auto_coef_l2_is_the_kth_gram_eigenvalue_and_makes_the_ridge_scale_free(n, m):
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((n, m))
    k = 4
    expected = 0.5 * np.sort(np.linalg.eigvalsh(Z @ Z.T))[::-1][k - 1]  # float64 reference
    assert auto_coef_l2(torch.from_numpy(Z), k, 0.5) == pytest.approx(expected, rel=1e-10)
    # the same codes at another scale give the same C: raw, [0, 1] and unit-norm inputs fit alike
    C1 = ridge_coefficients(torch.from_numpy(Z), 1.0, auto_coef_l2(torch.from_numpy(Z), k, 1.0))
    C2 = ridge_coefficients(torch.from_numpy(37.0 * Z), 1.0, auto_coef_l2(torch.from_numpy(37.0 * Z), k, 1.0))
    np.testing.assert_allclose(C1.numpy(), C2.numpy(), atol=1e-6)


def test_shallow_coefficients_match_the_float64_closed_form():
    rng = np.random.default_rng(1)
    X = rng.random((29, 13))
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    G = U @ U.T
    lam = np.sort(np.linalg.eigvalsh(G))[::-1][2]  # K = 3
    expected = G @ np.linalg.inv(G + lam * np.eye(29))
    np.fill_diagonal(expected, 0)
    C = shallow_coefficients(torch.from_numpy(X.astype(np.float32)), 3).numpy()
    np.testing.assert_allclose(C, expected, atol=2e-6)  # float32 input rows, float64 algebra, float32 out


def test_auto_coef_lr_follows_the_ridge_start_scale():
    torch.manual_seed(0)
    X = torch.rand(31, 7)
    model = FCAutoEncoder(7, (9,), 4)
    with torch.no_grad():
        Z = model.encode(X)
    weights = LossWeights(trace=0, graph=0, label=0, balance=0)
    start = ridge_coefficients(Z, 1.0, auto_coef_l2(Z, 3, 1.0))
    result = finetune(model, X, 3, weights=weights, epochs=1, coef_lr="auto", backend="torch", verbose=False)
    assert result.coef_l2 == pytest.approx(auto_coef_l2(Z, 3, 1.0), rel=1e-6)
    assert result.coef_lr == pytest.approx(COEF_LR_SHARE * float(start.abs().amax(dim=0).mean()), rel=1e-5)


def test_auto_coef_lr_trains_a_constant_start_at_lr():
    torch.manual_seed(0)
    X = torch.rand(19, 5)
    weights = LossWeights(trace=0, graph=0, label=0, balance=0)
    result = finetune(FCAutoEncoder(5, (7,), 3), X, 2, weights=weights, epochs=1, lr=3e-3, c_init=1e-5,
                      coef_lr="auto", backend="torch", verbose=False)
    assert result.coef_lr == 3e-3  # 1e-3 of a 1e-5 start would freeze C


def test_exact_post_processing_is_lapack_and_repeatable():
    rng = np.random.default_rng(7)
    C = np.kron(np.eye(3), np.ones((40, 40))) * rng.uniform(0.5, 1.0, (120, 120)) + 0.01 * rng.random((120, 120))
    first = af.cluster_coefficients(C, 3, q=2, method="exact", random_state=0, return_affinity=True)[1]
    np.random.seed(1)  # the exact path draws no Lanczos start vector from numpy's global generator
    second = af.cluster_coefficients(C, 3, q=2, method="exact", random_state=0, return_affinity=True)[1]
    np.testing.assert_array_equal(first, second)


# ---------------------------------------------------------------- the candidate that the cut chooses


def test_normalized_cut_matches_its_definition_in_float64():
    rng = np.random.default_rng(2)
    A = rng.random((17, 17))
    A = A + A.T
    labels = rng.integers(0, 3, 17)
    labels[:3] = [0, 1, 2]
    W = A.copy()
    np.fill_diagonal(W, 0)
    shares = [W[labels == k][:, labels != k].sum() / W[labels == k].sum() for k in range(3)]
    assert af.normalized_cut(A, labels) == pytest.approx(np.mean(shares), rel=1e-12)
    assert af.normalized_cut(sp.csr_matrix(A), labels) == pytest.approx(np.mean(shares), rel=1e-12)


def test_cluster_best_of_keeps_the_better_separated_partition():
    rng = np.random.default_rng(3)
    blocks = np.kron(np.eye(3), np.ones((11, 11))) * rng.uniform(0.5, 1.0, (33, 33))  # 3 clean blocks
    noisy = rng.random((33, 33))
    chosen, results = af.cluster_best_of({"noisy": noisy, "blocks": blocks}, 3, q=2, random_state=0)
    assert chosen == "blocks" and results["blocks"][2] < results["noisy"][2]
    chosen, _ = af.cluster_best_of({"first": blocks, "second": blocks.copy()}, 3, q=2, random_state=0)
    assert chosen == "first"  # ties keep the network's (the first) candidate


def test_cluster_best_of_keeps_the_preferred_candidate_within_its_tolerance():
    rng = np.random.default_rng(3)
    clean = np.kron(np.eye(3), np.ones((11, 11))) * rng.uniform(0.5, 1.0, (33, 33))
    blocks = clean + 0.2 * rng.random((33, 33))  # weight between the blocks, kept by ro=1 and alpha=1: cuts > 0
    blurred = clean + 0.4 * rng.random((33, 33))  # the same blocks, less separated
    post = dict(q=3, ro=1.0, alpha=1.0, random_state=0)
    _, results = af.cluster_best_of({"sharp": blocks, "blurred": blurred}, 3, **post)
    ratio = results["blurred"][2] / results["sharp"][2]
    assert ratio > 1.2
    kwargs = dict(post, preferred="blurred")
    assert af.cluster_best_of({"sharp": blocks, "blurred": blurred}, 3, tolerance=0.0, **kwargs)[0] == "sharp"
    assert af.cluster_best_of({"sharp": blocks, "blurred": blurred}, 3, tolerance=ratio - 1.0001, **kwargs)[0] == "sharp"
    assert af.cluster_best_of({"sharp": blocks, "blurred": blurred}, 3, tolerance=ratio - 0.9999, **kwargs)[0] == "blurred"
    with pytest.raises(ValueError, match="preferred"):
        af.cluster_best_of({"sharp": blocks}, 3, preferred="contrastive")
    with pytest.raises(ValueError, match="tolerance"):
        af.cluster_best_of({"sharp": blocks}, 3, preferred="sharp", tolerance=-0.1)


def test_pssc_keeps_the_input_partition_when_the_network_loses_it():
    # a union of subspaces the untrained network scrambles: the input's own LSR separates it cleanly
    X, y = make_subspaces(120, 3, 3, 30, random_state=4)
    params = dict(hidden_dims=(8,), latent_dim=2, pretrain_epochs=0, epochs=1, q=2, random_state=0, ro_consensus=False)
    plain = PSSC(3, shallow_candidate=False, **params).fit(X)
    both = PSSC(3, **params).fit(X)
    assert plain.chosen_ == "network" and set(plain.normalized_cuts_) == {"network"}
    assert set(both.normalized_cuts_) == {"network", "input"}
    np.testing.assert_array_equal(both.labels_, both.candidate_labels_[both.chosen_])
    np.testing.assert_array_equal(both.candidate_labels_["network"], plain.labels_)
    assert both.chosen_ == "input"
    from pssc_fast.metrics import acc

    assert acc(y, both.labels_) == 1.0


# ---------------------------------------------------------------- DSC-Net's TensorFlow-padded auto-encoders


@pytest.mark.parametrize("size, kernels", [(32, (3, 3, 3)), (28, (5, 3, 3)), (13, (4, 3))])
def test_tf_same_padding_matches_explicit_tensorflow_arithmetic(size, kernels):
    torch.manual_seed(0)
    net = ConvAutoEncoder((1, size, size), [3] * len(kernels), kernels, padding="tf-same", output_relu=True)
    x = torch.rand(2, size * size, dtype=torch.float64)
    net = net.double().requires_grad_(False)
    h = x.reshape(2, 1, size, size)
    for conv, k in zip(net.enc_layers, kernels):  # TF "SAME", stride 2: pad total, floor half before
        out = -(-h.shape[-1] // 2)
        total = max((out - 1) * 2 + k - h.shape[-1], 0)
        h = torch.relu(F.conv2d(F.pad(h, (total // 2, total - total // 2) * 2), conv.weight, conv.bias, stride=2))
    np.testing.assert_allclose(net.encode(x).numpy(), h.flatten(1).numpy(), rtol=1e-12)
    assert net.decode(net.encode(x)).shape == (2, size * size)
    assert (net.decode(net.encode(x)) >= 0).all()  # the released nets end in a ReLU


def test_load_dscnet_autoencoder_reads_the_released_layout(tmp_path):
    rng = np.random.default_rng(5)
    arrays = {"encoder.conv1.weight": rng.standard_normal((3, 1, 3, 3)), "encoder.conv1.bias": rng.standard_normal(3),
              "encoder.conv2.weight": rng.standard_normal((5, 3, 3, 3)), "encoder.conv2.bias": rng.standard_normal(5),
              "decoder.deconv1.weight": rng.standard_normal((5, 3, 3, 3)), "decoder.deconv1.bias": rng.standard_normal(3),
              "decoder.deconv2.weight": rng.standard_normal((3, 1, 3, 3)), "decoder.deconv2.bias": rng.standard_normal(1)}
    np.savez(tmp_path / "ae.npz", **{k: v.astype(np.float32) for k, v in arrays.items()})
    net = load_dscnet_autoencoder(tmp_path / "ae.npz", (1, 16, 16))
    assert net.padding == "tf-same" and net.latent_dim == 5 * 4 * 4
    np.testing.assert_array_equal(net.enc_layers[1].weight.detach().numpy(), arrays["encoder.conv2.weight"].astype(np.float32))
    np.testing.assert_array_equal(net.dec_layers[0].weight.detach().numpy(), arrays["decoder.deconv1.weight"].astype(np.float32))
    np.savez(tmp_path / "other.npz", w=np.zeros(3))
    with pytest.raises(ValueError, match="not a DSC-Net auto-encoder"):
        load_dscnet_autoencoder(tmp_path / "other.npz")


@pytest.mark.skipif(not (SHARED_DATA / "dscnet_pretrained" / "orl.npz").is_file(), reason="shared data absent")
def test_released_orl_autoencoder_reconstructs_as_released():
    from pssc_fast.datasets import load_mat

    X, _ = load_mat(SHARED_DATA / "ORL_32x32.mat")
    net = load_dscnet_autoencoder(SHARED_DATA / "dscnet_pretrained" / "orl.npz")
    Xt = torch.from_numpy(np.asarray(X, dtype=np.float32))
    with torch.no_grad():
        mse = float(((net.decode(net.encode(Xt)) - Xt) ** 2).mean()) / 255.0 ** 2
    # 0.0051 per pixel on [0, 1]; PyTorch's symmetric padding with the same weights gives 0.0064
    assert mse < 0.0055


def test_a_given_autoencoder_is_trained_as_it_is_and_left_untouched():
    X, _ = make_subspaces(40, 2, 2, 16, random_state=6)
    net = ConvAutoEncoder((1, 4, 4), (3,), (3,), padding="tf-same")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    est = PSSC(2, pretrain_epochs=0, epochs=2, q=2, autoencoder=net, image_shape=(1, 4, 4), random_state=0).fit(X)
    assert est.model_.padding == "tf-same"  # not rebuilt with the parameters' symmetric padding
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
