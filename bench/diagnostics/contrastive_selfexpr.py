"""Diagnostic: the contrastive encoder trained jointly with self-expression.

The candidate clusters the ridge self-expression of the features, but the encoder never sees that objective: NT-Xent
only asks two views of an image to match and different images to differ. Here the plain steps' loss adds ``--weight``
times the batch's zero-diagonal ridge self-expression residual (Lu et al., ECCV 2012: C = I - Q diag(Q)^-1 with
Q = (G + lambda I)^-1, G the Gram matrix of the first views' unit features, lambda its K-th eigenvalue as the
library's ridge sets it, held constant in each step): the mean squared residual of each unit feature expressed by the
batch's other images. With ``--stages both`` the pseudo-supervised steps add it too. One default PSSC fit otherwise
(CPU budget, pseudo-supervision, consensus); its final features are saved:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/contrastive_selfexpr.py orl 0 \
        --features /tmp/F.npy --out bench/results/diagnostics/contrastive_selfexpr.jsonl

Labels only score; compare with ``ro_consensus.py fit`` of the same set and seed (the default's figure).
"""
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402


def self_expression_residual(h: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """Mean over the rows of h (b, d) of the squared residual of each unit row under the zero-diagonal ridge
    self-expression by the other rows, lambda the Gram matrix's ``n_clusters``-th largest eigenvalue."""
    u = F.normalize(h.double(), dim=1)
    G = u @ u.T
    lam = torch.linalg.eigvalsh(G.detach())[-min(n_clusters, len(G))].clamp(min=1e-6)
    Q = torch.linalg.inv(G + lam * torch.eye(len(G), dtype=G.dtype, device=G.device))
    residual = (Q @ u) / Q.diagonal()[:, None]
    return residual.pow(2).sum(1).mean().float()


def main() -> None:
    import pssc_fast.contrastive as contrastive

    def add_arguments(parser):
        parser.add_argument("--weight", type=float, default=1.0)
        parser.add_argument("--stages", choices=["plain", "both"], default="plain")

    args, X, y, K = _rows.fit_diagnostic(__doc__.splitlines()[0], add_arguments)
    seen = {}
    plain_forward = contrastive.ContrastiveEncoder.forward

    def forward(self, x):  # keep the features the head sees, for the loss
        out = plain_forward(self, x)
        seen["h"] = out
        return out

    def joint(loss):
        def wrapped(z, *a, **k):
            h = seen["h"]
            return loss(z, *a, **k) + args.weight * self_expression_residual(h[:len(h) // 2], K)
        return wrapped

    contrastive.ContrastiveEncoder.forward = forward
    contrastive.nt_xent = joint(contrastive.nt_xent)
    if args.stages == "both":
        contrastive.supcon = joint(contrastive.supcon)
    est, seconds = _rows.saved_fit(X, K, args.seed, args.features)
    _rows.write_record(args.out, {"dataset": args.name, "seed": args.seed, "weight": args.weight,
                                  "stages": args.stages, **_rows.fit_record(est, y, seconds, args.features)})


if __name__ == "__main__":
    main()
