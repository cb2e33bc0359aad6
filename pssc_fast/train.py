"""Training: auto-encoder pre-training (paper Alg. 1, reconstruction only) and full-batch PSSC fine-tuning."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
import numpy as np
from tqdm.auto import tqdm

from . import losses as L
from . import memory, ops
from .ops import reference
from .models import ClassifierHead, SelfExpression
from .budget import MAX_PRETRAIN_EPOCHS, EarlyStop, stream_epochs
from .params import PSSC_DEFAULTS, InputValueError


#: float64 elements per row block of the ridge start's n x n product (2^24: blocks of at most 128 MiB)
RIDGE_BLOCK_ELEMENTS = 1 << 24


def resolve_device(device="auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU; otherwise ``torch.device(device)``, checked to exist."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputValueError(f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda'") from exc
    if dev.type not in ("cpu", "cuda"):
        raise InputValueError(f"device={device!r}: pssc_fast runs on 'cpu' or 'cuda' (or 'auto')")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputValueError(f"device={device!r} asked for CUDA but torch sees no GPU; use device='cpu' or 'auto'")
    return dev


def check_finite(step: int, stage: str, terms: dict, lr: float) -> None:
    """FloatingPointError naming the stage, step, loss term and learning rate when a loss term is not finite."""
    for name, value in terms.items():
        if not math.isfinite(float(value)):
            raise FloatingPointError(
                f"{stage}: the {name} loss became {float(value)} at step {step}; "
                f"try a smaller learning rate than {lr:g} or rescale the input")


def pretrain(model, X: torch.Tensor, *, epochs: int = 100, lr: float = 1e-3, batch_size: int = 256,
             generator: torch.Generator | None = None, verbose: bool = True, desc: str = "pre-train",
             early_stop: EarlyStop | bool = True) -> list:
    """Train ``model`` (an auto-encoder with encode/decode) on mean squared reconstruction error in
    shuffled mini-batches. Returns the mean loss of each epoch run.

    ``early_stop``: True stops before ``epochs`` by :class:`pssc_fast.budget.EarlyStop`'s label-free rule
    (loss floor or plateau, defaults in :mod:`pssc_fast.budget`), False runs every epoch; an
    :class:`~pssc_fast.budget.EarlyStop` instance is used as given and afterwards says why it stopped."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = X.shape[0]
    history = []
    stopper = _stopper(early_stop, X)
    if stopper is not None:
        stopper.steps_per_epoch = -(-n // batch_size)
    bar = tqdm(range(int(epochs)), desc=desc, disable=not verbose, leave=False)
    for epoch in bar:
        perm = torch.randperm(n, generator=generator).to(X.device)
        total = 0.0
        for start in range(0, n, batch_size):
            xb = X[perm[start:start + batch_size]]
            total += reconstruction_step(model, opt, xb) * xb.shape[0]
        history.append(total / n)
        check_finite(epoch, desc, {"reconstruction": history[-1]}, lr)
        bar.set_postfix(loss=f"{history[-1]:.4g}")
        if stopper is not None and stopper.update(history[-1]):
            break
    return history


def reconstruction_step(model, opt, target: torch.Tensor, inputs: torch.Tensor | None = None) -> float:
    """One Adam step of ``opt`` on the mean squared error of ``model``'s reconstruction of ``target`` from
    ``inputs`` (default: ``target`` itself; a masked copy for a denoising auto-encoder). Returns the loss.
    The step of both pre-trainings, :func:`pretrain` and :func:`pretrain_stream`."""
    loss = ((model.decode(model.encode(target if inputs is None else inputs)) - target) ** 2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def pretrain_stream(model, X, *, samples: int, lr: float = 1e-3, schedule: str = "cosine", batch_size: int = 256,
                    noise: float = 0.0, rng=None, rows=None, device="cpu", verbose: bool = False,
                    max_epochs: int = MAX_PRETRAIN_EPOCHS, early_stop: EarlyStop | bool = True,
                    stream=None) -> list:
    """Mini-batch Adam on mean squared reconstruction for a budget of ``samples`` samples seen, capped at
    ``max_epochs`` passes over the rows (:func:`pssc_fast.budget.stream_epochs`: on a few rows a budget in
    samples would be thousands of passes, hours spent memorising them).

    With ``noise`` > 0 the auto-encoder is a denoising one: each input value of a batch is set to 0 with
    probability ``noise`` and the clean batch is the target (masking noise, as the input dropout with which
    DEC pre-trains the d-500-500-2000-K auto-encoder that the paper's Algorithm 3 takes from it).

    X is read in batches (any array or ``np.memmap``): each pass over the rows follows a fresh random
    permutation (its last partial batch is dropped), and each batch's indices are sorted so a memmap is
    read in file order. ``rows(X, index)`` returns the batch as float32 (default: ``X[index]`` as is),
    which is where scaling goes. ``stream``: instead, an iterator of float32 batches of ``batch_size`` rows
    (:class:`pssc_fast.parallel.ChunkStream`, chunks of a dask array read in turn); X then only gives the
    number of rows, and so the length of a pass. With ``schedule="cosine"`` the learning rate decays from ``lr`` to 0 over
    the budget, so that the last steps settle instead of jittering at ``lr``.

    ``early_stop``: True ends the pre-training after a pass when :class:`pssc_fast.budget.EarlyStop`'s
    label-free rule says the reconstruction error has stopped improving (its loss floor needs the data's
    variance: pass an EarlyStop with ``variance`` set, as LargePSSC does), False runs the whole budget; an
    EarlyStop instance is used as given and afterwards says why it stopped. Returns the mean
    reconstruction error of every 100 steps.
    """
    rng = np.random.default_rng(rng)
    rows = rows or (lambda A, idx: np.ascontiguousarray(A[idx], dtype=np.float32))
    n = X.shape[0]
    bs = min(int(batch_size), n)
    steps, per_pass, _ = stream_epochs(samples, n, bs, max_epochs)
    stopper = EarlyStop() if early_stop is True else (early_stop or None)
    if stopper is not None:
        stopper.steps_per_epoch = per_pass
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history, running, pass_loss = [], 0.0, 0.0
    # with a stream no permutation is drawn: on 50 million rows it alone would be 400 MB
    perm, pos = (rng.permutation(n) if stream is None else None), 0
    masks = torch.Generator(device=device).manual_seed(int(rng.integers(2**31))) if noise > 0 else None
    bar = tqdm(range(steps), desc="pre-train", disable=not verbose, leave=False)
    model.train()
    for step in bar:
        if stream is not None:
            xb = torch.from_numpy(next(stream)).to(device)
        else:
            if pos + bs > n:
                perm, pos = rng.permutation(n), 0
            xb = torch.from_numpy(rows(X, np.sort(perm[pos:pos + bs]))).to(device)
            pos += bs
        if schedule == "cosine":
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / steps))
        x_in = None if masks is None else xb * (torch.rand(xb.shape, generator=masks, device=xb.device) >= noise)
        value = reconstruction_step(model, opt, xb, x_in)
        running += value
        pass_loss += value
        if (step + 1) % 100 == 0 or step == steps - 1:
            history.append(running / ((step % 100) + 1))
            running = 0.0
            check_finite(step, "pre-train", {"reconstruction": history[-1]}, lr)
            bar.set_postfix(loss=f"{history[-1]:.4g}")
        if (step + 1) % per_pass == 0:  # a pass over the rows ends here
            if stopper is not None and stopper.update(pass_loss / per_pass):
                if running:  # the steps since the last entry of the history
                    history.append(running / ((step % 100) + 1))
                break
            pass_loss = 0.0
    return history


