"""Clustering scores: accuracy under the best label matching, NMI and purity."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def _labels(name, y):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # a column vector, as scikit-learn accepts
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {y.shape}")
    return y


def _pair(y_true, y_pred):
    y_true = _labels("y_true", y_true)
    y_pred = _labels("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.shape[0]} vs {y_pred.shape[0]}")
    if y_true.size == 0:
        raise ValueError("y_true and y_pred are empty")
    return y_true, y_pred


def acc(y_true, y_pred) -> float:
    """Clustering accuracy: fraction correct after the best one-to-one cluster-to-class matching (Hungarian)."""
    y_true, y_pred = _pair(y_true, y_pred)
    M = contingency_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(-M)
    return float(M[rows, cols].sum() / y_true.size)


def nmi(y_true, y_pred) -> float:
    """Normalized mutual information (arithmetic normalisation, as scikit-learn's default)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(normalized_mutual_info_score(y_true, y_pred))


def purity(y_true, y_pred) -> float:
    """Fraction of points whose cluster's majority class is their own class."""
    y_true, y_pred = _pair(y_true, y_pred)
    M = contingency_matrix(y_true, y_pred)
    return float(M.max(axis=0).sum() / y_true.size)


def scores(y_true, y_pred) -> dict:
    """ACC, NMI and purity in one dict."""
    return {"acc": acc(y_true, y_pred), "nmi": nmi(y_true, y_pred), "purity": purity(y_true, y_pred)}
