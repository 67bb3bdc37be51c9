"""Simulated GS/PB routing data with known ``m``, ``eta``, ``Delta`` and propensity.

The design follows the Meta-Router paper's simulation study (section 4) with a known truth
in place of HealthBench:

1. Raw query embeddings in ``D = max(64, 2 d)`` dimensions come from a Gaussian
   mixture of 6 "topics" with a shared covariance (low rank plus isotropic).
   GS queries, PB queries and test queries draw topics with different weights
   (GS favours the first topics, PB the last, test traffic is the 50/50 blend),
   so the GS and PB query distributions differ and the propensity is not
   constant; every topic has positive weight in both, so overlap holds.
2. All embeddings are reduced to ``d`` dimensions by PCA (as the paper's
   ``gemini-embedding`` vectors). A linear map of a Gaussian mixture is a
   Gaussian mixture, so the GS and PB densities of the reduced ``X`` are known
   exactly and the propensity ``p(x) = kappa f_GS(x) / (kappa f_GS(x) + (1 - kappa)
   f_PB(x))`` (Lemma 1, ``kappa = n_gs / (n_gs + n_pb)``) is exact.
3. With ``z_j`` the j-th PCA score divided by its standard deviation, the GS
   quality gain is ``m0(x) = 0.45 tanh(1.5 h(x))`` with
   ``h = 0.7 z1 + 0.7 sin(1.5 z2) + 0.6 tanh(z3) + 0.6 tanh(z4) - 0.6 tanh(z5)``
   (PB scale). The PB judge's bias is ``b(x)``: ``0.1 + 0.4 tanh(2 z4)``
   ("heterogeneous": the judge over-rates the premium model on one side of the
   embedding and under-rates it on the other; since ``m0`` increases in ``z4``
   and ``b`` increases faster, the bias reverses the ranking of queries along
   ``z4``, so a router trained on uncorrected PB labels routes the wrong
   queries, as the Meta-Router paper reports for the pooled router), ``0.35``
   ("homogeneous": a constant offset, which leaves the ranking intact) or ``0``
   ("none"), and the PB mechanism is ``eta(x) = m0(x) - b(x)``, which stays in
   ``[-0.95, 0.95]``. The shift is a simpler function than ``m`` (one
   coordinate), which is what lets a few GS rows correct many PB rows.
4. PB outcomes are in {-1, 0, 1}: ``P(y = 0) = 0.05``,
   ``P(y = +-1) = (0.95 +- eta(x)) / 2``, so ``E[y | x] = eta(x)``.
   GS outcomes are ``r = gs_scale (m0(x) + e)``, ``e ~ N(0, 0.4^2)``: expert
   scores are less noisy than single preference votes. With ``gs_scale = 1``
   both sources share one scale, so ``MetaRouter(scale=None)`` is the matched
   setting; variance alignment (Remark 1(2)) reads the PB outcomes' larger
   spread as a scale difference (it estimates ``c`` about 1.7 here).

Reported truths: ``m = gs_scale m0`` (GS scale), ``eta``, ``delta = m - eta`` (the
paper's ``Delta``; equals ``b`` when ``gs_scale = 1``) and ``shift = m0 - eta = b``,
the bias after ideal scale alignment (what a meta-router's step 1 estimates
when its scale constant is ``1 / gs_scale``).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.special import expit, logsumexp
from sklearn.utils import check_random_state

from metarouter._routing_data import RoutingData, _check_count
from metarouter.shift_data import make_gs_pb_data, make_shift_data

__all__ = [
    "NIE_WAGER_SETUPS",
    "RoutingData",
    "make_gs_pb_data",
    "make_nie_wager_data",
    "make_routing_data",
    "make_shift_data",
]

_PI_GS = np.array([0.25, 0.20, 0.20, 0.15, 0.10, 0.10])
_PI_PB = _PI_GS[::-1].copy()
_PI_TEST = 0.5 * (_PI_GS + _PI_PB)
_TIE_RATE = 0.05
_GS_NOISE = 0.4
_M_AMP = 0.45
_B_MEAN = 0.1
_B_AMP = 0.4
_B_HOMOGENEOUS = 0.35
_BIASES = ("heterogeneous", "homogeneous", "none")


def _mixture_logpdf(X, means, weights, chol) -> np.ndarray:
    """log sum_k w_k N(x; mu_k, S) up to the shared normalising constant."""
    terms = []
    for mu, w in zip(means, weights):
        diff = (X - mu).T
        maha = np.sum(diff * cho_solve(chol, diff), axis=0)
        terms.append(np.log(w) - 0.5 * maha)
    return logsumexp(np.vstack(terms), axis=0)


def _m0(z: np.ndarray) -> np.ndarray:
    h = (
        0.7 * z[:, 0]
        + 0.7 * np.sin(1.5 * z[:, 1])
        + 0.6 * np.tanh(z[:, 2])
        + 0.6 * np.tanh(z[:, 3])
        - 0.6 * np.tanh(z[:, 4])
    )
    return _M_AMP * np.tanh(1.5 * h)


def _bias(z: np.ndarray, bias: str) -> np.ndarray:
    if bias == "heterogeneous":
        return _B_MEAN + _B_AMP * np.tanh(2.0 * z[:, 3])
    if bias == "homogeneous":
        return np.full(z.shape[0], _B_HOMOGENEOUS)
    return np.zeros(z.shape[0])


def make_routing_data(
    n_gs: int = 100,
    n_pb: int = 2000,
    n_test: int = 500,
    d: int = 50,
    *,
    bias: str = "heterogeneous",
    gs_scale: float = 1.0,
    random_state=None,
) -> RoutingData:
    """Simulate GS and PB training data and a GS-labelled test set.

    Parameters
    ----------
    n_gs, n_pb, n_test : int, default=100, 2000, 500
        Numbers of GS training rows, PB training rows and test queries.
    d : int, default=50
        Embedding dimension after PCA (at least 5).
    bias : {"heterogeneous", "homogeneous", "none"}, default="heterogeneous"
        The PB bias design (see the module docstring).
    gs_scale : float, default=1.0
        GS outcomes are ``gs_scale`` times the PB scale (Remark 1).
    random_state : int, RandomState or None, default=None
        Seed.

    Returns
    -------
    data : RoutingData
        Frozen dataclass of arrays and truths.

    Examples
    --------
    >>> from metarouter.datasets import make_routing_data
    >>> data = make_routing_data(n_gs=50, n_pb=200, n_test=100, d=10, random_state=0)
    >>> data.X.shape, int(data.source.sum()), sorted(set(data.y[data.source == 0].tolist()))
    ((250, 10), 50, [-1.0, 0.0, 1.0])
    """
    n_gs = _check_count(n_gs, "n_gs", 1)
    n_pb = _check_count(n_pb, "n_pb", 0)
    n_test = _check_count(n_test, "n_test", 1)
    d = _check_count(d, "d", 5)
    if bias not in _BIASES:
        raise ValueError(f"`bias` must be one of {_BIASES}, got {bias!r}.")
    if (
        isinstance(gs_scale, bool)
        or not isinstance(gs_scale, numbers.Real)
        or not (np.isfinite(gs_scale) and gs_scale > 0)
    ):
        raise ValueError(f"`gs_scale` must be a positive number, got {gs_scale!r}.")
    n_total = n_gs + n_pb + n_test
    if d >= n_total:
        raise ValueError(
            f"`d` ({d}) must be smaller than the total number of queries ({n_total})."
        )
    rng = check_random_state(random_state)
    raw_dim = max(64, 2 * d)
    n_topics = _PI_GS.size

    # 1. raw embeddings: topic means plus shared low-rank + isotropic covariance
    means = rng.normal(scale=np.sqrt(0.15), size=(n_topics, raw_dim))
    loadings = rng.normal(scale=0.5, size=(raw_dim, 8))
    iso = 0.3
    cov = loadings @ loadings.T + iso * np.eye(raw_dim)

    def draw(n, weights):
        topics = rng.choice(n_topics, size=n, p=weights)
        noise = rng.normal(size=(n, 8)) @ loadings.T + np.sqrt(iso) * rng.normal(
            size=(n, raw_dim)
        )
        return means[topics] + noise

    raw = np.vstack([draw(n_gs, _PI_GS), draw(n_pb, _PI_PB), draw(n_test, _PI_TEST)])

    # 2. PCA to d dimensions, and the exact reduced mixture densities
    center = raw.mean(axis=0)
    _, sing, vt = np.linalg.svd(raw - center, full_matrices=False)
    proj = vt[:d].T
    scores = (raw - center) @ proj
    sd = sing[:d] / np.sqrt(n_total - 1)
    red_means = (means - center) @ proj
    chol = cho_factor(proj.T @ cov @ proj)
    kappa = n_gs / (n_gs + n_pb)
    log_gs = _mixture_logpdf(scores, red_means, _PI_GS, chol)
    log_pb = _mixture_logpdf(scores, red_means, _PI_PB, chol)
    if n_pb == 0:
        propensity = np.ones(n_total)
    else:
        propensity = expit(np.log(kappa) + log_gs - np.log1p(-kappa) - log_pb)

    # 3. the truth as functions of the reduced embedding
    z = scores[:, :5] / sd[:5]
    m0 = _m0(z)
    b = _bias(z, bias)
    eta = m0 - b
    m = gs_scale * m0

    # 4. outcomes
    r_all = gs_scale * (m0 + rng.normal(scale=_GS_NOISE, size=n_total))
    u = rng.uniform(size=n_total)
    p_up = (1.0 - _TIE_RATE + eta) / 2.0
    p_down = (1.0 - _TIE_RATE - eta) / 2.0
    y_pb = np.where(u < p_up, 1.0, np.where(u < p_up + p_down, -1.0, 0.0))

    n_train = n_gs + n_pb
    train, test = slice(0, n_train), slice(n_train, n_total)
    source = np.r_[np.ones(n_gs, dtype=np.int64), np.zeros(n_pb, dtype=np.int64)]
    y = np.where(source == 1, r_all[train], y_pb[train])
    return RoutingData(
        X=scores[train],
        y=y,
        source=source,
        y_oracle=r_all[train].copy(),
        m=m[train],
        eta=eta[train],
        delta=(m - eta)[train],
        shift=b[train],
        propensity=propensity[train],
        X_test=scores[test],
        r_test=r_all[test],
        m_test=m[test],
        eta_test=eta[test],
        delta_test=(m - eta)[test],
        gs_scale=float(gs_scale),
        bias=bias,
    )


NIE_WAGER_SETUPS = ("A", "B", "C", "D")


def make_nie_wager_data(
    setup: str, n: int, d: int = 6, sigma: float = 1.0, random_state=None
):
    """Nie & Wager (2021), section 6 setups: ``X, y, t, tau`` with a known CATE.

    ``y = b(X) + (t - 0.5) tau(X) + sigma eps`` with ``t ~ Bernoulli(e(X))``:

    - A: ``X ~ U[0, 1]^d``, ``b = sin(pi x1 x2) + 2 (x3 - 0.5)^2 + x4 + 0.5 x5``,
      ``e = trim_0.1(sin(pi x1 x2))``, ``tau = (x1 + x2) / 2``.
    - B: ``X ~ N(0, I)``, ``b = max(0, x1 + x2, x3) + max(0, x4 + x5)``, ``e = 1/2``,
      ``tau = x1 + log(1 + exp(x2))``.
    - C: ``X ~ N(0, I)``, ``b = 2 log(1 + exp(x1 + x2 + x3))``,
      ``e = 1 / (1 + exp(x2 + x3))``, ``tau = 1``.
    - D: ``X ~ N(0, I)``, ``b = (max(0, x1 + x2 + x3) + max(0, x4 + x5)) / 2``,
      ``e = 1 / (1 + exp(-x1) + exp(-x2))``, ``tau = max(0, x1 + x2 + x3) - max(0, x4 + x5)``.

    Parameters
    ----------
    setup : {"A", "B", "C", "D"}
        The design.
    n : int
        Number of rows (at least 1).
    d : int, default=6
        Number of covariates (at least 5).
    sigma : float, default=1.0
        Noise standard deviation (finite, at least 0).
    random_state : int, Generator or None, default=None
        Seed (``numpy.random.default_rng``).

    Returns
    -------
    X, y, t, tau : ndarray
        Covariates, outcomes, binary treatments and the true CATE.

    References
    ----------
    Nie and Wager, "Quasi-oracle estimation of heterogeneous treatment
    effects", Biometrika, 2021.

    Examples
    --------
    >>> from metarouter.datasets import make_nie_wager_data
    >>> X, y, t, tau = make_nie_wager_data("C", 100, random_state=0)
    >>> X.shape, float(tau.mean())
    ((100, 6), 1.0)
    """
    if setup not in NIE_WAGER_SETUPS:
        raise ValueError(f"`setup` must be one of {NIE_WAGER_SETUPS}, got {setup!r}.")
    n = _check_count(n, "n", 1)
    d = _check_count(d, "d", 5)
    if (
        isinstance(sigma, bool)
        or not isinstance(sigma, numbers.Real)
        or not (np.isfinite(sigma) and sigma >= 0)
    ):
        raise ValueError(
            f"`sigma` must be a non-negative finite number, got {sigma!r}."
        )
    rng = np.random.default_rng(random_state)
    if setup == "A":
        X = rng.uniform(size=(n, d))
        s = np.sin(np.pi * X[:, 0] * X[:, 1])
        b = s + 2 * (X[:, 2] - 0.5) ** 2 + X[:, 3] + 0.5 * X[:, 4]
        e = np.clip(s, 0.1, 0.9)
        tau = (X[:, 0] + X[:, 1]) / 2
    else:
        X = rng.normal(size=(n, d))
        x1, x2, x3, x4, x5 = (X[:, j] for j in range(5))
        if setup == "B":
            b = np.maximum.reduce([np.zeros(n), x1 + x2, x3]) + np.maximum(0, x4 + x5)
            e = np.full(n, 0.5)
            tau = x1 + np.log1p(np.exp(x2))
        elif setup == "C":
            b = 2 * np.log1p(np.exp(x1 + x2 + x3))
            e = 1 / (1 + np.exp(x2 + x3))
            tau = np.ones(n)
        else:
            b = (np.maximum(0, x1 + x2 + x3) + np.maximum(0, x4 + x5)) / 2
            e = 1 / (1 + np.exp(-x1) + np.exp(-x2))
            tau = np.maximum(0, x1 + x2 + x3) - np.maximum(0, x4 + x5)
    t = rng.binomial(1, e)
    y = b + (t - 0.5) * tau + sigma * rng.normal(size=n)
    return X, y, t, tau
