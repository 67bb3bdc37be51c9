"""Intervals for a router's value: formulas, bad input, Monte Carlo coverage."""

import warnings

import numpy as np
import pytest
import scipy.stats
from sklearn.linear_model import LinearRegression

from metarouter.inference import (
    MIN_NONZERO_ROWS,
    SmallSampleWarning,
    effective_sample_size,
    functional_interval,
    router_interval,
    top_share_rule,
)


def _sample(seed, n=150, N=1500):
    rng = np.random.default_rng(seed)
    x_gs = rng.normal(size=n)
    x_t = rng.normal(size=N)
    m = np.sin
    r = m(x_gs) + rng.normal(scale=0.5, size=n)
    return x_gs, x_t, r, m


def test_asymptotic_ppi_matches_its_formula():
    """small_sample=False: normal quantile and delta-method standard error."""
    x_gs, x_t, r, m = _sample(0)
    w = np.exp(0.3 * x_gs)  # arbitrary positive weights
    g_gs, g_t = (x_gs > 0).astype(float), (x_t > 0).astype(float)
    f_gs, f_t = g_gs * 0.8 * m(x_gs), g_t * 0.8 * m(x_t)
    ci = functional_interval(
        g_gs,
        r,
        m_hat_gs=0.8 * m(x_gs),
        g_target=g_t,
        m_hat_target=0.8 * m(x_t),
        weights=w,
        alpha=0.1,
        small_sample=False,
    )
    n, N = r.size, x_t.size
    wn = w / w.mean()
    y = g_gs * r

    def estimate_and_se(lam):
        # self-normalised weighted mean of the rectifier and its linearisation
        d = y - lam * f_gs
        rect = np.sum(w * d) / np.sum(w)
        est = np.mean(lam * f_t) + rect
        var = np.var(lam * f_t) / N + np.sum(wn**2 * (d - rect) ** 2) / n**2
        return est, np.sqrt(var)

    est, se = estimate_and_se(ci.lam)
    # closed form of the PPI++ estimate and its CLT interval: rounding only
    assert ci.estimate == pytest.approx(est, rel=1e-10)
    assert ci.se == pytest.approx(se, rel=1e-8)
    assert ci.upper - ci.estimate == pytest.approx(1.6448536269514722 * se, rel=1e-8)
    # power tuning: lam minimises the variance over [0, 1] (grid step 0.001:
    # the minimum of a quadratic is flat, so 1e-6 relative is rounding)
    grid = np.linspace(0, 1, 1001)
    best = min(estimate_and_se(lam)[1] for lam in grid)
    assert 0 < ci.lam <= 1
    assert se <= best * (1 + 1e-6)
    # lam = 0 is the classical (weighted mean) interval
    cl = functional_interval(
        g_gs, r, weights=w, method="classical", alpha=0.1, small_sample=False
    )
    est0, se0 = estimate_and_se(0.0)
    assert cl.estimate == pytest.approx(est0, rel=1e-10)
    assert cl.se == pytest.approx(se0, rel=1e-8)
    assert ci.width < cl.width


def test_unweighted_intervals_agree_with_ppi_py():
    """Without importance weights our estimators are ppi_py's (given our lam)."""
    ppi_py = pytest.importorskip("ppi_py")
    x_gs, x_t, r, m = _sample(3)
    g_gs, g_t = (x_gs > 0.3) - 0.4, (x_t > 0.3) - 0.4
    ci = functional_interval(
        g_gs, r, m_hat_gs=m(x_gs), g_target=g_t, m_hat_target=m(x_t), small_sample=False
    )
    lo, hi = ppi_py.ppi_mean_ci(
        g_gs * r, g_gs * m(x_gs), g_t * m(x_t), 0.05, lam=ci.lam
    )
    # the same closed forms: floating-point agreement
    assert (ci.lower, ci.upper) == pytest.approx((lo[0], hi[0]), rel=1e-10)
    cl = functional_interval(g_gs, r, method="classical", small_sample=False)
    lo, hi = ppi_py.classical_mean_ci(g_gs * r, alpha=0.05)
    assert (cl.lower, cl.upper) == pytest.approx((lo, hi), rel=1e-10)


