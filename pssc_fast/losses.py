"""The terms of the PSSC objective (paper eq. 11, docs/DESIGN.md section 2).

Every term is a *sum over samples* (not a mean), so that the weights below compare like with like:
reconstruction, Laplacian trace and self-expression are sums of squared errors over samples, and the
pseudo-supervision terms are summed per sample too.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import ops
from .params import PSSC_DEFAULTS


@dataclass
class LossWeights:
    """Weights of the objective. A weight of 0 switches its term off (and skips its computation).

    reconstruction : ||X - X_hat||^2.
    trace : weight of 2 Tr(X^T L_n X_hat) (eq. 5's locality-preserving part); 0 gives DSC's plain
        reconstruction.
    self_expression : gamma1, on ||Z - C0 Z||^2.
    coef_l2 : lambda, on ||C0||^2_F, or "auto" (set from the codes by :func:`pssc_fast.train.auto_coef_l2`; a loss term; the fused backends fold its gradient into the step's one
        dC write).
    graph : gamma2, the contrastive pseudo-graph loss.
    label : gamma3, the thresholded pseudo-label cross-entropy.
    balance : weight of the cluster-balance term n*(log K - H(mean p)), which keeps the head from
        collapsing into one cluster. Only active when graph or label is on.
    """

    reconstruction: float = 1.0
    trace: float = PSSC_DEFAULTS["trace_weight"]
    self_expression: float = PSSC_DEFAULTS["gamma1"]
    coef_l2: float | str = PSSC_DEFAULTS["coef_l2"]
    graph: float = PSSC_DEFAULTS["gamma2"]
    label: float = PSSC_DEFAULTS["gamma3"]
    balance: float = PSSC_DEFAULTS["balance_weight"]

    @classmethod
    def from_params(cls, params) -> "LossWeights":
        """The weights an estimator's parameters name (a mapping such as ``PSSC(...).get_params()``):
        trace_weight, gamma1, coef_l2, gamma2, gamma3, balance_weight; absent ones take their defaults."""
        params = {**PSSC_DEFAULTS, **params}
        coef_l2 = params["coef_l2"]
        return cls(trace=float(params["trace_weight"]), self_expression=float(params["gamma1"]),
                   coef_l2=coef_l2 if coef_l2 == "auto" else float(coef_l2), graph=float(params["gamma2"]),
                   label=float(params["gamma3"]), balance=float(params["balance_weight"]))

    @property
    def pseudo_supervised(self) -> bool:
        """True when a pseudo-supervision term (graph or label) is on, i.e. the classifier head is trained."""
        return self.graph > 0 or self.label > 0


def reconstruction_loss(X: torch.Tensor, X_hat: torch.Tensor) -> torch.Tensor:
    """||X - X_hat||_F^2."""
    return ((X - X_hat) ** 2).sum()


def locality_reconstruction_loss(C, X, X_hat, *, backend: str = "auto", trace_weight: float = 1.0):
    """Paper eq. 5 with D_n = I: ||X - X_hat||^2 + 2 * trace_weight * Tr(X^T L_n X_hat)."""
    loss = reconstruction_loss(X, X_hat)
    if trace_weight:
        loss = loss + 2.0 * trace_weight * ops.laplacian_trace(C, X, X_hat, backend=backend)
    return loss


def self_expression_loss(Z: torch.Tensor, Z_c: torch.Tensor) -> torch.Tensor:
    """||Z - C0 Z||_F^2, given Z_c = C0 Z."""
    return ((Z - Z_c) ** 2).sum()


def label_loss(logits: torch.Tensor, tau: float = 0.8) -> torch.Tensor:
    """Cross-entropy of the head against its own confident predictions (max p >= tau), summed over
    the kept samples; the pseudo-labels are detached targets. Zero when no sample is confident."""
    with torch.no_grad():
        conf, target = logits.softmax(dim=1).max(dim=1)
        keep = conf >= tau
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[keep], target[keep], reduction="sum")


def pair_weights(C0: torch.Tensor) -> torch.Tensor:
    """Pseudo-graph targets in [0, 1] from the learned coefficients (detached):
    S = (|C0| + |C0|^T)/2 divided by each row's largest off-diagonal entry."""
    with torch.no_grad():
        A = C0.abs()
        S = 0.5 * (A + A.T)
        S.fill_diagonal_(0)
        return S / S.amax(dim=1, keepdim=True).clamp_min(torch.finfo(S.dtype).tiny)


def graph_loss(probs: torch.Tensor, weights: torch.Tensor, margin: float = 1.0,
               rows: torch.Tensor | None = None) -> torch.Tensor:
    """Contrastive Siamese loss on the head's probabilities (paper eq. 7's experimental form):
    pairs are pulled together in proportion to w_ij and pushed apart up to ``margin`` by 1 - w_ij.

    ``weights`` is (r, n) for the rows ``rows`` (all rows when None); summed over rows, averaged over
    partners, so the term scales like a per-sample sum.
    """
    P_rows = probs if rows is None else probs[rows]
    dist2 = torch.cdist(P_rows, probs).pow(2)
    dist = (dist2 + 1e-12).sqrt()
    per_pair = weights * dist2 + (1.0 - weights) * F.relu(margin - dist) ** 2
    return per_pair.mean(dim=1).sum()


def balance_loss(probs: torch.Tensor) -> torch.Tensor:
    """n * (log K - H(mean p)) >= 0: zero when the clusters are used equally on average."""
    mean_p = probs.mean(dim=0)
    K = probs.shape[1]
    entropy = -(mean_p * mean_p.clamp_min(1e-12).log()).sum()
    return probs.shape[0] * (torch.log(torch.tensor(float(K), dtype=probs.dtype)) - entropy)
