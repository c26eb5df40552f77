"""Small statistics: percentile intervals, bootstrap p-values, Benjamini-Hochberg."""
from __future__ import annotations

import numpy as np

__all__ = ["benjamini_hochberg", "percentile_interval", "bootstrap_p", "normal_p", "normal_interval",
           "lift_p_values", "lift_interval", "safe_divide"]


# Rows per chunk of the row-wise statistics: their float64 temporaries stay near
# 4 x 4096 x n_boot x 8 bytes (130 MB at 1,000 resamples) however many concepts are tested.
_ROW_CHUNK = 4096


def safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, NaN elsewhere, without floating-point warnings."""
    num, den = np.broadcast_arrays(np.asarray(num), np.asarray(den))
    dtype = np.result_type(num.dtype, den.dtype, np.float32)
    out = np.full(num.shape, np.nan, dtype=dtype)
    np.divide(num, den, out=out, where=den > 0)
    return out


def percentile_interval(samples: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of each row of ``samples`` (rows x resamples), NaN resamples ignored.

    The low end is the lower order statistic at ``alpha / 2`` and the high end the
    higher order statistic at ``1 - alpha / 2`` (numpy's ``method="lower"`` and
    ``"higher"``): no interpolation, so infinite values are handled and the interval
    is the same on any monotone scale (a log ratio's interval is the log of the
    ratio's). A row with no valid resample gets NaN.
    """
    samples = np.asarray(samples)
    if samples.ndim != 2:
        raise ValueError("samples must be 2-D (rows x resamples)")
    n_rows = samples.shape[0]
    low = np.full(n_rows, np.nan)
    high = np.full(n_rows, np.nan)
    if n_rows == 0 or samples.shape[1] == 0:
        return low, high
    for start in range(0, n_rows, _ROW_CHUNK):  # a sorted copy of one chunk at a time
        part = samples[start:start + _ROW_CHUNK]
        ordered = np.sort(part, axis=1)  # NaN sort last
        n_valid = np.count_nonzero(~np.isnan(part), axis=1)
        ok = n_valid > 0
        lo_idx = np.floor((n_valid - 1) * (alpha / 2)).astype(np.intp)
        hi_idx = np.ceil((n_valid - 1) * (1 - alpha / 2)).astype(np.intp)
        lo_idx[~ok] = 0
        hi_idx[~ok] = 0
        rows = np.arange(len(part))
        lo, hi = low[start:start + _ROW_CHUNK], high[start:start + _ROW_CHUNK]  # views
        lo[ok] = ordered[rows, lo_idx][ok]
        hi[ok] = ordered[rows, hi_idx][ok]
    return low, high


def bootstrap_p(estimate: np.ndarray, samples: np.ndarray, n_boot: int) -> np.ndarray:
    """Two-sided bootstrap p-value of ``estimate != 0`` for each row.

    Twice the fraction of valid resamples on the other side of 0 from the
    estimate (0 itself counts as the other side), floored at 1 / (n_boot + 1) and
    capped at 1. NaN where the estimate is NaN or no resample is valid.
    """
    estimate = np.asarray(estimate, dtype=np.float64)
    samples = np.asarray(samples)
    n_valid = np.count_nonzero(~np.isnan(samples), axis=1)
    below = np.count_nonzero(samples <= 0, axis=1)
    above = np.count_nonzero(samples >= 0, axis=1)
    other = np.where(estimate > 0, below, np.where(estimate < 0, above, n_valid))
    p = np.full(estimate.shape, np.nan)
    ok = (n_valid > 0) & np.isfinite(estimate)
    p[ok] = np.clip(2.0 * other[ok] / n_valid[ok], 1.0 / (n_boot + 1), 1.0)
    return p


