"""A simulated K-model routing process with known gains and model-specific judge biases.

Queries ``x ~ N(mu, I_d)``: GS queries centred at ``+0.4 e_1``, PB queries at
``-0.4 e_1`` (so the GS/PB propensity is not constant; overlap holds), test
queries at 0. Model 0 is the reference (the cheapest). For model ``k >= 1``:

- gain over the reference ``m_k(x) = 0.1 k + 0.3 tanh(1.5 x_{j_k})`` with
  ``j_k = (k - 1) mod d``: each model is better on its own region;
- GS quality ``Q_k = 0.5 + 0.2 x_1 + m_k(x) + e_k``, ``e_k ~ N(0, 0.4^2)``
  (``m_0 = 0``);
- judge shift ``Delta_k(x) = m_k(x) - eta_k(x) = -f_k - l_k tanh(2 x_2)``: the
  judge favours family "a" (``f_k = favour`` for models of family "a", 0 for
  "b") and longer answers, which grow with the model's size
  (``l_k = length_bias k / (K - 1)``), more so on one side of ``x_2``;
- PB verdict of model ``k`` against the reference
  ``y = eta_k(x) + e'``, ``e' ~ N(0, 0.5^2)``, observed for each (PB query,
  model) pair with probability ``pb_coverage``.

Both sources share one scale, so ``MetaRouter(scale=None)`` is the matched
setting. Model costs are ``1, 2, 3, ...`` per query.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

__all__ = ["MultiModelData", "make_multimodel_data"]

_GS_NOISE = 0.4
_PB_NOISE = 0.5
_SHIFT_MEAN = 0.4


@dataclass(frozen=True)
class MultiModelData:
    """A simulated K-model routing problem (see :func:`make_multimodel_data`).

    Attributes
    ----------
    X : ndarray of shape (n_gs + n_pb, d)
        Training queries, GS first.
    quality : ndarray of shape (n_gs + n_pb, n_models)
        GS quality of every model; NaN on PB queries.
    comparisons : DataFrame
        PB verdicts: columns ``query``, ``model`` (name), ``verdict``.
    quality_oracle : ndarray of shape (n_gs + n_pb, n_models)
        Realised quality of every model on every training query, PB queries
        included (what nobody observes; for an oracle benchmark).
    gain, shift : ndarray of shape (n_gs + n_pb, n_models)
        True ``m_k`` and ``Delta_k`` on the training queries (column 0 is 0).
    X_test : ndarray of shape (n_test, d)
    quality_test : ndarray of shape (n_test, n_models)
        Realised quality on the test queries.
    gain_test, shift_test : ndarray of shape (n_test, n_models)
        True ``m_k`` and ``Delta_k`` on the test queries.
    models : list of str
        Model names; the first is the reference.
    family : list of str
        Family of each model ("a" is favoured by the judge).
    cost : ndarray of shape (n_models,)
        Cost per query of each model.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.multimodel_data import make_multimodel_data
    >>> data = make_multimodel_data(n_gs=10, n_pb=20, n_test=5, random_state=0)
    >>> data.gain.shape, data.models[0], float(np.abs(data.gain[:, 0]).max())
    ((30, 4), 'm0', 0.0)
    >>> bool(np.isnan(data.quality[10:]).all())  # no GS quality on PB rows
    True
    """

    X: np.ndarray
    quality: np.ndarray
    comparisons: pd.DataFrame
    quality_oracle: np.ndarray
    gain: np.ndarray
    shift: np.ndarray
    X_test: np.ndarray
    quality_test: np.ndarray
    gain_test: np.ndarray
    shift_test: np.ndarray
    models: list
    family: list
    cost: np.ndarray


def _gain(X, K):
    d = X.shape[1]
    out = np.zeros((X.shape[0], K))
    for k in range(1, K):
        out[:, k] = 0.1 * k + 0.3 * np.tanh(1.5 * X[:, (k - 1) % d])
    return out


def _shift(X, family, favour, length_bias):
    K = len(family)
    out = np.zeros((X.shape[0], K))
    for k in range(1, K):
        f = favour if family[k] == "a" else 0.0
        out[:, k] = -f - length_bias * k / (K - 1) * np.tanh(2 * X[:, 2])
    return out


def _quality(X, gain, rng):
    base = 0.5 + 0.2 * X[:, [0]]
    return base + gain + rng.normal(0.0, _GS_NOISE, size=gain.shape)


def _check_count(value, name, low):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
    ):
        raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}.")
    return int(value)


def make_multimodel_data(
    n_gs=200,
    n_pb=1000,
    n_test=1000,
    *,
    n_models=4,
    d=5,
    favour=0.3,
    length_bias=0.3,
    pb_coverage=1.0,
    random_state=None,
) -> MultiModelData:
    """Draw a K-model GS/PB routing problem with known gains and judge shifts.

    Parameters
    ----------
    n_gs, n_pb, n_test : int
        GS queries, PB queries and test queries.
    n_models : int, default=4
        Models, the first the reference; even models are family "a".
    d : int, default=5
        Query dimension (at least 3).
    favour : float, default=0.3
        The judge's preference for family "a" (on the PB scale).
    length_bias : float, default=0.3
        Size of the judge's length bias of the largest model.
    pb_coverage : float in (0, 1], default=1.0
        Probability that a PB query has a verdict for a given model.
    random_state : int, RandomState or None, default=None

    Returns
    -------
    data : MultiModelData

    Examples
    --------
    >>> from metarouter.multimodel_data import make_multimodel_data
    >>> data = make_multimodel_data(n_gs=10, n_pb=20, n_test=5, random_state=0)
    >>> data.quality.shape, len(data.comparisons), data.models
    ((30, 4), 60, ['m0', 'm1-a', 'm2-b', 'm3-a'])
    """
    n_gs = _check_count(n_gs, "n_gs", 1)
    n_pb = _check_count(n_pb, "n_pb", 1)
    n_test = _check_count(n_test, "n_test", 1)
    K = _check_count(n_models, "n_models", 2)
    d = _check_count(d, "d", 3)
    for value, name in ((favour, "favour"), (length_bias, "length_bias")):
        # NaN or inf gave NaN or infinite PB verdicts without a word
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not np.isfinite(value)
        ):
            raise ValueError(f"`{name}` must be a finite number, got {value!r}.")
    if (
        isinstance(pb_coverage, bool)
        or not isinstance(pb_coverage, numbers.Real)
        or not (0 < pb_coverage <= 1)
    ):
        raise ValueError(f"`pb_coverage` must lie in (0, 1], got {pb_coverage!r}.")
    rng = check_random_state(random_state)
    family = ["ref"] + ["a" if k % 2 == 1 else "b" for k in range(1, K)]
    models = ["m0"] + [f"m{k}-{family[k]}" for k in range(1, K)]
    mu = np.zeros(d)
    mu[0] = _SHIFT_MEAN
    X = np.vstack([rng.normal(size=(n_gs, d)) + mu, rng.normal(size=(n_pb, d)) - mu])
    X_test = rng.normal(size=(n_test, d))
    gain, gain_test = _gain(X, K), _gain(X_test, K)
    shift = _shift(X, family, favour, length_bias)
    shift_test = _shift(X_test, family, favour, length_bias)
    quality_oracle = _quality(X, gain, rng)
    quality = quality_oracle.copy()
    quality[n_gs:] = np.nan
    quality_test = _quality(X_test, gain_test, rng)
    eta = gain - shift
    rows = []
    for i in range(n_gs, n_gs + n_pb):
        for k in range(1, K):
            if pb_coverage >= 1 or rng.uniform() < pb_coverage:
                rows.append((i, models[k], eta[i, k] + rng.normal(0.0, _PB_NOISE)))
    comparisons = pd.DataFrame(rows, columns=["query", "model", "verdict"])
    return MultiModelData(
        X=X,
        quality=quality,
        comparisons=comparisons,
        quality_oracle=quality_oracle,
        gain=gain,
        shift=shift,
        X_test=X_test,
        quality_test=quality_test,
        gain_test=gain_test,
        shift_test=shift_test,
        models=models,
        family=family,
        cost=np.arange(1.0, K + 1.0),
    )