def _stopper(early_stop, X) -> EarlyStop | None:
    """The EarlyStop a pre-training uses (None: off), its loss floor set from X's variance around the mean
    row when the caller did not give one."""
    if early_stop is False or early_stop is None:
        return None
    stopper = EarlyStop() if early_stop is True else early_stop
    if stopper.variance is None:
        with torch.no_grad():
            stopper.variance = float(((X - X.mean(dim=0)) ** 2).mean())
    return stopper


@dataclass
class FinetuneResult:
    """What fine-tuning leaves: C0 (detached, zero diagonal), the head and per-step loss terms."""

    coef: torch.Tensor
    head: ClassifierHead | None
    history: list = field(default_factory=list)
    coef_l2: float = 0.0  #: the ||C0||^2 weight used ("auto" resolved)
    coef_lr: float = 0.0  #: Adam's learning rate on C ("auto" resolved)
    backend: str = ""  #: the n x n backend the steps ran on ("auto" resolved)
    precision: str = ""  #: their float32 products ("auto" resolved): "ieee", "tf32" or "bf16"
    backend_reason: str = ""  #: why that backend (``ops.backend_choice``)


#: ``coef_lr="auto"``: Adam's step on C as a share of its typical largest coefficient. Adam's early steps
#: are nearly sign-like, of size lr whatever the gradient's scale, while C's entries scale like one over a
#: cluster's size (~0.04 for 60 points in 3 blobs, ~0.005 for 2000 anchors): a fixed lr of 1e-3 moved
#: every entry of a 60-point C by up to twice its largest value in 100 steps and turned a perfect ridge
#: start (ACC 1.0) into 0.68-0.83. Label-free: the rule only makes the step scale-free.
COEF_LR_SHARE = 1e-3