def test_small_sample_classical_by_hand():
    """Tiny examples worked by hand (exact fractions; floating-point rounding only)."""
    # no weights: the textbook t-interval. y = (1, 2, 3, 6): mean 3, s^2 = 14/3,
    # se^2 = s^2 / 4 = 7/6, 3 degrees of freedom, t_{0.975, 3} = 3.182446305284263
    # (4 rows < MIN_NONZERO_ROWS = 5: the interval warns)
    with pytest.warns(SmallSampleWarning, match="4.0 effective GS rows"):
        ci = functional_interval(np.ones(4), [1.0, 2.0, 3.0, 6.0], method="classical")
    assert ci.n_nonzero == 4.0
    assert ci.estimate == pytest.approx(3.0, rel=1e-12)
    assert ci.se == pytest.approx(np.sqrt(7 / 6), rel=1e-12)
    assert ci.df == 3.0
    assert ci.upper - 3.0 == pytest.approx(3.182446305284263 * np.sqrt(7 / 6), rel=1e-9)
    # weights (1, 1, 2), y = (0, 1, 3): estimate 7/4; leave-one-out means 7/3, 2, 1/2
    # (mean 29/18, squared deviations (169 + 49 + 400) / 324), jackknife variance
    # 2/3 * 618/324 = 103/81; Kish n_eff = 16/6 = 8/3, so 5/3 degrees of freedom
    with pytest.warns(SmallSampleWarning):
        ci = functional_interval(
            np.ones(3), [0.0, 1.0, 3.0], weights=[1.0, 1.0, 2.0], method="classical"
        )
    assert ci.n_nonzero == pytest.approx(8 / 3, rel=1e-12)
    assert ci.estimate == pytest.approx(7 / 4, rel=1e-12)
    assert ci.se == pytest.approx(np.sqrt(103 / 81), rel=1e-12)
    assert ci.df == pytest.approx(5 / 3, rel=1e-12)
    # scaling the weights changes nothing (self-normalised)
    with pytest.warns(SmallSampleWarning):
        ci2 = functional_interval(
            np.ones(3), [0.0, 1.0, 3.0], weights=[5.0, 5.0, 10.0], method="classical"
        )
    assert (ci2.lower, ci2.upper) == pytest.approx((ci.lower, ci.upper), rel=1e-12)
    assert effective_sample_size([1.0, 1.0, 2.0]) == pytest.approx(8 / 3, rel=1e-12)
    # (the Satterthwaite df of these two examples, 8 and 12, exceed n_eff - 1.)
    # One row carries the variance: y = (0, 0, 0, 0, 0, 1). Leave-one-out means
    # 1/5 (five times) and 0, mean 1/6; u_i = 5/6 (theta_(i) - 1/6)^2 = 1/1080 (five
    # times) and 25/1080, V = 30/1080 = 1/36 (= s^2 / n); sum (u - mean u)^2 =
    # (5 * 16 + 400) / 1080^2, so nu = 2 V^2 / that = 1800 / 480 = 3.75 < n - 1 = 5
    ci = functional_interval(np.ones(6), [0.0] * 5 + [1.0], method="classical")
    assert ci.estimate == pytest.approx(1 / 6, rel=1e-12)
    assert ci.se == pytest.approx(1 / 6, rel=1e-12)
    assert ci.df == pytest.approx(3.75, rel=1e-12)


