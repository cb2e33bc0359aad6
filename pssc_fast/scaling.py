"""The global min-max scaling both estimators apply (``scale="minmax"``), guarded against outliers.

The defaults were measured with X rescaled globally to [0, 1] by its minimum and maximum, so that stays.
But one extreme value (a 1e300 typed into a file, a sensor's error code) would then set the range alone
and squash every other value to about 0: the auto-encoder sees constant input and the labels mean nothing,
without a word. So the scaling compares the full range with a robust one, from the
:data:`OUTLIER_QUANTILE` and 1 - :data:`OUTLIER_QUANTILE` quantiles of the values, and when the full range
is more than :data:`OUTLIER_RATIO` times the robust one it warns, naming the most extreme value's row,
column and value, and clips the values beyond the robust range to it before scaling. Data without such
values (digits, images in [0, 1] or 0..255, ordinary measurements) is scaled exactly as before, bit for bit.

The quantiles take the ``lower`` / ``higher`` order statistic rather than interpolating, so that at
least one value on each side is left out however few values there are: one 1e300 among 600 ordinary
values is found (interpolation would put the 99.9% quantile at 4e299). When more than 99.8% of the values
are equal (sparse data) the robust range is 0 and nothing is flagged: the rare values are then the data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import InputValueError, warn_user

#: fraction of the values on each side left out of the robust range (0.1%; at least one value)
OUTLIER_QUANTILE = 0.001
#: X's range is taken to be dominated by outliers when it exceeds this many robust ranges
OUTLIER_RATIO = 1e3
#: a streamed X (np.memmap) is checked on evenly spaced rows holding at most this many values
SAMPLE_VALUES = 1 << 21


@dataclass(frozen=True)
class MinMaxScale:
    """The affine map ``(clip(X, *clip) - low) / span`` to [0, 1]; ``clip`` is None unless outliers were
    found. ``factor`` is 0.5 when the range exceeds float64 (values near +-1.8e308 on both sides): the map
    is then ``(X * factor - low * factor) / span`` with ``span`` the halved range."""

    low: float
    span: float
    clip: tuple | None = None
    factor: float = 1.0

    @classmethod
    def between(cls, low: float, high: float, clip=None) -> "MinMaxScale":
        """The map of [low, high] onto [0, 1]."""
        with np.errstate(over="ignore"):
            span = high - low
        if np.isfinite(span):
            return cls(low, span, clip)
        return cls(low, high * 0.5 - low * 0.5, clip, 0.5)

    def apply(self, rows) -> np.ndarray:
        """``rows`` scaled, as float64 (cast to float32 by the caller: in float32 an offset such as 1e8
        would swallow the variation around it before the scaling could remove it)."""
        rows = np.asarray(rows, dtype=np.float64)
        if self.clip is not None:
            rows = np.clip(rows, *self.clip)
        if self.factor == 1.0:
            return (rows - self.low) / self.span
        return (rows * self.factor - self.low * self.factor) / self.span


def robust_range(values: np.ndarray) -> tuple:
    """(low, high) quantiles of ``values`` that leave out :data:`OUTLIER_QUANTILE` of them (at least one)
    on each side."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 3:
        return float(values.min()), float(values.max())
    lo = np.quantile(values, OUTLIER_QUANTILE, method="higher")
    hi = np.quantile(values, 1.0 - OUTLIER_QUANTILE, method="lower")
    return float(lo), float(hi)


