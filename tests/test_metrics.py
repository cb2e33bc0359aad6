import numpy as np
import pytest

from pssc_fast.metrics import acc, nmi, purity, scores


def test_perfect_clustering_under_relabelling():
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([2, 2, 0, 0, 1, 1])
    assert acc(y, pred) == 1.0 and purity(y, pred) == 1.0
    assert nmi(y, pred) == pytest.approx(1.0)


def test_hand_made_case():
    y = np.array([0, 0, 0, 1, 1, 1])
    pred = np.array([0, 0, 1, 1, 1, 1])
    assert acc(y, pred) == pytest.approx(5 / 6)
    assert purity(y, pred) == pytest.approx(5 / 6)  # cluster 0: 2/2 correct, cluster 1: 3 of 4
    s = scores(y, pred)
    assert 0 < s["nmi"] < 1


def test_acc_is_one_to_one_but_purity_is_not():
    y = np.array([0, 1, 2, 3])
    pred = np.zeros(4, dtype=int)
    assert acc(y, pred) == pytest.approx(0.25)
    y2 = np.array([0, 0, 1, 1])
    pred2 = np.array([0, 1, 2, 3])  # every point its own cluster
    assert purity(y2, pred2) == 1.0 and acc(y2, pred2) == 0.5


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="differ in length"):
        acc([0, 1], [0])


def test_labels_must_be_one_dimensional():
    with pytest.raises(ValueError, match="1-D"):
        acc([0, 0, 1, 1, 2, 2], np.array([[0, 0, 1], [1, 2, 2]]))
    assert acc(np.array([[0], [1], [1]]), [1, 0, 0]) == 1.0  # a column vector is read as labels
