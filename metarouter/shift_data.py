"""Simulated GS/PB data with a covariate shift between the sources (known truths).

:func:`make_gs_pb_data` draws GS and PB queries from Gaussians with different centres
and takes the quality gain and the judge's bias as functions; :func:`make_shift_data`
is its instance for the regime where the R- and DR-learners' inverse propensity
weights hurt (scarce GS rows, a bias on a feature the quality gain does not use).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import expit
from sklearn.utils import check_random_state

from metarouter._routing_data import RoutingData, _check_count

__all__ = ["make_gs_pb_data", "make_shift_data"]

_SHIFT_NOISE = 0.5


def _shift_m(X: np.ndarray) -> np.ndarray:
    """GS quality gain of :func:`make_shift_data` (features 0-2 only)."""
    return 0.8 * np.tanh(X[:, 0]) + 0.5 * np.sin(1.5 * X[:, 1]) + 0.3 * X[:, 2]


def _shift_bias(X: np.ndarray) -> np.ndarray:
    """PB judge bias of :func:`make_shift_data` (feature 3, unused by ``m``)."""
    return 0.3 + 0.5 * np.tanh(1.5 * X[:, 3])


def make_shift_data(
    n_gs: int = 100,
    n_pb: int = 3000,
    n_test: int = 2000,
    d: int = 10,
    *,
    shift: float = 0.5,
    noise: float = _SHIFT_NOISE,
    random_state=None,
) -> RoutingData:
    """Simulate the covariate-shift regime: scarce, shifted GS rows.

    The regime where the R- and DR-learners' inverse propensity weights hurt:
    about 3% GS rows whose queries come from another distribution than the PB
    rows (benchmark questions are not user traffic), and a PB judge whose bias
    depends on a feature the quality gain does not use.

    * PB and test queries: ``x ~ N(0, I_d)`` (user traffic); GS queries:
      ``x ~ N(shift e_0, I_d)``, i.e. centred ``shift`` standard deviations to
      one side on feature 0.
    * Quality gain ``m(x) = 0.8 tanh(x_0) + 0.5 sin(1.5 x_1) + 0.3 x_2``; judge
      bias ``b(x) = 0.3 + 0.5 tanh(1.5 x_3)``; PB mechanism ``eta = m - b``, so
      the shift is ``delta = b``.
    * Outcomes: ``r = m(x) + e`` on GS rows, ``y = eta(x) + e'`` on PB rows,
      ``e, e' ~ N(0, noise^2)``; both sources share one scale
      (``MetaRouter(scale=None)`` is the matched setting).
    * Exact propensity (Meta-Router paper, Lemma 1): with ``kappa = n_gs / (n_gs +
      n_pb)`` and density ratio ``f_GS / f_PB = exp(shift x_0 - shift^2 / 2)``,
      ``p(x) = kappa f_GS / (kappa f_GS + (1 - kappa) f_PB)``; importance
      weights to the test distribution ``f_test / f_GS = exp(-shift x_0 +
      shift^2 / 2)`` are ``target_weight``.

    Parameters
    ----------
    n_gs, n_pb, n_test : int, default=100, 3000, 2000
        Numbers of GS training rows, PB training rows and test queries.
    d : int, default=10
        Number of features (at least 4).
    shift : float, default=0.5
        Mean of GS queries on feature 0, in standard deviations.
    noise : float, default=0.5
        Standard deviation of the outcome noise of both sources.
    random_state : int, RandomState or None, default=None
        Seed.

    Returns
    -------
    data : RoutingData
        Training rows (GS first), test queries and the truths; ``bias`` is
        ``"shift"`` and ``shift`` (the field) equals ``delta``.

    References
    ----------
    Anonymous, "Meta-Router: bridging gold-standard and preference-based
    evaluations in LLM routing", under review (Lemma 1: the propensity).

    Examples
    --------
    >>> from metarouter.datasets import make_shift_data
    >>> data = make_shift_data(n_gs=30, n_pb=900, n_test=100, random_state=0)
    >>> data.X.shape, int(data.source.sum()), round(float(data.propensity.mean()), 2)
    ((930, 10), 30, 0.03)
    """
    n_gs = _check_count(n_gs, "n_gs", 1)
    d = _check_count(d, "d", 4)
    if (
        isinstance(shift, bool)
        or not isinstance(shift, numbers.Real)
        or not np.isfinite(shift)
    ):
        raise ValueError(f"`shift` must be a finite number, got {shift!r}.")
    gs_mean = np.zeros(d)
    gs_mean[0] = shift
    try:
        data = make_gs_pb_data(
            _shift_m, _shift_bias, gs_mean, n_gs, n_pb, n_test,
            noise=noise, random_state=random_state,
        )  # fmt: skip
    except OverflowError:
        raise ValueError(
            f"`shift` ({float(shift)!r}) is too large: the density ratio f_GS / f_PB of "
            "the GS and PB queries overflows."
        ) from None
    return data


def _check_truth(fn, name: str, X: np.ndarray) -> np.ndarray:
    """``fn(X)`` as a finite float array of shape ``(len(X),)``, or an error naming ``name``."""
    if not callable(fn):
        raise TypeError(f"`{name}` must be a function of the query array, got {fn!r}.")
    out = np.asarray(fn(X), dtype=float)
    if out.shape != (X.shape[0],) or not np.all(np.isfinite(out)):
        raise ValueError(
            f"`{name}` must map an (n, d) query array to n finite values; on "
            f"{X.shape} queries it gave shape {out.shape}"
            + ("" if out.shape != (X.shape[0],) else " with non-finite values")
            + "."
        )
    return out


def make_gs_pb_data(
    m,
    bias,
    gs_mean,
    n_gs: int = 100,
    n_pb: int = 3000,
    n_test: int = 2000,
    *,
    noise: float = _SHIFT_NOISE,
    random_state=None,
) -> RoutingData:
    """Simulate GS/PB data with a covariate shift between the sources and truths you choose.

    The family behind :func:`make_shift_data`, for testing a router on processes it
    was not written for: give the quality gain, the judge's bias and where the GS
    queries sit, and every truth a check needs (``m``, ``eta``, ``Delta``, the exact
    propensity and importance weights) comes with the data.

    * PB and test queries: ``x ~ N(0, I_d)`` (user traffic); GS queries:
      ``x ~ N(mu, I_d)`` with ``mu = gs_mean`` (benchmark questions sit elsewhere).
    * GS outcomes ``r = m(x) + e``, PB outcomes ``y = m(x) - bias(x) + e'``,
      ``e, e' ~ N(0, noise^2)``: ``eta = m - bias`` and ``Delta = bias``.
    * Exact propensity (Meta-Router paper, Lemma 1): ``log f_GS / f_PB =
      mu . x - |mu|^2 / 2``, ``p(x) = expit(log(kappa / (1 - kappa)) + log f_GS /
      f_PB)`` with ``kappa = n_gs / (n_gs + n_pb)``; ``target_weight = f_test /
      f_GS = exp(-mu . x + |mu|^2 / 2)``.

    Parameters
    ----------
    m, bias : callable
        Functions of the ``(n, d)`` query array returning ``n`` finite values: the GS
        quality gain and the PB judge's bias.
    gs_mean : array-like of shape (d,)
        Centre of the GS queries (``d``, the number of features, is its length).
    n_gs, n_pb, n_test : int, default=100, 3000, 2000
        Numbers of GS training rows, PB training rows and test queries.
    noise : float, default=0.5
        Standard deviation of the outcome noise of both sources.
    random_state : int, RandomState or None, default=None
        Seed.

    Returns
    -------
    data : RoutingData
        Training rows (GS first), test queries and the truths; ``bias`` is
        ``"shift"`` and ``shift`` (the field) equals ``delta``.

    Raises
    ------
    OverflowError
        If ``gs_mean`` is so far out that the density ratio overflows.

    References
    ----------
    Anonymous, "Meta-Router: bridging gold-standard and preference-based
    evaluations in LLM routing", under review (Lemma 1: the propensity).

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.datasets import make_gs_pb_data
    >>> data = make_gs_pb_data(
    ...     lambda X: np.tanh(X[:, 0]), lambda X: 0.3 * (X[:, 1] > 0), [0.5, -0.5, 0.0],
    ...     n_gs=30, n_pb=900, n_test=100, random_state=0)
    >>> data.X.shape, bool(np.allclose(data.delta, 0.3 * (data.X[:, 1] > 0)))
    ((930, 3), True)
    """
    n_gs = _check_count(n_gs, "n_gs", 1)
    n_pb = _check_count(n_pb, "n_pb", 0)
    n_test = _check_count(n_test, "n_test", 1)
    mu = np.asarray(gs_mean, dtype=float)
    if mu.ndim != 1 or mu.size < 1 or not np.all(np.isfinite(mu)):
        raise ValueError(
            f"`gs_mean` must be a non-empty 1-d array of finite numbers, got {gs_mean!r}."
        )
    if (
        isinstance(noise, bool)
        or not isinstance(noise, numbers.Real)
        or not np.isfinite(noise)
        or noise <= 0
    ):
        raise ValueError(f"`noise` must be a positive number, got {noise!r}.")
    d = mu.size
    rng = check_random_state(random_state)
    X_gs = rng.normal(size=(n_gs, d))
    X_gs += mu
    X_pb = rng.normal(size=(n_pb, d))
    X_test = rng.normal(size=(n_test, d))
    X = np.vstack([X_gs, X_pb])
    source = np.r_[np.ones(n_gs, dtype=np.int64), np.zeros(n_pb, dtype=np.int64)]
    m_, b = _check_truth(m, "m", X), _check_truth(bias, "bias", X)
    eta = m_ - b
    e = rng.normal(scale=noise, size=n_gs + n_pb)
    y_oracle = m_ + e
    y = np.where(source == 1, y_oracle, eta + e)
    with np.errstate(over="ignore", invalid="ignore"):
        log_ratio = X @ mu - 0.5 * np.sum(mu**2)  # log f_GS / f_PB
        target_weight = np.exp(-log_ratio)
    if not (np.all(np.isfinite(log_ratio)) and np.all(np.isfinite(target_weight))):
        raise OverflowError(
            "`gs_mean` is too far from the PB queries' centre: the density ratio "
            "f_GS / f_PB overflows."
        )
    kappa = n_gs / (n_gs + n_pb)
    propensity = (
        expit(np.log(kappa) - np.log1p(-kappa) + log_ratio) if n_pb else np.ones(n_gs)
    )
    m_test, b_test = _check_truth(m, "m", X_test), _check_truth(bias, "bias", X_test)
    return RoutingData(
        X=X,
        y=y,
        source=source,
        y_oracle=y_oracle,
        m=m_,
        eta=eta,
        delta=b,
        shift=b.copy(),
        propensity=propensity,
        X_test=X_test,
        r_test=m_test + rng.normal(scale=noise, size=n_test),
        m_test=m_test,
        eta_test=m_test - b_test,
        delta_test=b_test,
        gs_scale=1.0,
        bias="shift",
        target_weight=target_weight,
    )