def fit_minmax(low: float, high: float, sample: np.ndarray, *, low_at=None, high_at=None,
               sampled: bool = False) -> MinMaxScale:
    """The scaling of data whose minimum and maximum are ``low`` (at ``(row, column)`` ``low_at``) and
    ``high`` (at ``high_at``), checked on ``sample`` (all the values, or evenly spaced rows when
    ``sampled``). ValueError for constant data; a warning naming the extreme value when outliers dominate
    the range (module docstring), and the scaling then clips to the robust range."""
    low, high = float(low), float(high)
    if high == low:
        raise InputValueError("X is constant (every value equals %g): there is nothing to cluster" % low)
    q_lo, q_hi = robust_range(sample)
    # halved, so that neither range can overflow
    robust, full = q_hi * 0.5 - q_lo * 0.5, high * 0.5 - low * 0.5
    if not (robust > 0 and full / OUTLIER_RATIO > robust):
        return MinMaxScale.between(low, high)
    # clip a side only where its tail is longer than the whole robust range: an ordinary tail stays
    clip_low = q_lo * 0.5 - low * 0.5 > robust
    clip_high = high * 0.5 - q_hi * 0.5 > robust
    new_low, new_high = (q_lo if clip_low else low), (q_hi if clip_high else high)
    values = np.asarray(sample, dtype=np.float64)
    outside = int(np.count_nonzero((values < new_low) | (values > new_high)))
    share = outside / max(values.size, 1)
    count = (f"about {share:.2%} of the values (from a sample of the rows)" if sampled
             else f"{outside} value{'s' if outside != 1 else ''} ({share:.2%})")
    extremes = []
    if clip_high:
        extremes.append(f"{high:.6g}" + (f" at row {high_at[0]}, column {high_at[1]}" if high_at else ""))
    if clip_low:
        extremes.append(f"{low:.6g}" + (f" at row {low_at[0]}, column {low_at[1]}" if low_at else ""))
    warn_user(f"X's range [{low:.6g}, {high:.6g}] is over {OUTLIER_RATIO:g} times the range of its bulk "
              f"[{q_lo:.6g}, {q_hi:.6g}] (the {OUTLIER_QUANTILE:.1%} to {1 - OUTLIER_QUANTILE:.1%} quantiles): "
              f"extreme value {' and '.join(extremes)} (rows and columns counted from 0) would squash every "
              f"other value to about 0; {count} {'is' if outside == 1 and not sampled else 'are'} clipped to [{new_low:.6g}, {new_high:.6g}] before the "
              "min-max scaling. Fix or drop those values, or pass scale=None with X already scaled")
    return MinMaxScale.between(new_low, new_high, (new_low, new_high))


def position(flat_index: int, n_features: int) -> tuple:
    """(row, column) of a flat index into a C-ordered (rows, n_features) array."""
    return int(flat_index) // n_features, int(flat_index) % n_features


def fit_minmax_array(X: np.ndarray) -> MinMaxScale:
    """:func:`fit_minmax` for a 2-D float64 array held in memory (PSSC): every value is in the sample."""
    i_low, i_high = int(np.argmin(X)), int(np.argmax(X))
    flat = X.reshape(-1)
    return fit_minmax(flat[i_low], flat[i_high], flat, low_at=position(i_low, X.shape[1]),
                      high_at=position(i_high, X.shape[1]))


# -- the streaming scan of fit_large: extremes per block of rows, then the scaling ----------------------

def block_extremes(rows: np.ndarray, start: int) -> tuple:
    """(low, its (row, column), high, its (row, column)) of a block of rows whose first row is row ``start``
    of X; InputValueError when it holds NaN or infinity. An empty block gives (inf, None, -inf, None)."""
    rows = np.asarray(rows)
    if rows.dtype.kind == "f" and not np.isfinite(rows).all():
        raise InputValueError("X contains NaN or infinite values; remove or impute them first")
    if rows.size == 0:
        return np.inf, None, -np.inf, None
    d = rows.shape[1]
    i_low, i_high = int(np.argmin(rows)), int(np.argmax(rows))
    return (float(rows.flat[i_low]), (start + i_low // d, i_low % d),
            float(rows.flat[i_high]), (start + i_high // d, i_high % d))


def combine_extremes(parts) -> tuple:
    """The extremes of X from its blocks' (:func:`block_extremes`, in row order): the first occurrence
    of each, as one pass over the rows finds it."""
    low, high, low_at, high_at = np.inf, -np.inf, None, None
    for p_low, p_low_at, p_high, p_high_at in parts:
        if p_low < low:
            low, low_at = p_low, p_low_at
        if p_high > high:
            high, high_at = p_high, p_high_at
    return low, low_at, high, high_at


def sample_rows(n: int, d: int) -> np.ndarray:
    """The evenly spaced rows, holding at most :data:`SAMPLE_VALUES` values, that the outlier check and the
    variance read."""
    return np.unique(np.linspace(0, n - 1, min(n, max(2, SAMPLE_VALUES // d))).round().astype(np.int64))


def scaling_from_scan(extremes: tuple, sample: np.ndarray, n: int, scale) -> tuple:
    """(the scaling, or None when ``scale`` is None; the variance of the scaled values around the mean row)
    from X's extremes (:func:`combine_extremes`) and the rows :func:`sample_rows` chose, as float64."""
    low, low_at, high, high_at = extremes
    scaling = None
    if scale is not None:
        scaling = fit_minmax(low, high, sample, low_at=low_at, high_at=high_at, sampled=sample.shape[0] < n)
        sample = scaling.apply(sample)
    with np.errstate(over="ignore", invalid="ignore"):  # scale=None on huge values: no floor, no harm
        variance = float(((sample - sample.mean(axis=0)) ** 2).mean())
    return scaling, variance if np.isfinite(variance) else None
