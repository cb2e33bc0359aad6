"""What several diagnostics read: a board dataset's rows (bench/quality.py's loader, data from ../shared/data) or,
with ``codes``, the rows' codes under DSC-Net's released auto-encoder for that set (ORL, COIL20)."""
import os
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("PSSC_DATA_DIR", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def rows(name: str, codes: bool = False):
    """(X as float64 rows, labels, number of clusters)."""
    from quality import load

    from pssc_fast.models import load_dscnet_autoencoder

    X, y, _ = load(name, DATA)
    if codes:
        net = load_dscnet_autoencoder(DATA / "dscnet_pretrained" / f"{name}.npz")
        with torch.no_grad():
            X = net.encode(torch.from_numpy(X.reshape(-1, 1, 32, 32))).numpy()
    return X.reshape(len(X), -1).astype(np.float64), y, len(np.unique(y))


def image_set(name: str):
    """(a board set's images, scikit-learn's 8x8 digits or MNIST-10k (the test file) as a float32 (n, 1, side, side)
    tensor scaled globally to [0, 1], labels, number of clusters): what the contrastive diagnostics train and encode."""
    if name == "mnist10k":
        from pssc_fast.datasets import load_mnist

        X, y = load_mnist(DATA)  # float32, scaled in float32 as fit_large scales it
        X = (X - X.min()) / (X.max() - X.min())
        return torch.from_numpy(np.asarray(X).reshape(-1, 1, 28, 28)).float(), y, 10
    if name == "digits":
        from sklearn.datasets import load_digits

        b = load_digits()
        X, y, K = b.images.reshape(len(b.images), -1).astype(np.float64), b.target, 10
    else:
        X, y, K = rows(name)
    side = int(round(np.sqrt(X.shape[1])))
    X = (X - X.min()) / (X.max() - X.min())
    return torch.from_numpy(X).float().reshape(-1, 1, side, side), y, K


def cached_contrastive_features():
    """(dataset, tag, a function returning the features) for every contrastive feature set cached in /tmp/cf
    (contrastive_variants.py) and every encoder cached in /tmp/cf/enc (contrastive_readout.py), MNIST-10k's left
    out."""
    import glob
    import os

    from pssc_fast.contrastive import ContrastiveEncoder, encode

    cases = []
    for f in sorted(glob.glob("/tmp/cf/*_base.npy") + glob.glob("/tmp/cf/*_strong.npy")):
        tag = os.path.basename(f)[:-4]
        if not tag.startswith("mnist10k"):
            cases.append((tag.split("_")[0], tag, lambda f=f: np.load(f)))
    for f in sorted(glob.glob("/tmp/cf/enc/*.pt")):
        tag = os.path.basename(f)[:-3]
        name = tag.split("_")[0]
        if name == "mnist10k":
            continue

        def features(f=f, name=name):
            model = ContrastiveEncoder(1)
            model.load_state_dict(torch.load(f))
            return encode(model.eval(), image_set(name)[0]).double().numpy()

        cases.append((name, "enc:" + tag, features))
    return cases


def image_diagnostic(description: str, add_arguments=None):
    """(args, images, labels, number of clusters) for a contrastive diagnostic on one set (:func:`image_set`): the
    command line such scripts share (dataset, --seed, --threads, --out; ``add_arguments(parser)`` adds a script's own),
    torch's threads set, data read from $PSSC_DATA_DIR when set (:data:`DATA`)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("dataset", help="orl, coil20, mnist1k, digits or mnist10k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="a JSON-lines file the run's record is appended to")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return (args, *image_set(args.dataset))


def fit_diagnostic(description: str, add_arguments=None):
    """(args, images, labels, number of clusters) for a diagnostic that runs one full PSSC fit of a board set
    (:func:`saved_fit`): the command line such scripts share (name, seed, --features, --out; ``add_arguments(parser)``
    adds a script's own), one torch thread, the set's :func:`square_images`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("name", help="digits, orl, coil20, mnist1k or mnist-draw-N (N = 1-4: _rows.mnist_draw)")
    parser.add_argument("seed", type=int)
    parser.add_argument("--features", type=Path, required=True, help="where the fit's final contrastive features go")
    parser.add_argument("--out", default=None, help="a JSON-lines file the run's record is appended to")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    return (args, *square_images(args.name))


def default_fit_diagnostic(description: str, add_arguments=None):
    """(args, images, labels, number of clusters) for a diagnostic that runs one PSSC fit with the defaults (or with
    the library patched) and records it by :func:`record_default_fit`: the command line such scripts share (name,
    seed, --out, --candidates; ``add_arguments(parser)`` adds a script's own), one torch thread, the set's
    :func:`square_images`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("name", help="digits, orl, coil20, mnist1k, mnist-draw-N or uneven-S-D-NAME")
    parser.add_argument("seed", type=int)
    if add_arguments is not None:
        add_arguments(parser)
    parser.add_argument("--out", default=None, help="a JSON-lines file the record is appended to")
    parser.add_argument("--candidates", type=Path, default=None,
                        help="an .npz file that gets every candidate's C (by name), the labels and the true labels, "
                             "for diagnostics that label one fit's candidates other ways (join_tolerance.py)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    return (args, *square_images(args.name))


def parameter(text: str) -> tuple:
    """("name", value) of a command line's ``NAME=VALUE``: VALUE read as JSON (numbers, null, true), else a string."""
    import json

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--param wants NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def record_default_fit(args, X, y, n_clusters: int, params=None, **extra) -> None:
    """Fit ``PSSC(n_clusters, random_state=args.seed, **params)`` on X, save its candidates when ``args.candidates``
    names a file (:func:`save_candidates`) and write its :func:`default_record`, after ``extra``, to ``args.out``."""
    import time

    from pssc_fast import PSSC

    kept = keep_candidates() if args.candidates else {}
    t0 = time.perf_counter()
    est = PSSC(n_clusters, random_state=args.seed, **(params or {})).fit(X)
    if args.candidates:
        save_candidates(args.candidates, est, kept, y)
    write_record(args.out, {"dataset": args.name, "seed": args.seed, **extra,
                            **default_record(est, y, time.perf_counter() - t0)})


def mnist_draw(draw: int):
    """(1000 MNIST test images as a float32 (1000, 28, 28) array, their labels): 100 of each digit drawn, seeded by
    ``draw``, from the test images outside MNIST-1k (each digit's first 100): data the defaults were not set on."""
    from pssc_fast.datasets import load_mnist

    X, y = load_mnist(DATA)
    rng = np.random.default_rng([draw, 2026])
    picked = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c)[100:], 100, replace=False) for c in range(10)]))
    return np.asarray(X[picked]).reshape(-1, 28, 28), np.asarray(y)[picked]


