"""Confidence intervals for what a router's user reports.

A router's value on a target query set is a linear functional of the GS
quality gain: ``theta = E_target[g(q) m(q)]`` with a known multiplier ``g``:

* per-query efficiency at a PMUR ``rho``: ``g = pi``, the routing rule
  (premium for the top ``rho`` share of target queries by routing score);
* efficiency gain over random routing at matched PMUR: ``g = pi - rho``
  (random routing at rate ``rho`` has efficiency ``rho E_target[m]``);
* router A against router B at the same PMUR: ``g = pi_A - pi_B`` (a paired
  interval: both rules are scored on the same GS rows).

GS rows ``(q_i, r_i)`` are unbiased for ``m``; where the GS and target query
distributions differ, importance weights ``w = f_target / f_GS`` at the GS
rows carry GS averages to the target. Two intervals:

* classical: the (weighted) mean of ``g(q_i) r_i`` over the GS rows (outcomes
  from the GS rows alone; the small-sample interval takes the share of target
  queries with ``g != 0`` from the target queries, see below);
* prediction-powered (PPI++, power-tuned; Angelopoulos, Duchi and Zrnic
  2023): the router's own ``m_hat`` predicts ``m`` on the (unlabelled) target
  queries and the GS rows correct its bias,
  ``theta_hat = mean_target(lam g m_hat) + mean_GS(w g (r - lam m_hat))`` with
  the variance-minimising ``lam`` (``lam = 0`` is the classical estimate).

Small samples (``small_sample=True``, the default): the estimate conditions on
the GS rows where ``g != 0`` (for router A against router B, the rows where the
two rules disagree, as McNemar's test conditions on the discordant pairs):
``theta = E_target[lam g m_hat] + P_target(g != 0) mu``, with ``mu`` the weighted
mean contribution over those rows and ``P_target(g != 0)`` the share of target
queries with ``g != 0`` (known from the target queries; for the per-query
efficiency it is the PMUR). The standard error is the jackknife's over those
rows (leave one out, PPI++'s ``lam`` re-tuned without that row) plus the target
part's variance, and the quantile is Student's t on Welch-Satterthwaite degrees of
freedom from the rows' ``min(n_eff - 1, nu)`` (Kish's effective sample size
``n_eff = (sum w)^2 / sum w^2`` of their weights, and the Satterthwaite degrees
of freedom ``nu`` of their jackknife variance, small when a few rows carry it)
and the target part's ``n_target - 1``. Where ``g`` is never zero (the gain over
random routing) this is the plain jackknife-t interval over all GS rows; without
weights and with a symmetric outcome, the textbook t-interval.
``small_sample=False`` gives the asymptotic intervals (unconditional, normal
quantile, delta-method variance).

Why conditional: the mean of a sparse contribution ``g r`` over all GS rows is a
sum over a binomial number of non-zero rows, and its studentised statistic is
bounded (over-coverage: 97-100% when the non-zero contributions are symmetric,
Efron 1969) or skewed (under-coverage: 85-92% when they are not, or when they
carry large weights); no degrees-of-freedom rule fixes both. Given the rows with
``g != 0`` it is an ordinary mean of dense contributions. Measured by Monte Carlo
(``python -m simulations.studies.metarouter_coverage`` on the routers' process and
``python -m simulations.studies.metarouter_coverage_synthetic`` on processes
varying sparsity, skewness and weight tails), against the alternatives tried on
the same draws: the unconditional jackknife-t (the previous default), Hall's
and Cornish-Fisher skewness corrections, a second-order Edgeworth quantile,
pairs / wild bootstrap-t, and Owen's empirical likelihood; none of these held on
both the symmetric and the skewed sparse processes.

Why re-tune ``lam`` in the jackknife: ``lam`` is chosen to minimise the
estimated variance, so the variance estimated at the chosen ``lam`` with ``lam``
held fixed is optimistic; and the estimate's error contains ``(lam_hat - lam)
(mean_target f - weighted mean_GS f)``, a product of two errors that is
negligible with many effective GS rows but not when heavy importance weights
leave few of them (log-normal weights with sd 1.5, 300 GS rows, Kish n_eff about
50: the fixed-``lam`` jackknife standard error of the PPI++ gain over random
routing, root mean square 0.0279, against the estimate's Monte Carlo sd 0.0298:
coverage 92.9%, misses on both sides, 3.0% / 4.1%). The jackknife of the whole
estimate, ``lam`` re-tuned on each leave-one-out sample
(:func:`_loo_power_tuning`, O(n)), estimates the variance of the estimate
actually reported: there 0.0297 against 0.0298, coverage 93.8%. The estimate's
skewness was small there (median jackknife skewness 0.02), and a skewness
correction (Hall 1992, with the jackknife skewness) lowered the coverage
(92.7%). Under the earlier unconditional rule the re-tuned jackknife had made
the sparse A-vs-B intervals conservative (97-98%); conditioning on the rows with
``g != 0`` removed that. Tuning ``lam`` to the conditional estimate's own
variance (instead of :func:`ppi_power_tuning`'s unconditional one) narrowed the
PPI++ intervals by 2-10% but, estimated from the few rows with ``g != 0``, cost
the A-vs-B interval its coverage (91-92% with 50-100 GS rows, against 94-95%),
so it was not adopted.

Measured (1000 replications per cell, binomial sd 0.7 pp), with the routers'
current defaults: 70 of 72 coverages in [93%, 97%] on the grid (92.2-97.3%; the
classical A-vs-B interval at no shift with 50 GS rows, 39% of whose draws warn,
and PPI++ A-vs-B at shift 0.5 with 100 rows), and 67 of 72 with ``--seed 1``,
every miss above 97% (93.3-98.9%). Before the routers' step-2 default became a
cross-validated choice (the figures below), on the routers' grid
(shift 0-1.5 sd, 50-300 GS rows) 72 of 72 coverages in [93%, 97%] (range
93.8-96.9%; with ``lam`` held fixed in the jackknife 71 of 72, the unconditional
rule 67 of 72, 87.9-97.7%). With another pair of routers (``--seed 1``) 67 of 72
(the same with ``lam`` held fixed): the classical A-vs-B interval with 50 GS
rows or under a 1.5-sd shift (91.9-92.8%; 21-55% of those draws warn, see
below), the PPI++ A-vs-B interval at shift 1 with 50 rows (97.1%, 47% warn) and
the classical gain at shift 1.5 with 100 rows (97.1%). On 64 off-grid processes,
55 of the 56 coverages where fewer than 10% of the replications warn lie in
[93%, 97%] (93.3-97.2%).

Known limits: below :data:`MIN_NONZERO_ROWS` (5) effective GS rows with
``g != 0`` the intervals warn (:class:`SmallSampleWarning`): a mean of fewer
rows cannot be studentised reliably, and where those rows are rare in the GS
sample but common in the target (heavy importance weights) the coverage falls
far below 95% (off-grid: 16-61% when the rows with ``g != 0`` sit where the GS
sample is thin). With heavy weights correlated with the outcome the sample
cannot show the weights' tail (log-normal weights with sd 1.5: the sample Kish
n_eff of 300 rows averages 49, its population value 300 / e^2.25 = 32): the
classical interval then under-covers, mostly without a warning (the A-vs-B
interval of another pair of routers under a 1.5-sd shift, 50-100 GS rows:
91.9-92.8%, 88.6-90.4% among the draws that did not warn; off-grid,
outcome ``x + noise`` with weights ``exp(-x + 1/2)``: 89.6%), while PPI++ with
an ``m_hat`` that tracks the outcome covers (94.1% there).

The estimators are written here rather than taken from ``ppi_py`` (the
reference implementation of PPI/PPI++): ``ppi_py`` normalises importance
weights to mean 1 but keeps the variance of the unnormalised mean, which
under-covered in our Monte Carlo check (classical interval, GS rows shifted
half a standard deviation: 89.8% for a nominal 95%); here the self-normalised
mean gets its delta-method variance. Without weights and with
``small_sample=False`` both agree exactly (a test checks it against ``ppi_py``
when that is installed). The rule ``pi`` must not depend on the GS rows (fit
the router on other rows), else the interval is not honest.

References
----------
Angelopoulos, Bates, Fannjiang, Jordan and Zrnic, "Prediction-powered
inference", Science, 2023.
Angelopoulos, Duchi and Zrnic, "PPI++: Efficient prediction-powered
inference", 2023 (arXiv:2311.01453).
Efron, "Student's t-test under symmetry conditions", Journal of the American
Statistical Association, 1969.
Hall, "On the removal of skewness by transformation", Journal of the Royal
Statistical Society B, 1992.
Efron and Stein, "The jackknife estimate of variance", Annals of Statistics,
1981.
Kish, "Survey Sampling", Wiley, 1965 (the effective sample size).
McNemar, "Note on the sampling error of the difference between correlated
proportions or percentages", Psychometrika, 1947.
Satterthwaite, "An approximate distribution of estimates of variance
components", Biometrics Bulletin, 1946.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, t

from metarouter._validation import check_binary_scores, check_lengths, check_vector

__all__ = [
    "MIN_NONZERO_ROWS",
    "Interval",
    "SmallSampleWarning",
    "effective_sample_size",
    "functional_interval",
    "ppi_power_tuning",
    "router_interval",
    "top_share_rule",
]

_METHODS = ("classical", "ppi")

#: Below this effective number of GS rows with a non-zero contribution the
#: intervals warn (:class:`SmallSampleWarning`): no rule measured here keeps the
#: coverage of a 95% interval within [93%, 97%] there (see the module docstring).
MIN_NONZERO_ROWS = 5


class SmallSampleWarning(UserWarning):
    """Too few GS rows carry the estimate for the interval's coverage to hold.

    Raised by :func:`functional_interval` (and :func:`router_interval`) when the
    effective number of GS rows with a non-zero contribution
    (:attr:`Interval.n_nonzero`) is below :data:`MIN_NONZERO_ROWS`.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from metarouter.inference import SmallSampleWarning, functional_interval
    >>> g = np.r_[np.ones(4), np.zeros(96)]  # the rule matters on 4 rows only
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     ci = functional_interval(g, np.linspace(1, 2, 100), method="classical")
    >>> caught[0].category is SmallSampleWarning, ci.n_nonzero
    (True, 4.0)
    """


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval for a router's value.

    Attributes
    ----------
    estimate, lower, upper, se : float
        Point estimate, bounds and standard error.
    method : str
        ``"classical"`` or ``"ppi"``.
    lam : float
        PPI++ power-tuning parameter (0 for the classical interval).
    n_gs, n_target : int
        Labelled GS rows and unlabelled target queries used.
    df : float, default=inf
        Degrees of freedom of the t quantile (``inf``: the normal quantile).
    n_nonzero : float, default=nan
        Kish effective number of GS rows with a non-zero multiplier ``g``
        (:func:`effective_sample_size` of their weights; their count without
        weights): the rows that carry the estimate. Below
        :data:`MIN_NONZERO_ROWS` the interval warns (:class:`SmallSampleWarning`).

    Examples
    --------
    >>> from metarouter.inference import Interval
    >>> Interval(1.0, 0.5, 1.5, 0.25, "classical", 0.0, 10, 0).width
    1.0
    """

    estimate: float
    lower: float
    upper: float
    se: float
    method: str
    lam: float
    n_gs: int
    n_target: int
    df: float = float("inf")
    n_nonzero: float = float("nan")

    @property
    def width(self) -> float:
        """``upper - lower``."""
        return self.upper - self.lower


