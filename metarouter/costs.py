"""Cost functions of the premium and the alternative model (Meta-Router paper, section 2.2).

A router's decision rule (eq. 4) is ``m_hat(q) - w (C_p(q) - C_a(q)) > 0``. The
routers' ``routing_score(X, w, cost)`` accept as ``cost``:

- ``None`` or a :class:`UnitCost` (eq. 3: premium 1, alternative 0 per query);
- a :class:`TokenCost` *evaluated on the queries' token counts*, i.e. the array
  ``token_cost.difference(input_tokens, premium_output_tokens, ...)`` (a router
  cannot count tokens, so the caller passes them);
- any array of per-query cost differences ``C_p(q) - C_a(q)`` (or a scalar);
- a callable ``cost(X) -> array`` of per-query differences.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["TokenCost", "UnitCost", "cost_difference"]


def _check_rate(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be finite and non-negative, got {value!r}.")


def _tokens(values, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim > 1:
        raise ValueError(
            f"`{name}` must be a scalar or 1-D array, got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"`{name}` must be finite and non-negative token counts.")
    if n is not None and arr.ndim == 1 and arr.shape[0] != n:
        raise ValueError(f"`{name}` has {arr.shape[0]} entries, expected {n}.")
    return arr


@dataclass(frozen=True)
class UnitCost:
    """Constant per-query costs; the default ``UnitCost()`` is the paper's eq. (3).

    Parameters
    ----------
    premium : float, default=1.0
        Cost of one call of the premium model.
    alternative : float, default=0.0
        Cost of one call of the alternative model.

    Examples
    --------
    >>> from metarouter import UnitCost
    >>> UnitCost().difference(3)
    array([1., 1., 1.])
    """

    premium: float = 1.0
    alternative: float = 0.0

    def __post_init__(self):
        _check_rate(self.premium, "premium")
        _check_rate(self.alternative, "alternative")

    def difference(self, n_queries: int) -> np.ndarray:
        """``C_p - C_a`` for ``n_queries`` queries."""
        if (
            isinstance(n_queries, bool)
            or not isinstance(n_queries, numbers.Integral)
            or n_queries < 0
        ):
            raise ValueError(
                f"`n_queries` must be a non-negative integer, got {n_queries!r}."
            )
        return np.full(int(n_queries), float(self.premium - self.alternative))


@dataclass(frozen=True)
class TokenCost:
    """Token pricing (Meta-Router paper, Remark 2).

    ``C_M(q) = input_rate_M * T_in,M(q) + output_rate_M * T_out,M(q) + fixed_M``
    for ``M`` in {premium, alternative}. Token counts are per query and are the
    caller's to supply (tokenizer for inputs; generation limits or a predictor
    for outputs).

    Parameters
    ----------
    premium_input_rate, premium_output_rate : float
        Premium model's price per input and per output token.
    alternative_input_rate, alternative_output_rate : float
        Alternative model's price per input and per output token.
    premium_fixed, alternative_fixed : float, default=0.0
        Fixed cost per call.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter import TokenCost
    >>> cost = TokenCost(premium_input_rate=2e-6, premium_output_rate=8e-6,
    ...                  alternative_input_rate=1e-7, alternative_output_rate=4e-7)
    >>> diff = cost.difference(input_tokens=np.array([100, 200]),
    ...                        premium_output_tokens=np.array([500, 500]),
    ...                        alternative_output_tokens=np.array([400, 400]))
    >>> np.round(diff * 1e3, 2)
    array([4.03, 4.22])
    """

    premium_input_rate: float
    premium_output_rate: float
    alternative_input_rate: float
    alternative_output_rate: float
    premium_fixed: float = 0.0
    alternative_fixed: float = 0.0

    def __post_init__(self):
        for name in (
            "premium_input_rate",
            "premium_output_rate",
            "alternative_input_rate",
            "alternative_output_rate",
            "premium_fixed",
            "alternative_fixed",
        ):
            _check_rate(getattr(self, name), name)

    def premium_cost(self, input_tokens, output_tokens) -> np.ndarray:
        """Per-query cost of the premium model."""
        t_in = _tokens(input_tokens, "input_tokens")
        t_out = _tokens(
            output_tokens, "output_tokens", t_in.size if t_in.ndim else None
        )
        return (
            self.premium_input_rate * t_in
            + self.premium_output_rate * t_out
            + self.premium_fixed
        )

    def alternative_cost(self, input_tokens, output_tokens) -> np.ndarray:
        """Per-query cost of the alternative model."""
        t_in = _tokens(input_tokens, "input_tokens")
        t_out = _tokens(
            output_tokens, "output_tokens", t_in.size if t_in.ndim else None
        )
        return (
            self.alternative_input_rate * t_in
            + self.alternative_output_rate * t_out
            + self.alternative_fixed
        )

    def difference(
        self,
        input_tokens,
        premium_output_tokens,
        alternative_output_tokens=None,
        *,
        alternative_input_tokens=None,
    ) -> np.ndarray:
        """``C_p(q) - C_a(q)`` per query, the array a router's ``cost=`` takes.

        Parameters
        ----------
        input_tokens : array-like of shape (n_queries,) or scalar
            Input token counts (under the premium model's tokenizer).
        premium_output_tokens : array-like of shape (n_queries,) or scalar
            Output token counts of the premium model.
        alternative_output_tokens : array-like or scalar, default=None
            Output token counts of the alternative model; the premium counts
            when None.
        alternative_input_tokens : array-like or scalar, default=None
            Input counts under the alternative's tokenizer; ``input_tokens``
            when None.

        Returns
        -------
        diff : ndarray
            Per-query cost difference.
        """
        given = {
            "input_tokens": input_tokens,
            "premium_output_tokens": premium_output_tokens,
            "alternative_output_tokens": alternative_output_tokens,
            "alternative_input_tokens": alternative_input_tokens,
        }
        lengths = {
            name: np.shape(value)[0]
            for name, value in given.items()
            if value is not None and np.ndim(value) == 1
        }
        if len(set(lengths.values())) > 1:
            raise ValueError(
                "Token counts must be scalars or arrays of one length (one entry "
                f"per query), got lengths {lengths}."
            )
        for name, value in given.items():  # errors name the caller's argument
            if value is not None:
                _tokens(value, name)
        if alternative_output_tokens is None:
            alternative_output_tokens = premium_output_tokens
        if alternative_input_tokens is None:
            alternative_input_tokens = input_tokens
        diff = self.premium_cost(input_tokens, premium_output_tokens) - (
            self.alternative_cost(alternative_input_tokens, alternative_output_tokens)
        )
        return np.atleast_1d(np.asarray(diff, dtype=float))


def cost_difference(cost, X, n: int) -> np.ndarray:
    """Per-query ``C_p - C_a`` of length ``n`` from any accepted ``cost``.

    ``None`` means a unit cost difference; a scalar is broadcast; a callable is
    called on ``X``; arrays must have one finite entry per query.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.costs import cost_difference
    >>> cost_difference(None, None, 3)
    array([1., 1., 1.])
    >>> cost_difference(lambda X: X[:, 0], np.array([[1.0], [3.0]]), 2)
    array([1., 3.])
    """
    if cost is None:
        return np.ones(n)
    if isinstance(cost, UnitCost):
        return cost.difference(n)
    if isinstance(cost, TokenCost):
        raise TypeError(
            "`cost` is a TokenCost, which needs per-query token counts: pass "
            "cost=token_cost.difference(input_tokens, premium_output_tokens, "
            "alternative_output_tokens) instead."
        )
    if callable(cost):
        cost = cost(X)
    try:
        arr = np.asarray(cost, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "`cost` must be None, a UnitCost, an array of per-query cost differences "
            f"or a callable, got {type(cost).__name__}."
        ) from exc
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(
            f"`cost` must have one entry per query ({n}), got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("`cost` contains NaN or infinite values.")
    return arr