def _bootstrap_sd(samples: np.ndarray) -> np.ndarray:
    """Standard deviation (ddof=1) of each row's valid resamples; NaN with fewer than two.

    Computed in chunks of rows (each row on its own, so the chunking does not change a value)."""
    samples = np.asarray(samples)
    out = np.full(len(samples), np.nan)
    for start in range(0, len(samples), _ROW_CHUNK):
        x = np.asarray(samples[start:start + _ROW_CHUNK], dtype=np.float64)
        valid = ~np.isnan(x)
        n = valid.sum(axis=1)
        mean = np.zeros(len(x))
        np.divide(np.where(valid, x, 0.0).sum(axis=1), n, out=mean, where=n > 0)
        dev = np.where(valid, x - mean[:, None], 0.0)
        var = np.full(len(x), np.nan)
        np.divide((dev * dev).sum(axis=1), n - 1, out=var, where=n >= 2)
        out[start:start + _ROW_CHUNK] = np.sqrt(var)
    return out


def normal_interval(estimate: np.ndarray, samples: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """estimate -/+ z * SE, SE the resamples' standard deviation (ddof=1), z = Phi^-1(1 - alpha/2).

    The interval of :func:`normal_p`'s test: it excludes 0 exactly when that p-value is below
    ``alpha``, so an interval and its p-value cannot disagree. NaN where the estimate is not finite
    or fewer than two resamples are valid.
    """
    from scipy.special import ndtri

    estimate = np.asarray(estimate, dtype=np.float64)
    half = ndtri(1.0 - alpha / 2.0) * _bootstrap_sd(samples)
    ok = np.isfinite(estimate) & np.isfinite(half)
    low = np.where(ok, estimate - np.where(ok, half, 0.0), np.nan)
    high = np.where(ok, estimate + np.where(ok, half, 0.0), np.nan)
    return low, high


def normal_p(estimate: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Two-sided p-value of ``estimate != 0`` from a normal with the resamples' standard deviation.

    2 * Phi(-|estimate| / sd), sd over the valid resamples (ddof=1). Unlike
    :func:`bootstrap_p` it is not limited to multiples of 1 / (n_boot + 1), which
    matters when Benjamini-Hochberg runs over tens of thousands of concepts.
    NaN where the estimate is NaN or fewer than two resamples are valid.
    """
    from scipy.special import ndtr

    estimate = np.asarray(estimate, dtype=np.float64)
    sd_all = _bootstrap_sd(samples)
    ok = np.isfinite(estimate) & np.isfinite(sd_all)
    p = np.full(estimate.shape, np.nan)
    sd = sd_all[ok]
    z = np.full(sd.shape, np.inf)
    np.divide(np.abs(estimate[ok]), sd, out=z, where=sd > 0)
    z[(sd == 0) & (estimate[ok] == 0)] = 0.0
    p[ok] = np.minimum(1.0, 2.0 * ndtr(-z))
    return p


def lift_p_values(estimate: np.ndarray, samples: np.ndarray, n_boot: int, method: str
                  ) -> np.ndarray:
    """p-values of a lift by ``method``: "bootstrap" (:func:`bootstrap_p`) or "normal"."""
    if method == "bootstrap":
        return bootstrap_p(estimate, samples, n_boot)
    return normal_p(estimate, samples)


def lift_interval(estimate: np.ndarray, samples: np.ndarray, alpha: float, method: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The lift's interval that goes with :func:`lift_p_values` of the same ``method``: "normal"
    (:func:`normal_interval`: estimate -/+ z SE, the p-value's own test) or "bootstrap"
    (:func:`percentile_interval`, the bootstrap p-value's resamples)."""
    if method == "bootstrap":
        return percentile_interval(samples, alpha)
    return normal_interval(estimate, samples, alpha)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN entries stay NaN and are not counted.

    q_(i) = min over j >= i of p_(j) * m / j, capped at 1, where p_(1) <= ... <= p_(m)
    are the m finite p-values.
    """
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    m = int(finite.sum())
    if m == 0:
        return q
    pv = p[finite]
    if (pv < 0).any() or (pv > 1).any():
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(pv, kind="stable")
    scaled = pv[order] * m / np.arange(1, m + 1)
    scaled = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(scaled, 1.0)
    q[finite] = adjusted
    return q