def test_conditional_classical_by_hand():
    """Paired-style g in {-1, 0, 1}: condition on the rows with g != 0 (by hand)."""
    g = np.array([1.0, 0, -1, 1, 0, 1, -1])
    r = np.array([2.0, 5, -1, 0, 7, 4, -3])
    g_t = np.array([1.0, 0, 0, -1, 0, 1, 0, 0, 0, 0])  # 3 of 10 target rows active
    ci = functional_interval(g, r, g_target=g_t, method="classical")
    # rows with g != 0: contributions g r = (2, 1, 0, 4, 3), mean 2, K = 5;
    # leave-one-out means (10 - c) / 4 = (2, 2.25, 2.5, 1.5, 1.75), jackknife
    # variance 4/5 * (0 + 1/16 + 1/4 + 1/4 + 1/16) = 1/2 (= s^2 / K, s^2 = 5/2);
    # u = (0, 1, 4, 4, 1) / 20, sum (u - 1/10)^2 = 7/200, Satterthwaite nu =
    # 2 (1/2)^2 / (7/200) = 100/7 > K - 1 = 4, so the rows' df is 4.
    # Target: share 3/10, estimate 3/10 * 2 = 3/5; the target part 2 * 1[g_t != 0]
    # has sample variance (3 * 1.4^2 + 7 * 0.6^2) / 9 = 28/30, over N = 10: 7/75.
    var_gs, var_t = (3 / 10) ** 2 / 2, 7 / 75
    df = (var_gs + var_t) ** 2 / (var_gs**2 / 4 + var_t**2 / 9)
    assert ci.n_nonzero == 5.0
    assert ci.estimate == pytest.approx(3 / 5, rel=1e-12)
    assert ci.se == pytest.approx(np.sqrt(var_gs + var_t), rel=1e-12)
    assert ci.df == pytest.approx(df, rel=1e-12)
    half = scipy.stats.t.ppf(0.975, df) * np.sqrt(var_gs + var_t)
    assert ci.upper - ci.estimate == pytest.approx(half, rel=1e-9)
    # without g_target: the unconditional mean over all 7 rows (10/7)
    ci_u = functional_interval(g, r, method="classical")
    assert ci_u.estimate == pytest.approx(10 / 7, rel=1e-12)


def _power_tuning_by_loops(y, f, f_t, w):
    """PPI++'s lam (Angelopoulos, Duchi and Zrnic 2023, Example 6.1, weighted),
    written out with loops: lam = S_yf / (S_ff + n / N Var(f_t)), clipped to
    [0, 1], S_ab = mean(wn^2 (a - a_bar)(b - b_bar)), wn = w / mean(w)."""
    n, N = len(y), len(f_t)
    wn = [v * n / sum(w) for v in w]
    y_bar = sum(a * b for a, b in zip(wn, y)) / sum(wn)
    f_bar = sum(a * b for a, b in zip(wn, f)) / sum(wn)
    s_yf = sum(v * v * (a - y_bar) * (b - f_bar) for v, a, b in zip(wn, y, f)) / n
    s_ff = sum(v * v * (b - f_bar) ** 2 for v, b in zip(wn, f)) / n
    ft_bar = sum(f_t) / N
    var_t = sum((v - ft_bar) ** 2 for v in f_t) / N
    return min(max(s_yf / (s_ff + n / N * var_t), 0.0), 1.0)