def uneven_subset(y, spread: float, draw: int) -> np.ndarray:
    """Sorted row indices of a subset whose class sizes fall geometrically from the whole class to 1/``spread`` of it,
    classes in an order seeded by ``draw``: data whose classes are not of one size, to refit from scratch."""
    classes = np.unique(y)
    rng = np.random.default_rng([draw, 2027])
    share = np.geomspace(1.0, 1.0 / spread, len(classes))[rng.permutation(len(classes))]
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), max(2, int(round(s * np.sum(y == c)))),
                                              replace=False) for c, s in zip(classes, share)]))


def square_images(name: str):
    """(a board set's rows as (n, 1, side, side) float64 images, labels, number of clusters): what the full-fit
    diagnostics give PSSC, as bench/contrastive_check.py does (PSSC scales them); ``mnist-draw-N``: :func:`mnist_draw`'s
    images as bench/diagnostics/mnist_other_subsets.py gives them; ``uneven-S-D-NAME``: set NAME's
    :func:`uneven_subset` of spread S, draw D."""
    if name.startswith("uneven-"):
        _, spread, draw, base = name.split("-", 3)
        X, y, K = square_images(base)
        keep = uneven_subset(y, float(spread), int(draw))
        return X[keep], y[keep], K
    if name.startswith("mnist-draw-"):
        X, y = mnist_draw(int(name.rsplit("-", 1)[1]))
        return X, y, 10
    X, y, K = rows(name)
    return X.reshape(len(X), 1, *(2 * [int(round(np.sqrt(X.shape[1])))])), y, K