def auto_coef_l2(Z: torch.Tensor, n_clusters: int, gamma1: float) -> float:
    """``coef_l2="auto"``: lambda = gamma1 * (K-th largest eigenvalue of Z Z^T).

    The ridge solution C = G (G + (lambda/gamma1) I)^-1 keeps each eigen-direction of G = Z Z^T with weight
    g / (g + lambda/gamma1): at this lambda the K leading directions (one per cluster, at least) keep half or
    more and the weaker ones shrink. The rule follows the codes' scale, so raw, [0, 1] or unit-norm inputs
    give the same C; a fixed lambda (the former default 100) was a heavy ridge on codes of norm ~25 and
    almost none on codes of norm ~1000."""
    Z = Z.detach().double()
    G = Z.T @ Z if Z.shape[1] < Z.shape[0] else Z @ Z.T  # same non-zero eigenvalues, the smaller matrix
    eig = torch.linalg.eigvalsh(G).flip(0)
    k = min(int(n_clusters), eig.numel()) - 1
    return float(gamma1) * max(float(eig[k]), 1e-12 * float(eig[0]), 1e-30)


def finetune(model, X: torch.Tensor, n_clusters: int, *, weights: L.LossWeights | None = None,
             epochs: int = PSSC_DEFAULTS["epochs"], lr: float = PSSC_DEFAULTS["lr"],
             c_init: float | str = PSSC_DEFAULTS["c_init"], backend: str = PSSC_DEFAULTS["backend"],
             precision: str = PSSC_DEFAULTS["precision"], tau: float = PSSC_DEFAULTS["tau"], margin: float = 1.0, max_pair_rows: int = 512,
             head_lr: float | None = PSSC_DEFAULTS["head_lr"], coef_lr: float | str | None = None,
             generator: torch.Generator | None = None,
             verbose: bool = True) -> FinetuneResult:
    """Full-batch fine-tuning of encoder, self-expression layer, decoder (and head) on the PSSC objective.

    The defaults (and :class:`pssc_fast.losses.LossWeights`') are :class:`pssc_fast.PSSC`'s (from
    :mod:`pssc_fast.params`) but ``coef_lr``, whose None keeps C at ``lr`` for callers that train C as
    DSC-Net does; ``head_lr=None`` trains the head at ``lr``; ``c_init`` is "ridge" (:func:`ridge_coefficients`) or a constant.

    ``weights.coef_l2 = "auto"`` sets lambda from the starting codes (:func:`auto_coef_l2`). ``coef_lr`` is
    Adam's learning rate on C: None trains C at ``lr``; "auto" (whatever ``lr``) at :data:`COEF_LR_SHARE`
    times the ridge start's typical largest entry (the mean over columns of max |C_ij|), so that steps are
    relative to C's own scale, and at ``lr`` when C starts from a constant (which has no scale to follow).

    ``max_pair_rows`` bounds the pseudo-graph loss: above that many samples, each step uses a random
    subset of rows against all columns instead of all n^2 pairs.
    """
    weights = weights or L.LossWeights()
    n = X.shape[0]
    with torch.no_grad():  # the starting codes, when a rule below needs them
        Z0 = model.encode(X) if weights.coef_l2 == "auto" or c_init == "ridge" else None
    if weights.coef_l2 == "auto":
        weights = replace(weights, coef_l2=auto_coef_l2(Z0, n_clusters, weights.self_expression))
    memory.map_large_blocks(X.device)  # freed n x n and activation temporaries go back to the system
    # "auto" is resolved once, before C exists, so that every step runs on one backend; the reserve is what a
    # step holds besides the backend's own workspace: C, dC and Adam's two moments.
    chosen = ops.backend_choice(backend, X.device, n=n, precision=precision, reserve_bytes=4 * n * n * 4)
    backend = chosen.name
    precision = ops.resolve_precision(precision)
    if verbose:
        tqdm.write(f"n x n backend: {backend} ({precision}) - {chosen.reason}")
    # c_init: "ridge", or a number every entry of C starts at (an int included)
    layer = SelfExpression(n, init=0.0 if c_init == "ridge" else float(c_init), backend=backend,
                           precision=precision).to(X.device)
    if c_init == "ridge":
        with torch.no_grad():
            layer.C.copy_(ridge_coefficients(Z0, weights.self_expression, weights.coef_l2))
    del Z0
    if coef_lr == "auto" and c_init == "ridge":
        coef_lr = COEF_LR_SHARE * float(layer.C.detach().abs().amax(dim=0).mean().clamp_min(1e-12))
    elif coef_lr == "auto":  # a constant start has no scale of its own: train C at lr, as DSC-Net does
        coef_lr = None
    coef_lr = lr if coef_lr is None else float(coef_lr)
    head = ClassifierHead(model.latent_dim, n_clusters).to(X.device) if weights.pseudo_supervised else None
    # ||C0||^2 is a loss term rather than Adam weight decay: on the fused backends it is folded into the
    # step's single dC write, where weight decay would add a new n x n tensor to the gradient every step.
    groups = [{"params": list(model.parameters())}, {"params": [layer.C], "lr": coef_lr}]
    if head is not None:
        groups.append({"params": list(head.parameters()), "lr": lr if head_lr is None else head_lr})
    opt = torch.optim.Adam(groups, lr=lr)
    history = []
    # The fused backends take both n x n operators of a step through one GraphStep, which shares the
    # degree pass and writes dC once; the reference backend has no fused form.
    fused = backend != "reference"
    bar = tqdm(range(int(epochs)), desc="fine-tune", disable=not verbose, leave=False)
    for step in bar:
        Z = model.encode(X)
        if fused:
            graph = ops.graph_step(layer.C, backend=backend, precision=precision)
            Z_c = graph.self_expression(Z)
            trace = graph.laplacian_trace
        else:
            Z_c = layer(Z)
            trace = lambda X_, X_hat_: ops.laplacian_trace(layer.C, X_, X_hat_, backend=backend,  # noqa: E731
                                                           precision=precision)
        X_hat = model.decode(Z_c)
        terms = {"reconstruction": weights.reconstruction * L.reconstruction_loss(X, X_hat)}
        if weights.trace:
            terms["trace"] = 2.0 * weights.trace * trace(X, X_hat)
        if weights.self_expression:
            terms["self_expression"] = weights.self_expression * L.self_expression_loss(Z, Z_c)
        if weights.coef_l2:
            sq_norm = graph.c0_sq_norm if fused else (reference.zero_diagonal(layer.C) ** 2).sum()
            terms["coef_l2"] = weights.coef_l2 * sq_norm
        if head is not None:
            logits = head(Z)
            probs = logits.softmax(dim=1)
            if weights.graph:
                rows = None if n <= max_pair_rows else torch.randperm(n, generator=generator)[:max_pair_rows].to(X.device)
                W = _pair_weight_rows(layer.C, rows)
                terms["graph"] = weights.graph * L.graph_loss(probs, W, margin=margin, rows=rows) * (
                    1.0 if rows is None else n / rows.numel())
            if weights.label:
                terms["label"] = weights.label * L.label_loss(logits, tau=tau)
            if weights.balance:
                terms["balance"] = weights.balance * L.balance_loss(probs)
        loss = sum(terms.values())
        values = {k: v.item() for k, v in terms.items()}
        check_finite(step, "fine-tune", values, lr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(values)
        if step % 10 == 0 or step == epochs - 1:
            bar.set_postfix(loss=f"{sum(values.values()):.4g}")
    return FinetuneResult(coef=layer.coefficients(), head=head, history=history, coef_l2=float(weights.coef_l2),
                          coef_lr=coef_lr, backend=backend, precision=precision, backend_reason=chosen.reason)


@torch.no_grad()
def ridge_coefficients(Z: torch.Tensor, gamma1: float, lam: float) -> torch.Tensor:
    """argmin_C gamma1 ||Z - C Z||^2 + lam ||C||^2 = G (G + r I)^-1 with G = Z Z^T and r = lam / gamma1,
    diagonal zeroed; float32.

    A warm start for C: with a constant start, Adam's early, nearly sign-like steps grow every C_ij with
    z_i . z_j > 0, which for non-centred codes is every pair, and fine-tuning must first undo that.

    For codes narrower than the number of samples (m < n) the same matrix is Z (Z^T Z + r I)^-1 Z^T (the
    push-through identity): an m x m solve, and the n x n result is formed in row blocks in float64 and
    stored in float32, so the only n x n buffer is the output (the n x n solve needed about 9 float32 n x n
    buffers at its peak, and seconds where this takes a fraction of one).
    """
    Z = Z.double()
    n, m = Z.shape
    ridge = max(lam / max(gamma1, 1e-12), 1e-6 * float((Z * Z).sum(dim=1).mean()))
    if m < n:
        K = Z.T @ Z
        K.diagonal().add_(ridge)
        B = torch.linalg.solve(K, Z.T)  # (Z^T Z + rI)^-1 Z^T, m x n
        C = torch.empty(n, n, dtype=torch.float32, device=Z.device)
        rows = max(1, RIDGE_BLOCK_ELEMENTS // max(n, 1))
        for start in range(0, n, rows):
            C[start:start + rows] = Z[start:start + rows] @ B
    else:
        G = Z @ Z.T
        A = G.clone()
        A.diagonal().add_(ridge)
        C = torch.linalg.solve(A, G).T.float()  # G (G + rI)^-1, both symmetric
    C.fill_diagonal_(0)
    return C


@torch.no_grad()
def shallow_coefficients(X: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """Ridge self-expression of the input itself (LSR, no network): the unit-norm rows U of X, the
    ridge at :func:`auto_coef_l2`'s lambda, C = U U^T (U U^T + lambda I)^-1 with zero diagonal; float32.

    Unit rows make each sample count alike whatever its norm (a bright face or a faint one)."""
    U = X.detach().flatten(1).double()
    U = U / U.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return ridge_coefficients(U, 1.0, auto_coef_l2(U, n_clusters, 1.0))


@torch.no_grad()  # the pseudo-graph is a target: no gradient flows into C through it
def _pair_weight_rows(C: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """Rows of the pseudo-graph targets (see losses.pair_weights) without building more than r x n."""
    if rows is None:
        C0 = C.detach().clone()
        C0.fill_diagonal_(0)
        return L.pair_weights(C0)
    S = 0.5 * (C[rows].abs() + C[:, rows].abs().T)
    S[torch.arange(rows.numel(), device=C.device), rows] = 0
    return S / S.amax(dim=1, keepdim=True).clamp_min(torch.finfo(S.dtype).tiny)
