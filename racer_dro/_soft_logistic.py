"""Warm-started L-BFGS refits of a binary logistic regression on soft targets.

:class:`racer_dro.RacerRouter` estimates ``E[q | x]`` for soft targets ``q`` in
[0, 1] with a logistic regression. scikit-learn's ``LogisticRegression`` takes
only hard labels, so each row enters twice (class 1 with weight ``q w``, class 0
with weight ``(1 - q) w``). The objective of that duplicated fit is, with
``S = sum_i w_i`` and ``z_i = x_i' coef + intercept``,

    (1 / S) sum_i w_i [log(1 + exp(z_i)) - q_i z_i] + ||coef||^2 / (2 C S),

because ``q w (-log sigma(z)) + (1 - q) w (-log(1 - sigma(z)))`` equals
``w [log(1 + exp(z)) - q z]``. Here it is minimised on the ``n`` rows once,
with the same L-BFGS-B options scikit-learn's ``lbfgs`` solver uses
(``gtol = tol``, ``maxls = 50``, ``ftol = 64 eps``): the same minimiser at half
the matrix products of the duplicated data.
"""

from __future__ import annotations

import copy

import numpy as np
from scipy import optimize
from scipy.special import expit

__all__ = ["refit_soft_logistic", "soft_log_loss"]


def soft_log_loss(params, X, q, weight, l2):
    """Weighted mean soft-target log-loss plus the L2 penalty, and its gradient.

    ``params`` is ``[coef..., intercept]``; the value is
    ``sum_i w_i [log(1 + exp(z_i)) - q_i z_i] / sum_i w_i + (l2 / 2) ||coef||^2``
    (the intercept is not penalised), scikit-learn's binomial objective with
    ``l2 = 1 / (C sum_i w_i)`` written on soft targets.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0]])
    >>> value, grad = soft_log_loss(np.zeros(2), X, np.array([0.5, 0.5]), np.ones(2), 0.0)
    >>> round(value, 6), grad.tolist()  # log 2 and a zero gradient at q = 1/2
    (0.693147, [0.0, 0.0])
    """
    coef, intercept = params[:-1], params[-1]
    z = X @ coef + intercept
    total = float(weight.sum())
    value = float(weight @ (np.logaddexp(0.0, z) - q * z)) / total
    value += 0.5 * l2 * float(coef @ coef)
    residual = weight * (expit(z) - q) / total
    grad = np.empty_like(params)
    grad[:-1] = X.T @ residual + l2 * coef
    grad[-1] = residual.sum()
    return value, grad


def refit_soft_logistic(model, X, q, weight, *, tol: float, max_iter: int):
    """A copy of a fitted binary ``LogisticRegression`` refitted on soft targets.

    Minimises :func:`soft_log_loss` with ``l2 = 1 / (model.C sum(weight))`` by
    L-BFGS-B from ``model``'s coefficients (the warm start); ``model`` itself is
    left untouched. Rows with zero weight drop out of the sum.

    Parameters
    ----------
    model : LogisticRegression
        Fitted, binary, L2 penalty, with an intercept.
    X : ndarray of shape (n, d)
    q : ndarray of shape (n,)
        Soft targets in [0, 1]: the probability of class 1.
    weight : ndarray of shape (n,)
        Non-negative row weights, not all zero.
    tol, max_iter
        L-BFGS-B's projected-gradient tolerance and iteration cap (scikit-learn's
        ``tol`` and ``max_iter`` of its ``lbfgs`` solver).

    Returns
    -------
    LogisticRegression
        The copy, with ``coef_``, ``intercept_`` and ``n_iter_`` replaced.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> start = LogisticRegression().fit(X, y)
    >>> q = np.clip(0.5 + 0.3 * X[:, 0], 0.0, 1.0)
    >>> model = refit_soft_logistic(start, X, q, np.ones(200), tol=1e-8, max_iter=200)
    >>> bool(abs(model.predict_proba(X)[:, 1].mean() - q.mean()) < 1e-6)
    True
    """
    params0 = np.append(np.ravel(model.coef_), np.ravel(model.intercept_))
    l2 = 1.0 / (float(model.C) * float(weight.sum()))
    result = optimize.minimize(
        soft_log_loss,
        params0,
        args=(X, q, weight, l2),
        method="L-BFGS-B",
        jac=True,
        options={
            "maxiter": int(max_iter),
            "maxls": 50,
            "gtol": float(tol),
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    refit = copy.deepcopy(model)
    refit.coef_ = result.x[None, :-1].copy()
    refit.intercept_ = result.x[-1:].copy()
    refit.n_iter_ = np.array([result.nit], dtype=np.int32)
    return refit
