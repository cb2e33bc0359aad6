"""Landmark spectral clustering (pssc_fast.landmark) against a dense float64 eigendecomposition."""
import numpy as np
import pytest

from pssc_fast.landmark import LandmarkSpectral, anchor_weights


def _rows_and_anchors(n, m, k, dim, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(k, dim))
    rows = centres[rng.integers(0, k, n)] + rng.normal(size=(n, dim))
    anchors = rows[rng.choice(n, m, replace=False)]
    sq = ((rows[:, None, :] - anchors[None]) ** 2).sum(-1)
    return sq


@pytest.mark.parametrize("n,m,s,k", [(157, 23, 4, 3), (211, 37, 5, 5)])
def test_embedding_spans_the_leading_eigenvectors_of_the_row_graph(n, m, s, k):
    sq = _rows_and_anchors(n, m, k, 7, seed=n)
    nbrs = np.argsort(sq, axis=1)[:, :s]
    d = np.take_along_axis(sq, nbrs, axis=1)
    lsc = LandmarkSpectral(m, k, random_state=0)
    U = lsc.fit(nbrs, d)
    assert U.shape == (n, k) and np.allclose(np.linalg.norm(U, axis=1), 1.0, atol=1e-5)
    # dense reference in float64: W = B^ B^^T, its top-k eigenvectors
    B = np.zeros((n, m))
    np.put_along_axis(B, nbrs, anchor_weights(d, lsc.sigma_), axis=1)
    lam = B.sum(0)
    Bh = B / np.sqrt(np.where(lam > 0, lam, np.inf))
    W = Bh @ Bh.T
    np.testing.assert_allclose(W.sum(1), 1.0, atol=1e-10)  # every row degree is 1: no normalisation needed
    vals, vecs = np.linalg.eigh(W)
    E = vecs[:, -k:]
    assert vals[-k - 1] < vals[-k] - 1e-3, "the test data must have an eigengap"
    raw = Bh @ lsc.projection_  # the embedding before row normalisation
    np.testing.assert_allclose(raw.T @ raw, np.eye(k), atol=1e-9)
    np.testing.assert_allclose(raw @ raw.T, E @ E.T, atol=1e-9)
    # embedding the training rows again gives the same rows
    np.testing.assert_allclose(lsc.embed(nbrs, d), U, atol=1e-5)


def test_anchor_weights_normalised_and_safe_far_away():
    d = np.array([[0.5, 1.0, 4.0], [1e6, 1e6 + 1.0, 1e6 + 2.0]])
    w = anchor_weights(d, sigma=1.0)
    np.testing.assert_allclose(w.sum(1), 1.0)
    np.testing.assert_allclose(w[0], np.exp(-d[0] / 2) / np.exp(-d[0] / 2).sum())
    shifted = np.exp(-np.array([0.0, 1.0, 2.0]) / 2)  # exp(-1e6 / 2) underflows; the ratios do not
    np.testing.assert_allclose(w[1], shifted / shifted.sum())


def test_rows_sitting_on_their_anchors_give_a_finite_embedding():
    """Collapsed codes (every distance 0, seen after a degenerate fine-tuning) used to square a float32
    bandwidth floor to 0 and fill the graph with 0 / 0; the weights must be uniform instead."""
    rng = np.random.default_rng(0)
    n, m, s = 300, 40, 5
    neighbors = np.stack([rng.choice(m, s, replace=False) for _ in range(n)])
    sq_dist = np.zeros((n, s), dtype=np.float32)
    spectral = LandmarkSpectral(m, 3, random_state=0)
    U = spectral.fit(neighbors, sq_dist)
    assert np.isfinite(U).all() and U.shape == (n, 3)
    np.testing.assert_allclose(anchor_weights(sq_dist, spectral.sigma_), 1.0 / s)
    assert np.isfinite(spectral.embed(neighbors[:7], sq_dist[:7])).all()


def test_components_beyond_the_anchor_graphs_rank_add_no_noise():
    # three clusters, each linked to its own two anchors (six used of ten): B^ has rank 6, so a 7th
    # component has nothing to hold and must not amplify round-off into the embedding
    same = np.arange(90) // 30
    nbrs = np.stack([2 * same, 2 * same + 1], axis=1)
    sq = np.random.default_rng(0).random(nbrs.shape)
    E = LandmarkSpectral(10, 7, random_state=0).fit(nbrs, sq).astype(np.float64)
    G = E @ E.T
    assert G[same[:, None] != same[None, :]].max() < 1e-6  # rows of different clusters stay orthogonal
    np.testing.assert_allclose(np.diagonal(G), 1.0, atol=1e-6)