def _check_weights(weights, n):
    if weights is None:
        return None
    w = check_vector(weights, "weights", n)
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("`weights` (importance weights) must be positive and finite.")
    return w


def _check_alpha(alpha):
    if isinstance(alpha, bool) or not np.isscalar(alpha) or not 0 < alpha < 1:
        raise ValueError(f"`alpha` must lie in (0, 1), got {alpha!r}.")
    return float(alpha)


def functional_interval(
    g_gs,
    r_gs,
    *,
    m_hat_gs=None,
    g_target=None,
    m_hat_target=None,
    weights=None,
    method="ppi",
    alpha=0.05,
    small_sample=True,
):
    """Interval for ``theta = E_target[g(q) m(q)]`` from GS rows (and predictions).

    Parameters
    ----------
    g_gs, r_gs : array-like of shape (n_gs,)
        The multiplier ``g`` and the GS outcome ``r`` at the GS rows.
    m_hat_gs : array-like of shape (n_gs,), default=None
        Predictions of ``m`` at the GS rows (``method="ppi"`` only).
    g_target, m_hat_target : array-like of shape (n_target,), default=None
        ``g`` and the predictions at the unlabelled target queries (both needed
        by ``method="ppi"``; the classical interval uses ``g_target`` alone, if
        given, for the share of target queries with ``g != 0``).
    weights : array-like of shape (n_gs,), default=None
        Importance weights ``f_target(q) / f_GS(q)`` at the GS rows (positive,
        finite; only their ratios matter: the mean is self-normalised). None
        when the GS rows are a sample of the target distribution.
    method : {"ppi", "classical"}, default="ppi"
        PPI++ with power tuning, or the GS rows alone.
    alpha : float, default=0.05
        One minus the nominal coverage.
    small_sample : bool, default=True
        Condition on the GS rows with ``g != 0`` (when ``g_target`` is given:
        ``theta = E_target[lam g m_hat] + P_target(g != 0) mu`` with ``mu`` the
        weighted mean contribution over those rows and ``P_target(g != 0)`` the
        share of target queries with ``g != 0``), jackknife standard error over
        those rows (``lam`` re-tuned without the row left out) and a t quantile on
        ``min(n_eff - 1, nu)`` degrees of freedom of those rows (``n_eff``:
        :func:`effective_sample_size`; ``nu``: Satterthwaite's for the jackknife
        variance), combined with the target part's ``n_target - 1`` by
        Welch-Satterthwaite. Without ``g_target`` (classical only) or with fewer
        than 2 rows with ``g != 0``: the same on all GS rows, unconditionally.
        False: the asymptotic interval, normal quantile and delta-method
        standard error, unconditional (without weights, exactly ``ppi_py``'s
        ``classical_mean_ci`` / ``ppi_mean_ci``).

    Returns
    -------
    interval : Interval

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.inference import functional_interval
    >>> rng = np.random.default_rng(0)
    >>> m = rng.normal(size=2100)
    >>> r = m[:100] + rng.normal(scale=0.5, size=100)
    >>> g = np.ones(2100)
    >>> cl = functional_interval(g[:100], r, method="classical")
    >>> cl.df <= 99  # at most n - 1 degrees of freedom
    True
    >>> pp = functional_interval(g[:100], r, m_hat_gs=m[:100], g_target=g[100:],
    ...                          m_hat_target=m[100:])
    >>> bool(pp.width < cl.width)
    True
    """
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {_METHODS}, got {method!r}.")
    alpha = _check_alpha(alpha)
    if not isinstance(small_sample, (bool, np.bool_)):
        raise TypeError(f"`small_sample` must be True or False, got {small_sample!r}.")
    check_lengths(g_gs=g_gs, r_gs=r_gs, m_hat_gs=m_hat_gs, weights=weights)
    g = check_vector(g_gs, "g_gs")
    n = g.shape[0]
    if n < 2:
        raise ValueError(f"An interval needs at least 2 GS rows (`r_gs`), got {n}.")
    r = check_vector(r_gs, "r_gs", n)
    w = _check_weights(weights, n)
    w = np.ones(n) if w is None else w / w.mean()
    y = g * r
    nz = _nonzero_rows(g, w)
    if method == "ppi" and (
        m_hat_gs is None or g_target is None or m_hat_target is None
    ):
        raise ValueError(
            "method='ppi' needs `m_hat_gs`, `g_target` and `m_hat_target`."
        )
    gt = None
    if g_target is not None:
        check_lengths(g_target=g_target, m_hat_target=m_hat_target)
        gt = check_vector(g_target, "g_target")
        if gt.shape[0] < 2:
            raise ValueError(
                f"An interval needs at least 2 target queries (`g_target`), got "
                f"{gt.shape[0]}."
            )
    if method == "classical":
        lam, f_gs, f_t, N = 0.0, np.zeros(n), None, 0
    else:
        N = gt.shape[0]
        f_gs = g * check_vector(m_hat_gs, "m_hat_gs", n)
        f_t = gt * check_vector(m_hat_target, "m_hat_target", N)
        lam = ppi_power_tuning(y, f_gs, f_t, w)
    d = y - lam * f_gs  # the GS rows' contributions (the rectifier for PPI++)
    if not small_sample:
        se = _weighted_mean_se(d, w)
        est = _weighted_mean(d, w)
        if method == "ppi":
            est += float(np.mean(lam * f_t))
            se = np.sqrt(lam**2 * np.var(f_t) / N + se**2)
        return _interval(est, se, alpha, method, lam, n, N, n_nonzero=nz)
    # lam re-tuned with each GS row left out (PPI++): the jackknife then measures
    # the variance of the estimate actually reported, tuning included
    lam_loo = (
        np.zeros(n) if method == "classical" else _loo_power_tuning(y, f_gs, f_t, w)
    )
    if gt is not None and np.sum(g != 0) >= 2:
        on, active = g != 0, (gt != 0).astype(float)
        f_t = np.zeros(gt.shape[0]) if f_t is None else f_t  # classical: lam = 0
    else:  # no target queries (classical only), or fewer than 2 rows with g != 0
        on, active = np.ones(n, dtype=bool), None if f_t is None else np.ones(N)
    est, var, df = _small_sample_mean(
        y[on], f_gs[on], w[on], lam, lam_loo[on], f_t, active
    )
    return _interval(est, np.sqrt(var), alpha, method, lam, n, N, df, nz)


