"""The container of simulated GS/PB routing data, shared by the generators."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["RoutingData"]


@dataclass(frozen=True)
class RoutingData:
    """A simulated GS/PB routing problem (see :func:`make_routing_data`).

    Attributes
    ----------
    X : ndarray of shape (n_gs + n_pb, d)
        Training query embeddings, GS rows first.
    y : ndarray of shape (n_gs + n_pb,)
        Observed outcomes: GS outcome ``r`` on GS rows, PB outcome in
        {-1, 0, 1} on PB rows.
    source : ndarray of int of shape (n_gs + n_pb,)
        1 for GS rows, 0 for PB rows.
    y_oracle : ndarray of shape (n_gs + n_pb,)
        A GS outcome for every training query (equal to ``y`` on GS rows):
        what the oracle router is trained on.
    m, eta, delta, shift, propensity : ndarray of shape (n_gs + n_pb,)
        True GS quality gain, PB mechanism, ``delta = m - eta``,
        ``shift = m / gs_scale - eta`` and ``P(source = 1 | x)`` at the
        training queries.
    X_test : ndarray of shape (n_test, d)
        Test queries.
    r_test, m_test : ndarray of shape (n_test,)
        Noisy GS outcomes and true GS quality gains of the test queries.
    eta_test, delta_test : ndarray of shape (n_test,)
        ``eta`` and ``delta`` at the test queries.
    gs_scale : float
        Scale of GS outcomes relative to the PB scale.
    bias : str
        The bias design.
    target_weight : ndarray of shape (n_gs + n_pb,) or None
        Density ratio ``f_test(x) / f_GS(x)`` at the training queries: the
        importance weights that carry a GS-row average to the test
        distribution (None when not known in closed form).

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.datasets import make_routing_data
    >>> data = make_routing_data(n_gs=5, n_pb=20, n_test=4, d=5, random_state=0)
    >>> data.X.shape, int(data.source.sum()), data.X_test.shape
    ((25, 5), 5, (4, 5))
    >>> bool(np.allclose(data.delta, data.m - data.eta))
    True
    """

    X: np.ndarray
    y: np.ndarray
    source: np.ndarray
    y_oracle: np.ndarray
    m: np.ndarray
    eta: np.ndarray
    delta: np.ndarray
    shift: np.ndarray
    propensity: np.ndarray
    X_test: np.ndarray
    r_test: np.ndarray
    m_test: np.ndarray
    eta_test: np.ndarray
    delta_test: np.ndarray
    gs_scale: float
    bias: str
    target_weight: np.ndarray | None = None


def _check_count(value, name: str, minimum: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)
