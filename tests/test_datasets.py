from pathlib import Path

import numpy as np
import pytest

from pssc_fast import datasets

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent")


def test_load_digits():
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.max() == 16 and set(np.unique(y)) == set(range(10))


@pytest.mark.parametrize("warp", [False, True])
def test_make_subspaces_shapes_seed_and_rank(warp):
    X, y = datasets.make_subspaces(101, 4, 3, 12, noise=0.0, warp=warp, random_state=7)
    X2, _ = datasets.make_subspaces(101, 4, 3, 12, noise=0.0, warp=warp, random_state=7)
    assert X.shape == (101, 12) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X, X2)
    assert np.bincount(y).tolist() == [26, 25, 25, 25]
    if not warp:  # each cluster spans exactly its subspace
        for k in range(4):
            assert np.linalg.matrix_rank(X[y == k], tol=1e-4) == 3
    else:
        assert X.min() == 0.0 and X.max() == 1.0


def test_make_subspaces_rejects_bad_sizes():
    with pytest.raises(ValueError, match="dim"):
        datasets.make_subspaces(10, 2, dim=5, ambient_dim=3)


def test_loaders_report_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        datasets.load_mat(tmp_path / "nope.mat")
    with pytest.raises(FileNotFoundError):
        datasets.load_mnist(tmp_path)


def test_load_mat_roundtrip(tmp_path):
    from scipy.io import savemat

    fea = np.arange(12, dtype=np.uint8).reshape(3, 4)
    savemat(tmp_path / "a.mat", {"fea": fea, "gnd": np.array([[1], [5], [2]])})
    X, y = datasets.load_mat(tmp_path / "a.mat")
    np.testing.assert_array_equal(X, fea.astype(np.float32))
    assert y.tolist() == [0, 2, 1]  # 0..K-1 in the order of the stored labels, gaps closed
    savemat(tmp_path / "b.mat", {"data": fea})
    with pytest.raises(ValueError, match="no variable 'fea'"):
        datasets.load_mat(tmp_path / "b.mat")


def test_load_mat_sparse_features_and_a_folder(tmp_path):
    from scipy import sparse
    from scipy.io import savemat

    fea = np.array([[0, 2, 0], [1, 0, 0]], dtype=np.float64)
    savemat(tmp_path / "s.mat", {"fea": sparse.csc_matrix(fea), "gnd": np.array([[3], [4]])})
    X, y = datasets.load_mat(tmp_path / "s.mat")
    np.testing.assert_array_equal(X, fea.astype(np.float32))
    with pytest.raises(ValueError, match="folder"):
        datasets.load_mat(tmp_path)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match="junk.mat"):
        datasets.load_mat(tmp_path / "junk.mat")


def test_load_mnist_from_idx(tmp_path):
    import gzip

    imgs = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 3, 0, 1, 3, 0], dtype=np.uint8)
    header = bytes([0, 0, 8, 3]) + b"".join(int(s).to_bytes(4, "big") for s in imgs.shape)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + imgs.tobytes())
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + (7).to_bytes(4, "big") + labels.tobytes())
    X, y = datasets.load_mnist(tmp_path)
    assert X.shape == (7, 784) and y.tolist() == labels.tolist()
    np.testing.assert_array_equal(X[2], imgs[2].ravel())
    X1, y1 = datasets.load_mnist(tmp_path, n_per_class=1)
    assert y1.tolist() == [3, 1, 0]  # first of each class, in file order
    np.testing.assert_array_equal(X1[2], imgs[3].ravel())
    with pytest.raises(ValueError, match=r"n_per_class=3 but some digits have fewer images \{0: 2, 1: 2\}"):
        datasets.load_mnist(tmp_path, n_per_class=3)


@needs_data
def test_real_files():
    X, y = datasets.load_mat(DATA / "ORL_32x32.mat")
    assert X.shape == (400, 1024) and np.bincount(y).tolist() == [10] * 40
    X, y = datasets.load_mat(DATA / "COIL20.mat")
    assert X.shape == (1440, 1024) and np.bincount(y).tolist() == [72] * 20
    X, y = datasets.load_mnist(DATA, n_per_class=100)
    assert X.shape == (1000, 784) and np.bincount(y).tolist() == [100] * 10 and X.max() == 255