def test_small_sample_ppi_by_brute_force():
    """Leave each GS row with g != 0 out in turn, re-tune lam without it, by loops."""
    x_gs, x_t, r, m = _sample(4, n=40, N=300)
    w = np.exp(0.5 * x_gs)
    g_gs, g_t = (x_gs > 0).astype(float), (x_t > 0).astype(float)
    f_gs, f_t = g_gs * 0.8 * m(x_gs), g_t * 0.8 * m(x_t)
    y = g_gs * r
    ci = functional_interval(
        g_gs,
        r,
        m_hat_gs=0.8 * m(x_gs),
        g_target=g_t,
        m_hat_target=0.8 * m(x_t),
        weights=w,
    )
    N, n = len(f_t), len(y)
    lam = _power_tuning_by_loops(y, f_gs, f_t, w)
    assert 0 < lam < 1  # not clipped: the test exercises the formula
    on = [i for i in range(n) if g_gs[i] != 0]
    k = len(on)
    wo = [w[i] for i in on]

    def mean_on(lam_, out=None):
        # weighted mean of the contributions y - lam f over the rows with g != 0
        rows = [i for i in on if i != out]
        num = sum(w[i] * (y[i] - lam_ * f_gs[i]) for i in rows)
        return num / sum(w[i] for i in rows)

    mu, share = mean_on(lam), np.mean(g_t != 0)
    loo = []
    for j in on:  # the whole estimate without GS row j, lam re-tuned without it
        keep = [i for i in range(n) if i != j]
        lam_j = _power_tuning_by_loops(y[keep], f_gs[keep], f_t, w[keep])
        loo.append(lam_j * np.mean(f_t) + share * mean_on(lam_j, out=j))
    loo = np.array(loo)
    var_gs = (k - 1) / k * np.sum((loo - loo.mean()) ** 2)
    u = (k - 1) / k * (loo - loo.mean()) ** 2
    df_gs = min(
        sum(wo) ** 2 / sum(v * v for v in wo) - 1,
        2 * var_gs**2 / np.sum((u - u.mean()) ** 2),
    )
    target = lam * f_t + mu * (g_t != 0)
    var_t = np.var(target, ddof=1) / N
    df = (var_gs + var_t) ** 2 / (var_gs**2 / df_gs + var_t**2 / (N - 1))
    # the same closed forms evaluated two ways: floating-point agreement
    assert ci.lam == pytest.approx(lam, rel=1e-10)
    assert ci.n_nonzero == pytest.approx(sum(wo) ** 2 / sum(v * v for v in wo))
    assert ci.estimate == pytest.approx(lam * np.mean(f_t) + share * mu, rel=1e-10)
    assert ci.se == pytest.approx(np.sqrt(var_gs + var_t), rel=1e-8)
    assert ci.df == pytest.approx(df, rel=1e-8)
    assert ci.upper - ci.estimate == pytest.approx(
        scipy.stats.t.ppf(0.975, df) * ci.se, rel=1e-8
    )
    # g never zero (gain over random routing): the same over all GS rows
    ci = functional_interval(
        g_gs - 0.5,
        r,
        m_hat_gs=0.8 * m(x_gs),
        g_target=g_t - 0.5,
        m_hat_target=0.8 * m(x_t),
        weights=w,
    )
    y, f_gs, f_t = (g_gs - 0.5) * r, (g_gs - 0.5) * 0.8 * m(x_gs), f_t - 0.4 * m(x_t)
    lam = _power_tuning_by_loops(y, f_gs, f_t, w)
    loo = []
    for j in range(n):
        keep = [i for i in range(n) if i != j]
        lam_j = _power_tuning_by_loops(y[keep], f_gs[keep], f_t, w[keep])
        num = sum(w[i] * (y[i] - lam_j * f_gs[i]) for i in keep)
        loo.append(lam_j * np.mean(f_t) + num / sum(w[i] for i in keep))
    var_gs = (n - 1) / n * np.sum((np.array(loo) - np.mean(loo)) ** 2)
    var_t = lam**2 * np.var(f_t, ddof=1) / N
    assert ci.lam == pytest.approx(lam, rel=1e-10)
    assert ci.se == pytest.approx(np.sqrt(var_gs + var_t), rel=1e-8)


