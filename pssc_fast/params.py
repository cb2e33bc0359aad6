"""The one table of the estimators' parameters: name, default, constraint and a line of documentation.

:class:`pssc_fast.PSSC` and :class:`pssc_fast.LargePSSC` take their ``__init__`` signatures
(:func:`make_init`), their checks (:func:`validate`, run once at the start of ``fit``) and the
Parameters section of their docstrings (:func:`describe`) from here; ``losses.LossWeights``,
``train.finetune``, ``affinity.cluster_coefficients``, the built-in configurations and the command line
take their defaults from here too, so that a default is written once.

This module sits at the bottom of the package: it imports nothing from pssc_fast but, when a backend is
checked, the ``ops`` package's list of them (``ops`` imports nothing of the rest). It does not import torch
itself, so that the command line can read the table before it needs torch.
"""
from __future__ import annotations

import inspect
import numbers
import textwrap
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

#: the ``method`` values of :func:`pssc_fast.affinity.cluster_coefficients` (an estimator's ``affinity_method``)
AFFINITY_METHODS = ("auto", "dense", "sparse", "exact")


# -- the errors of these checks: what the caller passed is wrong ------------------------------------

class InputError(Exception):
    """Marks the ValueError or TypeError of a check of what the caller passed (X, a parameter value) as
    opposed to a failure of the run itself, so that a caller such as the command line can tell "fix your
    input" from "the run failed". Catch ValueError / TypeError as before; catch this to tell them apart."""


class InputValueError(InputError, ValueError):
    """A value the caller passed (X or a parameter) that pssc_fast cannot work with."""


class InputTypeError(InputError, TypeError):
    """A value the caller passed (X or a parameter) of a type pssc_fast cannot work with."""


class MissingExtraError(InputError, ImportError):
    """An optional dependency is needed for what the caller asked (a dask array, a Zarr store): the message
    names the pip extra that installs it."""


# -- checks of single values: errors that name the parameter and the bound ---------------------------

def check_integer(name: str, value, low: int, high: int | None = None) -> None:
    """TypeError unless ``value`` is an integer (bools excluded); ValueError unless low <= value <= high."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise InputValueError(f"{name}={value} must be {bound}")


def check_number(name: str, value, *, positive: bool = False, low=None, high=None, below=None) -> None:
    """TypeError unless ``value`` is a finite real number; ValueError when it is out of bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise InputTypeError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise InputValueError(f"{name}={value} must be > 0")
    if low is not None and value < low:
        raise InputValueError(f"{name}={value} must be >= {low}")
    if high is not None and value > high:
        raise InputValueError(f"{name}={value} must be <= {high}")
    if below is not None and value >= below:
        raise InputValueError(f"{name}={value} must be < {below}")


