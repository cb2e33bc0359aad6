"""Training budgets that follow the data: the pre-training caps and the label-free early stop.

Every default of the budget rules lives here, so that :class:`pssc_fast.PSSC` (pre-training counted in
epochs) and :class:`pssc_fast.LargePSSC` (pre-training counted in samples seen) stop by the same rule.

Two things end a pre-training before its budget:

* a *loss floor*: the epoch's mean reconstruction error is below :data:`LOSS_FLOOR` times the data's
  variance (the error of reconstructing every row by the mean row). The auto-encoder then reproduces its
  input to ~6 significant digits; that happens on a handful of rows (3 rows reached 2e-14 within a few
  hundred steps and then ran thousands more), never on data with something to learn;
* a *plateau*: the best epoch loss of the last :data:`PLATEAU_PATIENCE` epochs (and at least
  :data:`PLATEAU_MIN_STEPS` steps) is less than :data:`PLATEAU_TOL` (relative) below the best loss before
  them. The window in steps matters on a few rows, where an epoch is one step: a deep auto-encoder first
  sits for tens of steps at the error of the mean row before it learns anything, which 20 one-step epochs
  took for a plateau (3 rows, fit_large: stopped at 25 steps, codes explaining 0% of the variance).

Both look at the reconstruction loss only, so the stop is label-free. The tolerance is conservative on
purpose: the estimators' defaults were measured with full budgets, and on scikit-learn's digits (PSSC's
defaults, 200 epochs) the rule does not stop early (see ``bench/results/odd_data.md``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .params import LARGE_DEFAULTS

#: relative improvement of the best epoch loss that counts as progress (0.1%) ...
PLATEAU_TOL = 1e-3
#: ... over this many epochs (passes over the rows); without it, pre-training stops
PLATEAU_PATIENCE = 20
#: ... and over at least this many optimisation steps
PLATEAU_MIN_STEPS = 200
#: pre-training stops once the epoch loss is below this fraction of the data's variance
LOSS_FLOOR = 1e-6
#: LargePSSC: the pre-training budget in samples seen is capped at this many passes over the rows. It binds
#: only below pretrain_samples / 200 rows (5000 with the default 10^6: the CLI's --max-dense, above which
#: the CLI switches to fit_large on its own), so large inputs pre-train exactly as before.
MAX_PRETRAIN_EPOCHS = LARGE_DEFAULTS["pretrain_max_epochs"]


@dataclass
class EarlyStop:
    """The label-free early stop of pre-training (see the module docstring); feed it each epoch's mean
    loss with :meth:`update`, which returns True when training should stop.

    ``tol=0`` or ``patience=None`` switches the plateau rule off, ``floor=0`` the loss floor. The trainer
    sets ``steps_per_epoch`` (the plateau window is at least ``min_steps`` steps long).
    After training, ``epochs_run``, ``stopped`` ("plateau", "floor" or None for a full budget) and
    ``reason`` (in words) say what happened.
    """

    tol: float = PLATEAU_TOL
    patience: int | None = PLATEAU_PATIENCE
    floor: float = LOSS_FLOOR
    min_steps: int = PLATEAU_MIN_STEPS
    variance: float | None = None
    steps_per_epoch: int = 1
    losses: list = field(default_factory=list)
    stopped: str | None = None
    reason: str = ""

    @property
    def epochs_run(self) -> int:
        return len(self.losses)

    def update(self, epoch_loss: float) -> bool:
        """Record one epoch's mean reconstruction loss; True when pre-training should stop here."""
        self.losses.append(float(epoch_loss))
        epoch = len(self.losses)
        if self.floor > 0 and self.variance and epoch_loss <= self.floor * self.variance:
            self.stopped = "floor"
            self.reason = (f"the reconstruction error {epoch_loss:.3g} fell below {self.floor:g} x the data's "
                           f"variance ({self.variance:.3g}) after {epoch} epoch(s)")
            return True
        p = None if self.patience is None else max(int(self.patience),
                                                   -(-int(self.min_steps) // max(1, int(self.steps_per_epoch))))
        if self.tol > 0 and p is not None and epoch > p:
            best_before = min(self.losses[:-p])
            best_recent = min(self.losses[-p:])
            # a non-finite loss is train.check_finite's business, not a plateau
            if math.isfinite(best_before) and best_before - best_recent <= self.tol * abs(best_before):
                self.stopped = "plateau"
                self.reason = (f"the reconstruction error improved by less than {self.tol:.1%} over the last "
                               f"{p} epochs (best {best_recent:.4g}), after {epoch} epoch(s)")
                return True
        return False


def stream_epochs(samples: int, n_rows: int, batch_size: int, max_epochs: int = MAX_PRETRAIN_EPOCHS):
    """LargePSSC's pre-training budget: (steps, steps per pass over the rows, why) for ``samples`` samples
    seen in batches of ``min(batch_size, n_rows)`` rows, capped at ``max_epochs`` passes (a pass drops its
    last partial batch, as :func:`pssc_fast.large.pretrain_stream` draws them)."""
    batch = min(int(batch_size), int(n_rows))
    per_pass = max(1, int(n_rows) // batch)
    steps = int(samples) // batch
    cap = int(max_epochs) * per_pass
    if steps > cap:
        why = (f"{samples:,} samples would be {steps / per_pass:,.0f} passes over {n_rows:,} rows; capped at "
               f"{max_epochs} passes ({cap:,} steps of {batch} rows)")
        return cap, per_pass, why
    return steps, per_pass, f"{samples:,} samples: {steps:,} steps of {batch} rows ({steps / per_pass:,.1f} passes)"


def describe_epochs(planned: int, stopper: EarlyStop | None) -> dict:
    """The ``budget_`` entries of an epoch-counted pre-training: planned and run epochs, and why it ended."""
    run = planned if stopper is None else stopper.epochs_run
    if stopper is not None and stopper.stopped:
        why = f"stopped early ({stopper.stopped}): {stopper.reason}"
    elif planned == 0:
        why = "skipped (pretrain_epochs=0)"
    else:
        why = f"the full budget of {planned} epoch(s)"
    return {"pretrain_epochs": int(planned), "pretrain_epochs_run": int(run),
            "pretrain_stop": None if stopper is None else stopper.stopped, "pretrain_why": why}


def say(message: str, verbose: bool) -> None:
    """One line of verbose output on stderr (through tqdm, so that it does not tear a progress bar)."""
    if verbose:
        import sys

        from tqdm.auto import tqdm

        tqdm.write(f"pssc_fast: {message}", file=sys.stderr)