@pytest.mark.parametrize("big", [1e16, 1e17, 1e20])
def test_one_dominant_weight_gives_the_direct_jackknife(big):
    """One importance weight ``big`` times the others: the jackknife is finite.

    Before: the leave-one-out sums ``S_w - w_i`` cancelled to 0 (NaN bounds at
    1e17, with only a RuntimeWarning) or to rounding noise (a wrong se at 1e16).
    Compared with the jackknife written out by deleting each row (``np.delete``,
    no differences of sums): both are sums of the same terms in another order,
    so they agree to floating-point rounding (measured worst 1.3e-15 relative over
    n = 10-100, weights 1e3-1e30); rel=1e-9 leaves room for other platforms.
    """
    rng = np.random.default_rng(3)
    n, N = 10, 200
    r = rng.normal(size=n)
    f = r + rng.normal(scale=0.3, size=n)
    f_t = rng.normal(size=N)
    w = np.exp(rng.normal(size=n))
    w[0] *= big
    with pytest.warns(SmallSampleWarning, match="importance weights"):
        ci = functional_interval(np.ones(n), r, weights=w, method="classical")
    wn = w / w.mean()
    loo = np.array(
        [np.sum(np.delete(wn * r, i)) / np.sum(np.delete(wn, i)) for i in range(n)]
    )
    assert np.isfinite([ci.lower, ci.upper]).all()
    var_gs = (n - 1) / n * np.sum((loo - loo.mean()) ** 2)
    assert ci.se == pytest.approx(np.sqrt(var_gs), rel=1e-9)
    # PPI++: lam re-tuned without each row, by loops
    with pytest.warns(SmallSampleWarning, match="importance weights"):
        ci = functional_interval(
            np.ones(n), r, m_hat_gs=f, g_target=np.ones(N), m_hat_target=f_t, weights=w
        )
    loo = []
    for j in range(n):
        keep = np.arange(n) != j
        lam_j = _power_tuning_by_loops(r[keep], f[keep], f_t, w[keep])
        d = np.delete(wn * (r - lam_j * f), j)
        loo.append(lam_j * np.mean(f_t) + np.sum(d) / np.sum(np.delete(wn, j)))
    var_gs = (n - 1) / n * np.sum((np.array(loo) - np.mean(loo)) ** 2)
    var_t = ci.lam**2 * np.var(f_t, ddof=1) / N
    assert np.isfinite([ci.lower, ci.upper]).all()
    assert ci.se == pytest.approx(np.sqrt(var_gs + var_t), rel=1e-9)


def test_warning_names_the_reason():
    r = np.linspace(1.0, 2.0, 100)
    g = np.zeros(100)
    g[:4] = 1.0
    with pytest.warns(SmallSampleWarning, match="non-zero multiplier g"):
        ci = functional_interval(g, r, g_target=np.r_[1.0, 0.0], method="classical")
    assert ci.n_nonzero == 4.0
    g[4] = -1.0  # 5 rows: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        assert functional_interval(g, r, method="classical").n_nonzero == 5.0
    # 20 rows with g != 0, but one weight dominates: Kish n_eff (20 + 99)^2 /
    # (19 + 100^2) = 1.41 < 5
    w = np.ones(100)
    g[:20] = 1.0
    w[0] = 100.0
    with pytest.warns(SmallSampleWarning, match="importance weights"):
        ci = functional_interval(g, r, weights=w, method="classical")
    assert ci.n_nonzero == pytest.approx(119**2 / (19 + 100**2), rel=1e-12)
    assert MIN_NONZERO_ROWS == 5