def _small_sample_mean(y, f, w, lam, lam_loo, f_target, active):
    """Estimate, jackknife variance and df of the (conditional) PPI++ estimate.

    The rows passed are the GS rows the estimate conditions on (those with
    ``g != 0``, or all rows); ``theta = E_target[lam f] + P_target(g != 0) mu`` with
    ``mu`` the weighted mean of the contributions ``y - lam f`` over those rows
    and ``P_target(g != 0)`` the share of ``active`` target queries (1 without
    target queries or when the estimate does not condition). The GS part's
    variance is the jackknife over these rows of the whole estimate, ``lam``
    re-tuned without the row left out (``lam_loo``; :func:`_loo_power_tuning`),
    on ``min(n_eff - 1, nu)`` degrees of freedom; the target part
    ``Var(lam f + mu 1[g != 0]) / N`` (ddof 1) on ``N - 1``; combined by
    Welch-Satterthwaite. The classical interval is ``lam = 0`` throughout.
    """
    mu = _weighted_mean(y - lam * f, w)
    mu_loo = _loo_weighted_means(y, w) - lam_loo * _loo_weighted_means(f, w)
    if f_target is None:
        return mu, *_jackknife(mu_loo, effective_sample_size(w))
    share = float(active.mean())
    loo = lam_loo * np.mean(f_target) + share * mu_loo
    var_gs, df_gs = _jackknife(loo, effective_sample_size(w))
    target = lam * f_target + mu * active
    N = target.shape[0]
    var, df = _welch(var_gs, df_gs, np.var(target, ddof=1) / N, N - 1)
    return float(np.mean(target)), var, df