def saved_fit(X, n_clusters: int, seed: int, features: Path, **params):
    """(estimator, seconds) of ``PSSC(n_clusters, random_state=seed, **params).fit(X)`` that also saves its final
    contrastive features (what it clusters) to ``features``. Scripts that change the encoder, its views or its loss
    patch ``pssc_fast.contrastive`` before calling this."""
    import time

    import pssc_fast.contrastive as contrastive
    from pssc_fast import PSSC

    unwrapped = contrastive.contrastive_features

    def saving(*a, **k):  # the estimator imports it at call time
        F = unwrapped(*a, **k)
        np.save(features, F)
        return F

    contrastive.contrastive_features = saving
    try:
        t0 = time.perf_counter()
        est = PSSC(n_clusters, random_state=seed, **params).fit(X)
        return est, time.perf_counter() - t0
    finally:
        contrastive.contrastive_features = unwrapped


def keep_candidates() -> dict:
    """A dict that collects every candidate's C the next fits compare: ``pssc_fast.affinity.cluster_best_of`` (which the
    estimators call through the module) is wrapped to copy its candidates in first."""
    from pssc_fast import affinity

    kept = {}
    plain = affinity.cluster_best_of

    def keeping(candidates, *a, **k):
        kept.update(candidates)
        return plain(candidates, *a, **k)

    affinity.cluster_best_of = keeping
    return kept


def fit_record(est, y, seconds: float, features: Path) -> dict:
    """What the full-fit diagnostics record of a fit: ACC of its labels (the consensus), the chosen candidate, its
    labels' ACC at ro, every candidate's, the seconds and where its features went (labels only score)."""
    from pssc_fast.metrics import acc

    return {"acc": round(acc(y, est.labels_), 4), "chosen": est.chosen_,
            "at_ro": round(acc(y, est.candidate_labels_[est.chosen_]), 4),
            "candidates": {c: round(acc(y, lab), 4) for c, lab in est.candidate_labels_.items()},
            "seconds": round(seconds, 1), "features": str(features)}


def default_record(est, y, seconds: float) -> dict:
    """What default_fit.py records of a fit (labels only score): ACC of its labels, the chosen candidate, the candidates
    its labels are the consensus of, the chosen one's ACC at ro, every candidate's ACC and normalized cut, the seconds."""
    from pssc_fast.metrics import acc

    return {"acc": round(acc(y, est.labels_), 4), "chosen": est.chosen_, "consensus_of": est.consensus_of_,
            "at_ro": round(acc(y, est.candidate_labels_[est.chosen_]), 4),
            "candidates": {c: round(acc(y, lab), 4) for c, lab in est.candidate_labels_.items()},
            "cuts": {c: round(float(v), 5) for c, v in est.normalized_cuts_.items()},
            "rebalanced": bool(getattr(est, "rebalanced_", False)), "seconds": round(seconds, 1)}


def save_candidates(path, est, kept: dict, y) -> None:
    """Save what join_tolerance.py relabels a fit from to ``path`` (.npz): every candidate's C that ``kept``
    (:func:`keep_candidates`) collected, each candidate's labels at ro, the fit's labels and the true ones."""
    np.savez(path, labels=est.labels_, y=y, chosen=est.chosen_, **{f"C_{name}": C for name, C in kept.items()},
             **{f"at_ro_{name}": lab for name, lab in est.candidate_labels_.items()})


def cluster_features(H, n_clusters: int, seed: int, k: int | None = None):
    """(labels, normalized cut) of feature rows H as the estimators cluster a candidate: ridge self-expression of the
    unit rows (ridge set for ``n_clusters``), the default post-processing into ``k`` (default ``n_clusters``) clusters."""
    from pssc_fast.train import shallow_coefficients

    C = shallow_coefficients(torch.as_tensor(np.asarray(H)), n_clusters).numpy()
    return cluster_coefficients_cut(C, k or n_clusters, seed)


def default_candidate(images, n_clusters: int, seed: int):
    """(labels, normalized cut, pseudo-supervised steps, features) of the contrastive candidate trained the library's way on
    ``images`` for ``seed``: ``contrastive_features`` with the CPU budget and the default pseudo-supervised steps on its
    own partition (:func:`cluster_features`), then clustered by :func:`cluster_features`. Scripts that change the
    encoder, its views or its training patch ``pssc_fast.contrastive`` before calling this."""
    from pssc_fast import contrastive
    from pssc_fast.params import PSSC_DEFAULTS

    steps, max_epochs = contrastive.default_budget("cpu")
    pseudo = round(PSSC_DEFAULTS["contrastive_pseudo"] * contrastive.planned_steps(len(images), steps, max_epochs))
    H = contrastive.contrastive_features(images, steps=steps, seed=seed, max_epochs=max_epochs, pseudo_steps=pseudo,
                                         partition=lambda U: cluster_features(U, n_clusters, seed)[0])
    labels, cut = cluster_features(H, n_clusters, seed)
    return labels, cut, pseudo, H