@pytest.mark.parametrize("mu", [0.0, 1.0])
def test_coverage_sparse_contributions(mu):
    """g non-zero (+-1) on 5% of 200 GS rows (~10 rows), E[g r | g != 0] = mu.

    The unconditional t-interval (no ``g_target``) fails both ways on these draws:
    0.987 for mu = 0 (symmetric non-zero contributions: the studentised mean of a
    few non-zero rows is bounded, Efron 1969) and 0.924 for mu = 1 (skewed by the
    binomial count of non-zero rows). Conditioning on the rows with g != 0 (a
    t-interval on those rows, their target share from the target queries)
    measures 0.952 / 0.951. 1000 replications, binomial sd 0.0069: [0.93, 0.97]
    is +-2.9 sd around 0.95."""
    rng = np.random.default_rng(11)
    reps, n, N, p = 1000, 200, 1000, 0.05
    hits = 0
    for _ in range(reps):
        g = np.where(rng.random(n) < p, np.where(rng.random(n) < 0.5, -1.0, 1.0), 0)
        g_t = np.where(rng.random(N) < p, 1.0, 0.0)
        r = mu * g + rng.normal(size=n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallSampleWarning)  # K < 5: ~3%
            ci = functional_interval(g, r, g_target=g_t, method="classical")
        hits += ci.lower <= p * mu <= ci.upper
    assert 0.93 <= hits / reps <= 0.97, hits / reps


def test_coverage_tuned_lam_heavy_weights():
    """PPI++ where tuning lam matters: dense g, outcome x + noise on GS queries
    x ~ N(1, 1) against target queries x ~ N(0, 1) (weights log-normal with sd 1,
    correlated with the outcome), m_hat = x, 50 GS rows: lam ~ 0.9, and the
    estimate's error is dominated by (lam_hat - lam) (mean_target m_hat - weighted
    mean_GS m_hat), a product of two errors that a jackknife holding lam fixed
    leaves out. Measured on these draws: lam held fixed 0.906 (mean se^2 / Monte
    Carlo variance 0.76), lam re-tuned in each leave-one-out sample 0.941 (1.13;
    the classical interval: 0.896, the weights' unseen tail). 1000 replications,
    binomial sd 0.0069: [0.93, 0.97] is +-2.9 sd around 0.95."""
    rng = np.random.default_rng(21)
    reps, n, N = 1000, 50, 1000
    hits = 0
    for _ in range(reps):
        x, x_t = rng.normal(1.0, 1.0, size=n), rng.normal(size=N)
        r = x + rng.normal(scale=0.5, size=n)
        ci = functional_interval(
            np.ones(n),
            r,
            m_hat_gs=x,
            g_target=np.ones(N),
            m_hat_target=x_t,
            weights=np.exp(-x + 0.5),
        )
        hits += ci.lower <= 0.0 <= ci.upper
    assert 0.93 <= hits / reps <= 0.97, hits / reps


def test_top_share_rule_sends_the_top_share():
    scores = np.random.default_rng(1).normal(size=1000)
    thr = top_share_rule(scores, 0.3)
    assert np.mean(scores > thr) == 0.3


class _RoundedRouter:
    """A fitted router whose predictions tie: ``round(x)`` of the one feature."""

    def predict(self, X):
        return np.round(np.asarray(X, dtype=float)[:, 0])


@pytest.mark.filterwarnings("ignore::metarouter.inference.SmallSampleWarning")
def test_router_interval_splits_ties_at_the_cut():
    """Scores tied at the threshold share the premium calls, so PMUR is ``pmur``.

    Target scores 2 (10 queries), 1 (20), 0 (10): at ``pmur=0.5`` the top 20
    are the 10 twos and half of the ones. Before, ``score > threshold`` sent
    the twos only (PMUR 0.25). Asymptotic classical interval, so the estimate
    is the plain mean of ``pi r`` over the GS rows, by hand; tolerance 1e-12:
    the same few sums, rounding only.
    """
    x_t = np.r_[np.full(10, 2.0), np.full(20, 1.0), np.zeros(10)][:, None]
    x_gs = np.array([2.0, 1.0, 1.0, 0.0, 2.0, 1.0])[:, None]
    r = np.array([1.0, 2.0, -1.0, 3.0, 0.5, 4.0])
    pi = np.array([1.0, 0.5, 0.5, 0.0, 1.0, 0.5])  # the twos, half of each one
    ci = router_interval(
        _RoundedRouter(),
        x_gs,
        r,
        x_t,
        pmur=0.5,
        method="classical",
        small_sample=False,
    )
    assert ci.estimate == pytest.approx(np.mean(pi * r), abs=1e-12)
    gain = router_interval(
        _RoundedRouter(),
        x_gs,
        r,
        x_t,
        pmur=0.5,
        versus="random",
        method="classical",
        small_sample=False,
    )
    assert gain.estimate == pytest.approx(np.mean((pi - 0.5) * r), abs=1e-12)