def _welch(var_a, df_a, var_b, df_b):
    """Sum of two independent variance estimates and its Welch-Satterthwaite df."""
    var = var_a + var_b
    denom = var_a**2 / df_a + var_b**2 / df_b
    return var, (var**2 / denom if denom > 0 else df_a)


def effective_sample_size(weights) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of importance weights.

    ``n`` for equal weights, smaller the more unequal they are; the small-sample
    intervals use at most ``n_eff - 1`` degrees of freedom.

    References
    ----------
    Kish, "Survey Sampling", Wiley, 1965.

    Examples
    --------
    >>> from metarouter.inference import effective_sample_size
    >>> effective_sample_size([1.0, 1.0, 1.0, 1.0])
    4.0
    >>> effective_sample_size([3.0, 1.0])  # 16 / 10
    1.6
    """
    w = np.asarray(weights, dtype=float)
    return float(np.sum(w) ** 2 / np.sum(w**2))


def _interval(est, se, alpha, method, lam, n, N, df=np.inf, n_nonzero=np.nan):
    df = float(df)
    q = float(norm.ppf(1 - alpha / 2) if np.isinf(df) else t.ppf(1 - alpha / 2, df))
    est, se = float(est), float(se)
    if n_nonzero < MIN_NONZERO_ROWS:
        warnings.warn(
            f"Only {n_nonzero:.1f} effective GS rows (of {n}) have a non-zero "
            "multiplier g (e.g. router A minus router B is zero where both route "
            "alike; or a few importance weights dominate those rows): below "
            f"{MIN_NONZERO_ROWS} such rows the interval's coverage is not "
            "controlled (measured far below 95% where they carry large weights). "
            "Use more GS rows.",
            SmallSampleWarning,
            stacklevel=3,
        )
    return Interval(
        est, est - q * se, est + q * se, se, method, float(lam), n, N, df, n_nonzero
    )


def _nonzero_rows(g, w) -> float:
    """Kish effective number of rows with ``g != 0`` (0 if none)."""
    on = g != 0
    return effective_sample_size(w[on]) if on.any() else 0.0


def _weighted_mean(y, w) -> float:
    """Self-normalised weighted mean ``sum w y / sum w``."""
    return float(np.sum(w * y) / np.sum(w))


def _weighted_mean_se(y, wn) -> float:
    """Delta-method standard error of the self-normalised weighted mean.

    With ``wn = w / mean(w)``, ``se^2 = sum wn^2 (y - est)^2 / n^2`` (the ratio
    estimator's linearisation; for equal weights ``var(y) / n`` with divisor
    ``n``).
    """
    n = y.shape[0]
    est = _weighted_mean(y, wn)
    return float(np.sqrt(np.sum(wn**2 * (y - est) ** 2)) / n)


def _loo_sums(v) -> np.ndarray:
    """Entry ``i``: the sum of ``v`` without ``v[i]``, as prefix plus suffix sums.

    Not ``sum(v) - v[i]``: where one entry dwarfs the others (an importance
    weight 1e17 times the rest) that difference cancels to 0 or to rounding
    noise, and the leave-one-out means divided by it became NaN or wrong.
    """
    v = np.asarray(v, dtype=float)
    before = np.concatenate(([0.0], np.cumsum(v[:-1])))
    after = np.concatenate((np.cumsum(v[:0:-1])[::-1], [0.0]))
    return before + after


def _loo_weighted_means(y, w) -> np.ndarray:
    """Leave-one-out self-normalised means ``(S_wy - w_i y_i) / (S_w - w_i)``.

    The leave-one-out sums are summed over the other rows (:func:`_loo_sums`).
    """
    return _loo_sums(w * y) / _loo_sums(w)


def _jackknife(loo, n_eff) -> tuple[float, float]:
    """Jackknife variance and its degrees of freedom from leave-one-out estimates.

    :func:`_jackknife_variance` and :func:`_jackknife_df` of ``loo``, with
    ``n_eff`` (Kish's effective sample size of the rows' weights) as the cap.
    """
    return _jackknife_variance(loo), _jackknife_df(loo, n_eff)


def _jackknife_variance(loo) -> float:
    """Jackknife variance ``(n - 1) / n sum (theta_(i) - mean theta_(.))^2``.

    For the (unweighted) mean of ``n`` rows it is ``s^2 / n`` with ``s^2`` the
    sample variance on ``n - 1`` degrees of freedom (Efron and Stein 1981).
    """
    n = loo.shape[0]
    return float((n - 1) / n * np.sum((loo - loo.mean()) ** 2))


def _jackknife_df(loo, n_eff) -> float:
    """Degrees of freedom of the jackknife variance: ``min(n_eff - 1, nu)``, at least 1.

    ``nu = 2 V^2 / sum (u_i - mean u)^2`` with ``u_i = (n - 1) / n (theta_(i) -
    mean theta_(.))^2`` and ``V = sum u_i`` matches the first two moments of
    ``V`` to a scaled chi-square (Satterthwaite 1946), estimating ``Var(V)`` from
    the spread of its terms: about ``n`` for normal rows with equal weights, small
    when a few rows carry the variance (a sparse multiplier ``g``, heavy-tailed
    outcomes or a few large weights). ``n_eff - 1`` (Kish) caps it.
    """
    n = loo.shape[0]
    u = (n - 1) / n * (loo - loo.mean()) ** 2
    spread = np.sum((u - u.mean()) ** 2)
    nu = 2 * np.sum(u) ** 2 / spread if spread > 0 else np.inf
    return float(max(min(n_eff - 1.0, nu), 1.0))


def ppi_power_tuning(y, f_gs, f_t, wn) -> float:
    """PPI++'s variance-minimising ``lam`` for a (weighted) mean, clipped to [0, 1].

    The estimate ``mean(lam f_t) + wmean(y - lam f_gs)`` has variance
    ``lam^2 Var(f_t) / N + (S_yy - 2 lam S_yf + lam^2 S_ff) / n`` with
    ``S_ab = mean(wn^2 (a - wmean a)(b - wmean b))`` and ``wn = w / mean(w)``;
    its minimiser is ``lam = S_yf / (S_ff + (n / N) Var(f_t))`` (Angelopoulos,
    Duchi and Zrnic 2023, Example 6.1, with importance weights).

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.inference import ppi_power_tuning
    >>> x = np.arange(10.0)
    >>> round(ppi_power_tuning(x, x, np.arange(1000.0) % 10, np.ones(10)), 3)
    0.99
    """
    n, N = y.shape[0], f_t.shape[0]
    yc = y - np.sum(wn * y) / np.sum(wn)
    fc = f_gs - np.sum(wn * f_gs) / np.sum(wn)
    s_yf = np.mean(wn**2 * yc * fc)
    s_ff = np.mean(wn**2 * fc * fc)
    return float(_power_tuning_lam(s_yf, s_ff, np.var(f_t), n / N))


def _power_tuning_lam(s_yf, s_ff, var_target, ratio):
    """``lam = S_yf / (S_ff + (n / N) Var(f_t))`` clipped to [0, 1] (0 if undefined).

    The minimiser of the PPI++ estimate's variance (Angelopoulos, Duchi and
    Zrnic 2023, Example 6.1); ``ratio = n / N``; works elementwise on arrays.
    """
    denom = s_ff + ratio * var_target
    ok = denom > 0
    return np.clip(np.where(ok, s_yf / np.where(ok, denom, 1.0), 0.0), 0.0, 1.0)


def _loo_power_tuning(y, f_gs, f_t, w) -> np.ndarray:
    """:func:`ppi_power_tuning`'s ``lam`` with each GS row left out in turn.

    Entry ``i`` is ``ppi_power_tuning(y[-i], f_gs[-i], f_t, w[-i])`` (GS row ``i``
    removed; the target queries kept), from sums over all rows minus row ``i``'s
    terms in O(n): with ``W = sum w`` and the weighted means over the ``n - 1``
    remaining rows, ``S_ab = (n - 1) / W^2 sum w^2 (a - mean a)(b - mean b)``.
    The jackknife of the PPI++ estimate re-tunes ``lam`` this way, so that its
    variance includes the tuning's: ``lam`` minimises the estimated variance, and
    the variance estimated at the tuned ``lam`` is optimistic, the more so the
    fewer effective GS rows (heavy importance weights).
    """

    loo = _loo_sums

    # centred at the full weighted means first (covariances do not change;
    # the sums then cancel less)
    yc = y - _weighted_mean(y, w)
    fc = f_gs - _weighted_mean(f_gs, w)
    w1, w2 = loo(w), loo(w**2)
    y_bar, f_bar = _loo_weighted_means(yc, w), _loo_weighted_means(fc, w)
    s_yf = loo(w**2 * yc * fc) - f_bar * loo(w**2 * yc) - y_bar * loo(w**2 * fc)
    s_ff = loo(w**2 * fc * fc) - 2 * f_bar * loo(w**2 * fc)
    m = y.shape[0] - 1
    scale = m / w1**2
    return _power_tuning_lam(
        scale * (s_yf + y_bar * f_bar * w2),
        scale * (s_ff + f_bar**2 * w2),
        np.var(f_t),
        m / f_t.shape[0],
    )


def top_share_rule(scores, pmur) -> float:
    """Threshold sending the top ``pmur`` share of ``scores`` to the premium model.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.inference import top_share_rule
    >>> top_share_rule(np.arange(10.0), 0.3)
    6.5
    """
    if isinstance(pmur, bool) or not np.isscalar(pmur) or not 0 < pmur < 1:
        raise ValueError(f"`pmur` must lie in (0, 1), got {pmur!r}.")
    s = np.sort(np.asarray(scores, dtype=float))[::-1]
    k = round(pmur * s.size)
    if k <= 0 or k >= s.size:
        raise ValueError(
            f"`pmur`={pmur} sends none or all of the {s.size} target queries to "
            "the premium model."
        )
    return float(0.5 * (s[k - 1] + s[k]))


def _top_share_policy(m_gs, m_t, pmur):
    """The rule ``pi`` at the GS rows and the target queries: the top ``pmur`` share.

    Premium above :func:`top_share_rule`'s threshold. When target scores tie at
    the cut no threshold sends exactly the top share; the queries at the tied
    score then go to the premium model with the probability that makes the
    target share exactly ``pmur`` (the expectation of random tie-breaking, as in
    :func:`metarouter.efficiency_curve`), so that ``pi`` is routing at that PMUR.
    """
    thr = top_share_rule(m_t, pmur)
    k = round(pmur * m_t.size)  # the number of target queries sent, as there
    tied = int(np.sum(m_t == thr))
    frac = (k - int(np.sum(m_t > thr))) / tied if tied else 0.0
    return tuple((m > thr) + frac * (m == thr) for m in (m_gs, m_t))


def _binary_scores(router, X, name: str) -> np.ndarray:
    """``router.predict(X)`` as one score per query (a ValueError naming ``name``)."""
    return check_binary_scores(
        router.predict(X),
        name,
        "the interval is for a binary router (premium or not), e.g. one of a "
        "MultiModelRouter's estimators_ (one model against the reference).",
    )


def router_interval(
    router,
    X_gs,
    r_gs,
    X_target,
    *,
    pmur,
    versus=None,
    weights=None,
    method="ppi",
    alpha=0.05,
    small_sample=True,
):
    """Interval for a fitted router's value on the target queries at a PMUR.

    The router sends the top ``pmur`` share of the target queries (by its
    ``predict``, the estimated gain ``m_hat``) to the premium model; the
    threshold is fixed from the target queries and applied to the GS rows.
    Queries whose score ties at the threshold go to the premium model with the
    probability that makes the target share exactly ``pmur`` (random
    tie-breaking, in expectation, as in :func:`metarouter.efficiency_curve`).

    Parameters
    ----------
    router : fitted regressor
        E.g. a :class:`~metarouter.MetaRouter`, fitted without these GS rows.
    X_gs, r_gs : array-like
        Held-out GS rows and their GS outcomes.
    X_target : array-like of shape (n_target, n_features)
        The (unlabelled) target queries.
    pmur : float in (0, 1)
        Primary-model usage ratio.
    versus : None, "random" or fitted router, default=None
        None: per-query efficiency ``E_target[pi m]``; ``"random"``: gain over
        random routing at the same PMUR, ``E_target[(pi - pmur) m]``; a router
        B: the paired difference ``E_target[(pi_A - pi_B) m]`` at the same PMUR.
    weights : array-like of shape (n_gs,), default=None
        Importance weights ``f_target / f_GS`` at the GS rows.
    method : {"ppi", "classical"}, default="ppi"
        PPI++ with ``router``'s ``m_hat`` as predictions, or GS rows alone.
    alpha : float, default=0.05
        One minus the nominal coverage.
    small_sample : bool, default=True
        See :func:`functional_interval`.

    Returns
    -------
    interval : Interval

    Examples
    --------
    >>> from metarouter import GSOnlyRouter
    >>> from metarouter.datasets import make_shift_data
    >>> from metarouter.inference import router_interval
    >>> data = make_shift_data(n_gs=400, n_pb=10, n_test=1000, random_state=0)
    >>> gs = data.source == 1
    >>> router = GSOnlyRouter(random_state=0).fit(data.X[gs][:200], data.y[gs][:200])
    >>> ci = router_interval(router, data.X[gs][200:], data.y[gs][200:],
    ...                      data.X_test, pmur=0.5, versus="random",
    ...                      weights=data.target_weight[gs][200:])
    >>> bool(ci.lower > 0)
    True
    """
    # shapes checked on arrays; the routers predict on the inputs as given, so
    # that a DataFrame's column names reach them (and are checked there)
    if np.ndim(X_gs) != 2 or np.shape(X_gs)[0] == 0:
        raise ValueError("`X_gs` has no GS rows: an interval needs labelled rows.")
    if np.ndim(X_target) != 2 or np.shape(X_target)[0] == 0:
        raise ValueError("`X_target` has no target queries.")
    check_lengths(X_gs=X_gs, r_gs=r_gs)
    m_gs = _binary_scores(router, X_gs, "router")
    m_t = _binary_scores(router, X_target, "router")
    g_gs, g_t = _top_share_policy(m_gs, m_t, pmur)
    if isinstance(versus, str):
        if versus != "random":
            raise ValueError(
                f"`versus` must be None, 'random' or a router, got {versus!r}."
            )
        g_gs, g_t = g_gs - pmur, g_t - pmur
    elif versus is not None:
        b_gs = _binary_scores(versus, X_gs, "versus")
        b_t = _binary_scores(versus, X_target, "versus")
        pi_b_gs, pi_b_t = _top_share_policy(b_gs, b_t, pmur)
        g_gs, g_t = g_gs - pi_b_gs, g_t - pi_b_t
    return functional_interval(
        g_gs,
        r_gs,
        m_hat_gs=m_gs,
        g_target=g_t,
        m_hat_target=m_t,
        weights=weights,
        method=method,
        alpha=alpha,
        small_sample=small_sample,
    )