def cluster_coefficients_cut(C, n_clusters: int, seed: int):
    """(labels, normalized cut on their own affinity) of coefficients C under the default post-processing."""
    from pssc_fast.affinity import cluster_coefficients, normalized_cut

    labels, A = cluster_coefficients(C, n_clusters, random_state=seed, return_affinity=True)
    return labels, float(normalized_cut(A, labels))


def write_record(path, record: dict) -> None:
    """Print ``record`` as one JSON line and append it to ``path`` when given."""
    import json

    print(json.dumps(record), flush=True)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")


def base_encoder(dataset: str, seed: int, images, cache: str = "/tmp/enc"):
    """The contrastive encoder ``train_encoder`` gives ``images`` for the CPU budget and ``seed``, in eval mode: loaded
    from ``cache`` (dataset_seed.pt) when there, else trained and saved there."""
    from pssc_fast import contrastive

    path = Path(cache) / f"{dataset}_{seed}.pt"
    if path.exists():
        model = contrastive.ContrastiveEncoder(images.shape[1])
        model.load_state_dict(torch.load(path))
        return model.eval()
    steps = contrastive.planned_steps(len(images), *contrastive.default_budget("cpu"))
    model = contrastive.train_encoder(images, steps=steps, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model


def base_and_pseudo_steps(args, images):
    """(:func:`base_encoder` for ``args.dataset``, ``args.seed`` and ``args.cache``, the steps it trained, the default
    pseudo-supervised steps for ``images``), all under the CPU budget: where the refinement diagnostics start from."""
    from pssc_fast import contrastive
    from pssc_fast.params import PSSC_DEFAULTS

    steps = contrastive.planned_steps(len(images), *contrastive.default_budget("cpu"))
    pseudo = round(PSSC_DEFAULTS["contrastive_pseudo"] * steps)
    return base_encoder(args.dataset, args.seed, images, args.cache), steps, pseudo


def unit_features(model, images):
    """The unit-length float64 (torch) features of ``images`` under an encoder: ``contrastive_features``' read-out."""
    import torch.nn.functional as F

    from pssc_fast import contrastive

    return F.normalize(contrastive._raw_features(model, images).double(), dim=1)


def seeded_anchors(n: int, seed: int, m: int = 2000) -> np.ndarray:
    """m of n rows drawn uniformly for ``seed``, sorted: the anchors of the MNIST-10k diagnostics (fit_large's rule,
    not its draw)."""
    return np.sort(np.random.default_rng(seed).choice(n, m, replace=False))


def anchor_partition(H, anchors, n_clusters: int, seed: int):
    """(the anchors' labels, every row's label by its nearest anchor, the anchors' affinity) of unit feature rows H
    (float64 numpy) on fit_large's route: ridge self-expression of the anchors' rows, the default post-processing,
    FAISS nearest-anchor labels."""
    from pssc_fast.affinity import cluster_coefficients
    from pssc_fast.nearest import build_index, nearest_anchor_labels
    from pssc_fast.train import shallow_coefficients

    labels, A = cluster_coefficients(shallow_coefficients(torch.as_tensor(H[anchors]), n_clusters).numpy(), n_clusters,
                                     random_state=seed, return_affinity=True)
    index = build_index(np.ascontiguousarray(H[anchors], dtype=np.float32), "flat", 0, None)
    return labels, nearest_anchor_labels(index, H.astype(np.float32), labels, n_clusters), A


def agreeing(labels, other, n_clusters: int):
    """Boolean mask of the rows whose cluster in ``other`` is matched to their cluster in ``labels`` (the Hungarian
    method on the two partitions' overlap)."""
    from scipy.optimize import linear_sum_assignment

    overlap = np.zeros((n_clusters, n_clusters))
    np.add.at(overlap, (labels, other), 1)
    rows, cols = linear_sum_assignment(-overlap)
    matched = np.full(n_clusters, -1)
    matched[cols] = rows
    return matched[other] == labels