def check_widths(name: str, value, *, allow_empty: bool = False) -> tuple:
    """The layer widths (or kernel sizes) ``value`` as a tuple of positive ints; TypeError / ValueError
    naming ``name`` otherwise."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InputTypeError(f"{name} must be a sequence of integers, got {value!r}")
    widths = tuple(value)
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, numbers.Integral):
            raise InputTypeError(f"{name} must be a sequence of integers, got {value!r}")
    if any(w < 1 for w in widths) or (not widths and not allow_empty):
        raise InputValueError(f"{name}={value!r} must hold positive integers" + ("" if allow_empty else ", at least one"))
    return tuple(int(w) for w in widths)


# -- constraints: callables (name, value) -> None that raise on a bad value ---------------------------

def _is_one_of(value, choices) -> bool:
    # the choices are strings and None; comparing only strings keeps arrays and numbers out of ``==``
    return any(value is c or (isinstance(value, str) and value == c) for c in choices)


def integer(low: int, *, also=()):
    """An integer >= low, or one of the values ``also`` (e.g. None)."""
    def check(name, value):
        if not _is_one_of(value, also):
            check_integer(name, value, low)
    return check


def number(*, also=(), **bounds):
    """A finite real number within ``bounds`` (see :func:`check_number`), or one of the values ``also``."""
    def check(name, value):
        if not _is_one_of(value, also):
            check_number(name, value, **bounds)
    return check


def widths(*, allow_empty: bool = False, length: int | None = None, also=()):
    """A sequence of positive integers (of ``length`` entries when given), or one of the values ``also``."""
    def check(name, value):
        if _is_one_of(value, also):
            return
        found = check_widths(name, value, allow_empty=allow_empty)
        if length is not None and len(found) != length:
            raise InputValueError(f"{name}={value!r} must have {length} entries")
    return check


@dataclass(frozen=True)
class OneOf:
    """One of ``choices`` (the command line reads them for its options)."""

    choices: tuple

    def __call__(self, name, value):
        if not _is_one_of(value, self.choices):
            raise InputValueError(f"{name}={value!r} must be one of {self.choices}")


def verbosity(name, value):
    """True / False or a non-negative integer (scikit-learn's ``verbose``; any positive value shows progress)."""
    if isinstance(value, (bool, np.bool_)):
        return
    check_integer(name, value, 0)


def boolean(name, value):
    """True or False (numpy's bool too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{name}={value!r} must be True or False")


def backend_name(name, value):
    """One of :data:`pssc_fast.ops.BACKENDS`."""
    from .ops import BACKENDS

    OneOf(BACKENDS)(name, value)


def precision_name(name, value):
    """One of :data:`pssc_fast.ops.PRECISIONS`."""
    from .ops import PRECISIONS

    OneOf(PRECISIONS)(name, value)


def autoencoder_or_none(name, value):
    """None or a torch auto-encoder (a module with ``state_dict`` and ``encode``)."""
    if value is not None and not (hasattr(value, "state_dict") and hasattr(value, "encode")):
        raise InputTypeError(f"{name} must be None or a torch auto-encoder, got {type(value).__name__}")


# -- the table ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One estimator parameter: its name, default, constraint (None: checked where it is used, e.g.
    ``device`` by :func:`pssc_fast.train.resolve_device`) and documentation."""

    name: str
    default: object
    check: Callable | None
    doc: str


def param(table, name: str) -> Param:
    """The entry ``name`` of ``table``."""
    return next(p for p in table if p.name == name)


#: Parameters both estimators take with the same default.
SHARED = (
    Param("n_clusters", 8, integer(2), "number of clusters K (at most the number of rows clustered)."),
    Param("latent_dim", None, integer(1, also=(None,)),
          "latent width of the fully-connected auto-encoder (None: max(n_clusters, 10); the paper uses K)."),
    Param("pretrain_lr", 1e-3, number(positive=True), "Adam's learning rate in pre-training."),
    Param("head_lr", 1e-2, number(positive=True, also=(None,)),
          "Adam's learning rate of the classifier head (None: ``lr``). The head starts from random weights while "
          "the rest is pre-trained, so it gets a larger step; at ``lr`` it stayed near uniform predictions (mean "
          "max-probability 0.25 on MNIST-10k's anchors, none above ``tau``)."),
    Param("gamma1", 1.0, number(low=0.0), "weight of the self-expression error ||Z - C0 Z||^2."),
    Param("gamma2", 0.0, number(low=0.0), "weight of the pseudo-graph loss (0, the default, switches it off)."),
    Param("gamma3", 0.0, number(low=0.0), "weight of the pseudo-label loss (0, the default, switches it off)."),
    Param("trace_weight", 0.0, number(low=0.0),
          "weight of the Laplacian-trace part of the locality-preserving reconstruction (default 0). The paper's "
          "PSSC terms are off by default: on the quality board (bench/quality.py) they lowered COIL20 (ACC "
          "0.83 -> 0.70, 2 seeds) and ORL, and from DSC-Net's released ORL auto-encoder the trace term alone took "
          "ACC from 0.84 to 0.55; ``PSSC.variant(\"pssc\")`` switches them on."),
    Param("coef_l2", "auto", number(low=0.0, also=("auto",)),
          "weight of ||C||_F^2, or \"auto\": gamma1 times the K-th largest eigenvalue of the pre-trained codes' "
          "Gram matrix Z Z^T (:func:`pssc_fast.train.auto_coef_l2`), which follows the codes' scale."),
    Param("coef_lr", "auto", number(positive=True, also=("auto", None)),
          "Adam's learning rate on C: \"auto\" (a step of 1e-3 times the typical largest coefficient of the ridge "
          "start, so that steps follow C's scale), a number, or None for ``lr``."),
    Param("balance_weight", 0.1, number(low=0.0),
          "weight of the cluster-balance term of the pseudo-supervision; it acts on the classifier head, which "
          "exists only when gamma2 or gamma3 is > 0."),
    Param("tau", 0.8, number(low=0.0, high=1.0), "confidence threshold of the pseudo-labels."),
    Param("c_init", "ridge", number(low=0.0, also=("ridge",)),
          "\"ridge\" starts C at the closed-form minimiser of gamma1 ||Z - CZ||^2 + coef_l2 ||C||^2 on the "
          "pre-trained codes (measured better on digits than a constant start); a number starts every entry of C "
          "there (the paper's released code: 1e-5)."),
    Param("q", 4, integer(1), "post-processing: subspace dimension (the eigen-embedding keeps K*q + 1 directions)."),
    Param("alpha", 5.0, number(positive=True), "post-processing: power of the affinity max(U U^T, 0)^alpha."),
    Param("ro", 0.12, number(positive=True), "post-processing: fraction of each column's l1 mass kept."),
    Param("ro_consensus", True, boolean,
          "label with the consensus of the chosen candidate's partitions at ro times "
          ":data:`pssc_fast.affinity.CONSENSUS_FACTORS` (0.04 to 0.5 for ro = 0.12; "
          ":func:`pssc_fast.affinity.consensus_labels`), so that the labels do not hang on one threshold; the "
          "candidates are still compared at ro (``candidate_labels_``). When the contrastive candidate is kept, the "
          "network's cut is at most ``join_tolerance`` times its cut and the two partitions agree "
          "(``join_agreement``), the network's partitions join the consensus (``consensus_of_``), and with them the "
          "partitions of the two candidates' C added, each column at unit l1 mass "
          "(:func:`pssc_fast.affinity.summed_coefficients`: ORL 0.806 -> 0.826 over seeds 25-32, by a rule written "
          "down first; docs/notes.md). False labels with "
          "the partition at ro alone (the paper's Algorithm 2)."),
    Param("rebalance", True, boolean,
          "after the labels: where one cluster holds about twice the median size and two others about half, merge "
          "the two and split the big one (:func:`pssc_fast.affinity.rebalance_labels`), kept only if the sizes end "
          "even (coefficient of variation at most :data:`pssc_fast.affinity.REBALANCE_MAX_CV`). Most image fits "
          "held one such pair, which every graph measured cuts lower than the classes; it is a prior that "
          "clusters are of about one size, so uneven partitions are left alone. Where that move is not kept but at "
          "least half of the clusters hold n / K rows to within 10%, many such errors are repaired at once (ORL's "
          "faces split in halves beside clusters of two faces). LargePSSC repairs the anchors' partition before rows "
          "are labelled from it. Each step set by a rule written down first (bench/results/diagnostics/"
          "rebalance_rule.md, rebalance_many_rule.md, docs/notes.md). False keeps the labels as clustered."),
    Param("diag_shift", 0.0, number(low=0.0),
          "post-processing: shift of the eigen-embedding's spectrum (0: the paper's Algorithm 2; see "
          ":func:`pssc_fast.affinity.cluster_coefficients`)."),
    Param("shallow_candidate", True, boolean,
          "also cluster the ridge self-expression of the input itself (LSR, no network: "
          ":func:`pssc_fast.train.shallow_coefficients`) and keep whichever partition separates its own affinity "
          "better by the label-free normalized cut (:func:`pssc_fast.affinity.cluster_best_of`), so that the "
          "network can only add to what the input already shows (a warped union of subspaces: 0.38 -> 1.0). "
          "False keeps the network's partition always."),
    Param("affinity_method", "auto", OneOf(AFFINITY_METHODS),
          "``method`` of :func:`pssc_fast.affinity.cluster_coefficients`."),
    Param("scale", "minmax", OneOf(("minmax", None)),
          "\"minmax\" rescales X globally to [0, 1] (what the defaults were measured with; standardising per "
          "feature hurt every dataset tried; LargePSSC applies the training data's map to new rows too), or None "
          "to use X as given. When a few extreme values dominate X's range, fit warns naming them and clips them "
          "to the range of the bulk first (:mod:`pssc_fast.scaling`)."),
    Param("autoencoder", None, autoencoder_or_none,
          "None, or an auto-encoder (a torch module with ``encode``/``decode``, e.g. from "
          "``pretrained_autoencoder``) to start from; a copy is trained, the caller's is not modified. With no "
          "pre-training (``pretrain_epochs=0``, ``pretrain_samples=0``) several fits can share one pre-training."),
    Param("backend", "auto", backend_name,
          "n x n operator backend, one of :data:`pssc_fast.ops.BACKENDS`; \"auto\" is the chunked torch backend off "
          "CUDA and on CUDA the faster of torch and triton that fits the free memory, by measured step times "
          "(:mod:`pssc_fast.ops.choice`); ``backend_`` says which ran."),
    Param("precision", "auto", precision_name,
          "how the n x n operators form float32 products: \"ieee\" (full fp32), \"tf32\" (TF32 tensor cores, fp32 "
          "accumulation, relative error <= 2e-3 in the kernel tests), \"bf16\" (bfloat16 operands, fp32 accumulation, "
          "<= 2e-2), or \"auto\": torch's ``torch.get_float32_matmul_precision()`` (\"highest\", torch's default, -> "
          "ieee; \"high\" -> tf32; \"medium\" -> bf16), as cuBLAS does, so that a script's numerics follow its own "
          "torch setting. On one H200, tf32 kept digits' ACC and moved ORL's within its seed spread, and halves the "
          "torch step at n = 32000 (docs/gpu.md): pass \"tf32\" for speed on CUDA. The torch backend honours it "
          "through torch's matmul precision (on CPU: fp32 throughout)."),
    Param("device", "auto", None, "\"auto\" (CUDA when available), \"cpu\", \"cuda\" or a torch device."),
    Param("random_state", None, None,
          "int, numpy generator or None; seeds weight initialisation, batching, the anchors and the spectral step."),
    Param("verbose", False, verbosity, "show progress bars (True or a positive integer)."),
)

_LR_DOC = "Adam's learning rate of the full-batch fine-tuning"

#: PSSC's own parameters, and its defaults of the ones LargePSSC sets otherwise.
PSSC_OWN = (
    Param("architecture", "auto", OneOf(("auto", "fc", "conv")),
          "\"auto\" uses the convolutional auto-encoder for image input (3-D or 4-D arrays, or ``image_shape`` "
          "given) and the fully-connected one for vectors."),
    Param("hidden_dims", (256, 128), widths(allow_empty=True), "hidden widths of the fully-connected auto-encoder."),
    Param("channels", (15,), widths(), "channels of the convolutional encoder's layers (paper Table II)."),
    Param("kernel_sizes", (3,), widths(), "kernel sizes of the convolutional encoder's layers (paper Table II)."),
    Param("image_shape", "auto", widths(length=3, also=(None, "auto")),
          "(channels, height, width) to read 2-D input rows as images. Image-shaped X carries its own: "
          "(n, H, W) is read as one channel, (n, C, H, W) channels first. \"auto\" also reads 2-D rows of a "
          "square number of features (at least 8 x 8) as one-channel square images when neighbouring features "
          "correlate like pixels (label-free; :func:`pssc_fast.validation.square_image_shape`). A smooth 1-D "
          "signal of a square length (a time series, a spectrum) passes that test too: None keeps 2-D rows as "
          "vectors. ``image_shape_`` says what was used."),
    Param("pretrain_epochs", 200, integer(0),
          "pre-training epochs (Adam, mini-batches); it stops earlier when the reconstruction error stops "
          "improving (:mod:`pssc_fast.budget`; not on digits). 0 skips pre-training: fine-tuning then starts from "
          "``autoencoder``'s weights or, without one, from a randomly initialised auto-encoder."),
    Param("batch_size", 128, integer(1), "pre-training mini-batch size."),
    Param("epochs", 300, integer(1), "full-batch fine-tuning steps."),
    Param("contrastive_steps", "auto", integer(0, also=("auto",)),
          "for image input (ignored for vectors): train a small convolutional encoder for this many steps by "
          "contrastive learning (SimCLR, views by small rotations, scalings, shifts, brightness and noise; "
          ":mod:`pssc_fast.contrastive`) and add the ridge self-expression of its features as a third candidate "
          "(\"contrastive\") that the normalized cut can keep; 0 leaves it out. \"auto\": 2000 on a CPU, 10000 on "
          "CUDA (:data:`pssc_fast.contrastive.DEFAULT_BUDGET`, which says why). Its cost grows with the steps, not "
          "with the images (about 4-8 minutes per 2000 steps on one CPU thread for 32x32 images; 10000 steps took "
          "2.5 minutes on an H200 that 8 such runs shared). "
          "The CPU's 2000 was raised from 600 after label-scored runs: on MNIST-1k the candidate went from 0.76 to "
          "0.87, on ORL, COIL20 and digits it stayed within the seed spread "
          "(bench/diagnostics/contrastive_variants.py, docs/notes.md). ``contrastive_steps_`` is what a fit ran."),
    Param("contrastive_max_epochs", "auto", integer(1, also=("auto", None)),
          "the cap of ``contrastive_steps`` in passes over the images (a pass is n // 256 steps), None for none. "
          "\"auto\": 700 on a CPU, so that a few hundred images do not take thousands of passes' time (2000 steps "
          "are 2000 passes over 400 images); it binds below about 770 images, above MNIST-1k's 667 passes where the "
          "CPU budget was set. None on CUDA, where time is cheap and ORL's 400 images scored higher after "
          "10000 passes than after 700 (2 seeds). Labels informed the CPU's cap too: on ORL the candidate alone "
          "scored 0.752 at 700 passes against 0.720 at 2000, and the defaults 0.731 against 0.720 (3 seeds; "
          "bench/results/contrastive_check_orl_700.md, docs/notes.md)."),
    Param("contrastive_pseudo", 0.5, number(low=0.0),
          "pseudo-supervision of the contrastive encoder, in extra steps as a fraction of ``contrastive_steps`` (as "
          "capped): the features' own partition (ridge self-expression, the post-processing below) names the half of "
          "each cluster closest to its mean feature confident, and the encoder trains on for these steps with the "
          "confident images of a cluster as positives of each other (supervised contrastive loss; "
          ":func:`pssc_fast.contrastive.refine_encoder`) - the paper's pseudo-supervision, moved to the features. "
          "0 leaves it out. 0.5 (half the steps again) was the one value tried; labels decided that it is on: in "
          "full CPU fits (3 seeds each) the defaults went from 0.735 to 0.778 on ORL, 0.848 to 0.907 on COIL20 and "
          "0.874 to 0.889 on MNIST-1k, and from 0.916 to 0.908 on digits (bench/diagnostics/contrastive_pseudo.py, "
          "bench/results/contrastive_check_pseudo*.md, docs/notes.md). It costs half the contrastive stage's time "
          "again. ``contrastive_pseudo_steps_`` is what a fit ran."),
    Param("contrastive_neighbours", True, boolean,
          "nearest-neighbour positives in the contrastive steps: the components of the features' 1-nearest-neighbour "
          "graph (:func:`pssc_fast.contrastive.neighbour_groups`) count as positives of each other. In the "
          "pseudo-supervised steps the loss is the mean of the supervised contrastive loss over the confident groups "
          "and the same loss over these components (a face's images are each other's nearest neighbours 97-98% of "
          "the time on ORL even where the partition splits the face, so its halves keep being pulled together); in "
          "the plain steps, from half way on (:data:`pssc_fast.contrastive.NEIGHBOUR_START`), the mean of NT-Xent "
          "and that loss. Each stage was written down as a rule before it was tested: the pseudo-supervised one "
          "ORL 0.768 -> 0.788 (seeds 3, 4, 6), digits 0.893 -> 0.905 (seeds 3-5); the plain one ORL 0.789 -> "
          "0.805 (seeds 11-16), digits 0.919 -> 0.917 (seeds 7-15; its first test, seeds 7-9 alone, failed at "
          "-0.019), COIL20 and two unseen MNIST draws no lower by more than 0.01 (docs/notes.md). False: neither, "
          "the confident groups alone."),
    Param("contrastive_tolerance", 0.25, number(low=0.0),
          "the contrastive candidate is kept while its normalized cut is at most (1 + this) times the lowest "
          "candidate's (0: the lowest cut wins, the contrastive one on ties). 0.25 is about the spread of that cut over "
          "seeds (largest / smallest 1.14-1.35 on MNIST-1k, COIL20, digits and ORL): smaller differences between "
          "graphs of different kinds do not tell the partitions apart. Labels informed the preference: on four "
          "MNIST draws of 100 images per digit the cut kept the network's candidate (0.60-0.61) over the "
          "contrastive one (0.77) twice (docs/notes.md)."),
    Param("join_agreement", 0.75, number(low=0.0, high=1.0),
          "with ``ro_consensus``: the least adjusted mutual information between the contrastive and the network "
          "candidates' partitions at ro for the network's partitions to join the consensus (the network's cut must "
          "also be at most ``join_tolerance`` times the contrastive one's); 1 lets only an identical partition "
          "join. The two representations split and join different groups, so where both are sound their consensus "
          "beats either; where the network's partition is wrong the two disagree. 0.75 was set between development "
          "cases' agreements (ORL, where joining helped: 0.79-0.80; MNIST draws where it hurt: NMI 0.59-0.66) and "
          "written down before the fits that tested it: ORL 0.767 -> 0.790 over seeds 3-8, digits (seeds 3-5) and "
          "four unseen MNIST draws unchanged (docs/notes.md)."),
    Param("join_tolerance", 2.0, number(low=1.0),
          "with ``ro_consensus``: the network's partitions may join the contrastive candidate's consensus while the "
          "network's normalized cut is at most this many times the contrastive one's (and ``join_agreement`` holds). "
          "The contrastive features cut sharper since their neighbour positives, and a graph of other features may "
          "cut worse and still hold what the contrastive one misses. 2.0 was set between development cases' "
          "ratios (ORL 0.81-1.69, its joined fits the higher; digits 2.67-8.4, where joining had cost about 0.01), "
          "written down before the fits that tested it: ORL 0.801 -> 0.812 over seeds 17-24 (two of eight fits join now), digits "
          "(seeds 16-24), COIL20 and two unseen MNIST draws unchanged (docs/notes.md). It was 1 + "
          "``contrastive_tolerance`` (1.25) before."),
    Param("lr", 1e-3, number(positive=True),
          f"{_LR_DOC} (1e-3, as DSC-Net's public implementations fine-tune; the paper's 1e-4 left C close to its "
          "ridge start in 300 steps)."),
)

#: LargePSSC's own parameters, and its defaults of the ones PSSC sets otherwise.
LARGE_OWN = (
    Param("anchors", 5000, integer(2), "number of uniformly drawn anchor rows (capped at the number of rows)."),
    replace(param(PSSC_OWN, "hidden_dims"), default=(500, 500, 2000),
            doc="hidden widths of the fully-connected auto-encoder (paper: 500, 500, 2000)."),
    Param("pretrain_samples", 1_000_000, integer(0),
          "pre-training budget in samples seen (mini-batch Adam); independent of N, except that it is capped at "
          "``pretrain_max_epochs`` passes over the rows, and that pre-training ends early when the reconstruction "
          "error stops improving (:mod:`pssc_fast.budget`; ``budget_`` says which). 0 skips pre-training."),
    Param("pretrain_max_epochs", 200, integer(1),
          "the cap of ``pretrain_samples``, in passes over the rows (it binds only below pretrain_samples / 200 "
          "rows, 5000 with the defaults, so that a few rows are not pre-trained on for thousands of passes)."),
    Param("pretrain_schedule", "cosine", OneOf(("cosine", "constant")),
          "\"cosine\" decays pre-training's learning rate to 0 over the budget; \"constant\" keeps it."),
    Param("pretrain_noise", 0.0, number(low=0.0, below=1.0),
          "fraction of input values masked to 0 in each pre-training batch (a denoising auto-encoder; DEC "
          "pre-trains this architecture with 0.2), 0 for plain reconstruction."),
    replace(param(PSSC_OWN, "batch_size"), default=256),
    replace(param(PSSC_OWN, "epochs"), default=30, doc="full-batch fine-tuning steps on the anchors."),
    replace(param(PSSC_OWN, "lr"), default=1e-4, doc=f"{_LR_DOC} on the anchors (1e-4, the paper's rate; PSSC's "
            "1e-3 wrecked the MNIST-10k codes in a label-scored comparison that kept this value, see docs/notes.md)."),
    replace(param(PSSC_OWN, "image_shape"),
            doc="(channels, height, width) to read X's rows as images (image-shaped X carries its own, (n, H, W) "
                "read as one channel; \"auto\" also recognises rows of square images, as PSSC does, except in a "
                "dask array; None keeps rows as vectors): the auto-encoder stays fully-connected, and the "
                "contrastive candidate (``contrastive_steps``) needs it."),
    replace(param(PSSC_OWN, "contrastive_steps"),
            doc="for images (``image_shape``, or image-shaped X; ignored for vectors): train a small convolutional "
                "encoder for this many steps by contrastive learning on up to 50,000 uniformly drawn rows "
                "(:data:`pssc_fast.large.CONTRASTIVE_ROWS`; :mod:`pssc_fast.contrastive`), and make the anchors' ridge self-expression of its features "
                "a third candidate (\"contrastive\"); when the normalized cut keeps it, rows are assigned to anchors "
                "in its feature space. 0 leaves it out."),
    param(PSSC_OWN, "contrastive_max_epochs"),
    replace(param(PSSC_OWN, "contrastive_pseudo"),
            doc="pseudo-supervision of the contrastive encoder on the anchors, in extra steps as a fraction of "
                "``contrastive_steps`` (as capped): the anchors' partition by their features names the half of each "
                "cluster closest to its mean feature confident, and the encoder trains on the anchor images for "
                "these steps with a cluster's confident images as positives of each other "
                "(:func:`pssc_fast.contrastive.refine_encoder`); 0 leaves it out."),
    param(PSSC_OWN, "contrastive_neighbours"),
    param(PSSC_OWN, "contrastive_tolerance"),
    param(PSSC_OWN, "join_agreement"),
    param(PSSC_OWN, "join_tolerance"),
    Param("labeling", "anchors", OneOf(("anchors", "landmark")),
          "\"anchors\" (paper Algorithm 3): each row takes its nearest anchor's label (or the vote of "
          "``n_neighbors``); \"landmark\": landmark spectral clustering of all rows through their "
          "``landmark_neighbors`` nearest anchors (:mod:`pssc_fast.landmark`)."),
    Param("landmark_neighbors", 5, integer(1), "anchors per row in the landmark graph (5, as in Chen & Cai's LSC)."),
    Param("n_neighbors", 1, integer(1),
          "1 gives each row its nearest anchor's label; k > 1 a majority vote of the k nearest anchors (ties go "
          "to the nearest's label). ``labeling=\"anchors\"`` only."),
    Param("index", "auto", OneOf(("auto", "flat", "ivf")),
          "FAISS index over the anchors: \"flat\" (exact), \"ivf\" (approximate) or \"auto\" (IVF for very "
          "large problems, see :data:`pssc_fast.nearest.IVF_MIN_WORK`)."),
    Param("nprobe", None, integer(1, also=(None,)), "IVF lists visited per query (None: a quarter, at least 8)."),
    Param("encode_batch_size", 8192, integer(1), "rows read, scaled and encoded at a time."),
)


def _table(own) -> tuple:
    """n_clusters first (the one positional parameter), the estimator's own next, then the shared ones."""
    names = {p.name for p in own}
    return (SHARED[0], *own, *(p for p in SHARED[1:] if p.name not in names))


PSSC_PARAMETERS = _table(PSSC_OWN)
LARGE_PARAMETERS = _table(LARGE_OWN)

#: name -> default, for the code below the estimators (losses, train, affinity) and the configurations
PSSC_DEFAULTS = {p.name: p.default for p in PSSC_PARAMETERS}
LARGE_DEFAULTS = {p.name: p.default for p in LARGE_PARAMETERS}


def make_init(table):
    """An ``__init__`` that stores each parameter of ``table`` under its name, as scikit-learn requires,
    with the signature ``(self, n_clusters=..., *, every other parameter=...)`` that
    ``BaseEstimator.get_params`` reads (through ``__signature__``)."""
    first, *rest = table
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter(first.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=first.default)]
        + [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default) for p in rest])

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature
    __init__.__doc__ = "Store the parameters (see the class docstring); they are checked in ``fit``."
    return __init__


def describe(table, indent: str = "    ") -> str:
    """The numpydoc Parameters entries of ``table``: name, default and documentation."""
    return "\n".join(textwrap.fill(f"{p.name} : default {p.default!r}. {p.doc}", width=110, initial_indent=indent,
                                   subsequent_indent=indent * 2, break_long_words=False) for p in table)


def validate(estimator) -> None:
    """Check every parameter of ``estimator`` against its table (``estimator.parameters``), then the one rule
    between parameters that holds whatever the data: one kernel size per convolutional layer. Bounds that
    depend on the data (n_clusters <= rows, neighbours <= anchors) are checked by the estimator once it
    knows them."""
    for p in estimator.parameters:
        if p.check is not None:
            p.check(p.name, getattr(estimator, p.name))
    if hasattr(estimator, "channels") and len(tuple(estimator.channels)) != len(tuple(estimator.kernel_sizes)):
        raise InputValueError(f"channels={estimator.channels!r} and kernel_sizes={estimator.kernel_sizes!r} must have the "
                         "same length (one entry per convolutional layer)")