def test_constant_router_is_random_routing():
    """A router with one score for every query routes at random: gain exactly 0.

    Before, no query was sent (``score > threshold`` never holds) and the gain
    over random routing was ``-pmur`` times the mean outcome. Exact: every
    multiplier is ``pmur - pmur = 0``.
    """
    x_gs, x_t, r, _ = _sample(3, n=40, N=100)
    router = _RoundedRouter()  # every |x| < 0.5 below: the score is 0 for all
    x_gs, x_t = 0.1 * np.tanh(x_gs), 0.1 * np.tanh(x_t)
    with pytest.warns(SmallSampleWarning):
        ci = router_interval(
            router,
            x_gs[:, None],
            r,
            x_t[:, None],
            pmur=0.3,
            versus="random",
            method="classical",
        )
    assert ci.estimate == 0.0
    assert ci.lower <= 0.0 <= ci.upper


def test_router_interval_passes_dataframes_to_the_router():
    """Feature names reach the router: reordered columns are an error.

    Before, ``X_gs`` and ``X_target`` were turned into arrays first, so columns
    in another order than in fit were silently read as the wrong features (a
    different estimate, only sklearn's "no valid feature names" warning).
    Same columns: exactly the interval of the arrays.
    """
    pd = pytest.importorskip("pandas")
    from metarouter import GSOnlyRouter

    rng = np.random.default_rng(0)
    cols = ["a", "b"]
    X = pd.DataFrame(rng.normal(size=(200, 2)), columns=cols)
    router = GSOnlyRouter(LinearRegression()).fit(X, X["a"])
    X_gs = pd.DataFrame(rng.normal(size=(60, 2)), columns=cols)
    X_t = pd.DataFrame(rng.normal(size=(300, 2)), columns=cols)
    r = X_gs["a"].to_numpy() + rng.normal(size=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-name warning either
        ci = router_interval(router, X_gs, r, X_t, pmur=0.5, method="classical")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # arrays have no names
        ref = router_interval(
            router, X_gs.to_numpy(), r, X_t.to_numpy(), pmur=0.5, method="classical"
        )
    assert (ci.estimate, ci.lower, ci.upper) == (ref.estimate, ref.lower, ref.upper)
    with pytest.raises(ValueError, match="feature names"):
        router_interval(
            router, X_gs[["b", "a"]], r, X_t[["b", "a"]], pmur=0.5, method="classical"
        )


def test_bad_input_names_the_argument():
    x_gs, x_t, r, _ = _sample(2, n=20, N=30)
    g = np.ones(20)
    for bad in (np.r_[0.0, np.ones(19)], np.r_[np.inf, np.ones(19)], -np.ones(20)):
        with pytest.raises(ValueError, match="`weights`"):
            functional_interval(g, r, weights=bad, method="classical")
    with pytest.raises(TypeError, match="`small_sample`"):
        functional_interval(g, r, method="classical", small_sample="yes")
    with pytest.raises(ValueError, match="`r_gs`"):
        functional_interval(g[:1], r[:1], method="classical")
    with pytest.raises(ValueError, match="`g_target`"):
        functional_interval(
            g, r, m_hat_gs=r, g_target=np.ones(1), m_hat_target=np.ones(1)
        )
    router = LinearRegression().fit(x_gs[:, None], r)
    with pytest.raises(ValueError, match="`X_gs`"):
        router_interval(router, np.empty((0, 1)), [], x_t[:, None], pmur=0.5)
    with pytest.raises(ValueError, match="`X_target`"):
        router_interval(router, x_gs[:, None], r, np.empty((0, 1)), pmur=0.5)
    with pytest.raises(ValueError, match="`pmur`"):
        router_interval(router, x_gs[:, None], r, x_t[:, None], pmur=1.0)


def _coverage(reps, shift, seed=0, n=200, N=2000):
    """Coverage of the 95% intervals of E_target[g m] for three multipliers."""
    rng = np.random.default_rng(seed)
    m = lambda x: np.tanh(x[:, 0]) + 0.5 * np.sin(2 * x[:, 1])
    m_hat = lambda x: 0.7 * np.tanh(x[:, 0]) + 0.2 * x[:, 1]
    big = rng.normal(size=(400_000, 2))
    thr = np.quantile(m_hat(big), 0.6)  # PMUR 0.4, fixed before the replications
    thr_b = np.quantile(big[:, 1], 0.6)  # router B ranks by feature 1 alone
    rules = {
        "efficiency": lambda x: (m_hat(x) > thr).astype(float),
        "gain": lambda x: (m_hat(x) > thr) - 0.4,
        "paired": lambda x: (m_hat(x) > thr).astype(float) - (x[:, 1] > thr_b),
    }
    truth = {k: float(np.mean(g(big) * m(big))) for k, g in rules.items()}
    hits = {(k, meth): 0 for k in rules for meth in ("classical", "ppi")}
    for _ in range(reps):
        x_gs = rng.normal(size=(n, 2))
        x_gs[:, 0] += shift
        w = np.exp(-shift * x_gs[:, 0] + shift**2 / 2) if shift else None
        x_t = rng.normal(size=(N, 2))
        r = m(x_gs) + rng.normal(scale=0.5, size=n)
        for k, g in rules.items():
            for meth in ("classical", "ppi"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SmallSampleWarning)
                    ci = functional_interval(
                        g(x_gs),
                        r,
                        m_hat_gs=m_hat(x_gs),
                        g_target=g(x_t),
                        m_hat_target=m_hat(x_t),
                        weights=w,
                        method=meth,
                    )
                hits[k, meth] += ci.lower <= truth[k] <= ci.upper
    return {key: h / reps for key, h in hits.items()}


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_coverage_quick(shift):
    """200 replications: the binomial sd of a 95% coverage is 0.0154, so
    [0.90, 0.99] is about +-3 sd around 0.95 (the slow test uses 500 and [93, 97])."""
    cov = _coverage(200, shift, seed=1)
    for key, c in cov.items():
        assert 0.90 <= c <= 0.99, (key, c)


@pytest.mark.slow
@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_coverage_500_replications(shift):
    """The issue's criterion: 500 replications, coverage in [93%, 97%] (binomial
    sd 0.0097, so a correct 95% interval lands there with probability ~0.96)."""
    cov = _coverage(500, shift, seed=2)
    for key, c in cov.items():
        assert 0.93 <= c <= 0.97, (key, c)


@pytest.mark.slow
def test_coverage_small_samples_heavy_weights():
    """50 GS rows, GS queries shifted 1 sd (weights log-normal with sd 1, Kish n_eff
    about 50 / e = 18): 1000 replications, binomial sd 0.0069, the issue's band
    [0.93, 0.97] (+-2.9 sd). Measured 0.939-0.952 (seed 7) and 0.952-0.964 (seed
    8); the paired interval (g non-zero on ~20% of rows) measured 0.921 / 0.942
    with the unconditional jackknife-t (the previous default) and 0.872 with the
    asymptotic interval. Draws with fewer than 5 effective rows with g != 0 warn
    (SmallSampleWarning) and count here like the others."""
    cov = _coverage(1000, 1.0, seed=7, n=50)
    for key, c in cov.items():
        assert 0.93 <= c <= 0.97, (key, c)
