"""Uncertainty-based routing to a strong judge (the "Ask a Strong LLM Judge" poster: the SNGP idea without the deep body).

This is the poster's *variance-only* router (also exported as
:data:`VarianceOnlyRouter`): it routes on the epistemic variance of its own
preference model and cannot use an external cheap judge's confidence. For a
cheap judge whose output is given (a reward model's score, a small LLM judge's
probability), use :class:`racer_dro.EscalationRouter`, which estimates the
strong judge's expected gain.

A cheap pairwise preference model -- a Gaussian-process classifier approximated
by random Fourier features -- whose epistemic uncertainty decides which pairs
are sent to an expensive, accurate judge.

Model. Features ``phi(x) = sqrt(2 / D) cos(W x + b)`` with
``W ~ N(0, I / length_scale^2)`` and ``b ~ U(0, 2 pi)`` (the RBF kernel
``exp(-|x - x'|^2 / (2 length_scale^2))``, ``gamma = 1 / (2 length_scale^2)``).
The logit is ``g(x) = phi(x)^T w`` with prior ``w ~ N(0, I / ridge)``; the
likelihood is Bernoulli(``expit(g)``). ``w`` is fitted by maximum a posteriori
(Newton's method with a backtracking line search on the strictly convex
negative log posterior, so the fit is deterministic), and the posterior is
approximated by Laplace::

    Sigma = (ridge I + Phi^T diag(p (1 - p)) Phi)^{-1}   at the MAP.

The uncertainty of a pair is the posterior variance of its logit,
``phi(x)^T Sigma phi(x)``; far from the training pairs it rises towards the
prior variance ``|phi(x)|^2 / ridge`` (about ``1 / ridge``; the finite random
feature basis keeps it somewhat below). Predicted probabilities
use the mean-field (probit) approximation
``expit(mu / sqrt(1 + pi / 8 var))``.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_approximation import RBFSampler
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from racer_dro.judge_evaluation import call_count

__all__ = ["UncertaintyRouter", "VarianceOnlyRouter"]

_MAX_NEWTON = 100


class UncertaintyRouter(ClassifierMixin, BaseEstimator):
    """Pairwise preference model with a Laplace-GP uncertainty, routing uncertain pairs.

    Parameters
    ----------
    n_features : int, default=512
        Number ``D`` of random Fourier features.
    length_scale : float, default=1.0
        Length scale of the RBF kernel the features approximate
        (``gamma = 1 / (2 length_scale^2)``).
    ridge : float, default=1.0
        Precision of the Gaussian prior on the output weights (the prior
        variance of the logit is about ``1 / ridge``).
    random_state : int, RandomState instance or None, default=None
        Seeds the random features.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels, sorted (``[0, 1]`` for 0/1 targets).
    coef_ : ndarray of shape (n_features,)
        MAP output weights.
    covariance_ : ndarray of shape (n_features, n_features)
        Laplace posterior covariance ``Sigma`` of the output weights.
    feature_map_ : sklearn.kernel_approximation.RBFSampler
        The fitted random Fourier feature map.
    n_iter_ : int
        Newton iterations used.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had column names.

    Examples
    --------
    >>> from racer_dro import UncertaintyRouter
    >>> from racer_dro.datasets import make_preference_pairs
    >>> train = make_preference_pairs(500, random_state=0)
    >>> test = make_preference_pairs(200, ood_fraction=0.5, random_state=1)
    >>> router = UncertaintyRouter(n_features=256, random_state=0).fit(train.X, train.y)
    >>> u = router.uncertainty(test.X)
    >>> bool(u[~test.in_distribution].mean() > u[test.in_distribution].mean())
    True
    >>> ask = router.route(test.X, calls=0.25)   # the 50 most uncertain pairs
    >>> int(ask.sum())
    50
    """

    def __init__(
        self, n_features=512, *, length_scale=1.0, ridge=1.0, random_state=None
    ):
        self.n_features = n_features
        self.length_scale = length_scale
        self.ridge = ridge
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        if isinstance(self.n_features, bool) or not isinstance(
            self.n_features, numbers.Integral
        ):
            raise TypeError(f"`n_features` must be an integer, got {self.n_features!r}")
        if self.n_features < 1:
            raise ValueError(f"`n_features` must be >= 1, got {self.n_features}")
        for name in ("length_scale", "ridge"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"`{name}` must be a real number, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"`{name}` must be positive and finite, got {value!r}")
        # gamma = 1 / (2 length_scale^2) must be a positive float: 1e-300 divided
        # by zero, 1e300 overflowed the square (bare ZeroDivision/OverflowError)
        if not 0 < _gamma(self.length_scale) < math.inf:
            raise ValueError(
                "`length_scale` must give a finite positive gamma = 1 / (2 "
                f"length_scale^2), got length_scale={self.length_scale!r}"
            )

    def fit(self, X, y):
        """Fit the MAP output layer and its Laplace covariance.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Features of (prompt, response A, response B) pairs.
        y : array-like of shape (n,)
            1 if response A is preferred, else 0.

        Returns
        -------
        self
        """
        self._check_params()
        X = validate_data(self, X, reset=True, dtype=float, ensure_all_finite=True)
        classes, y = _check_binary(y, X.shape[0])
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        self.feature_map_ = RBFSampler(
            gamma=_gamma(self.length_scale),
            n_components=int(self.n_features),
            random_state=seed,
        ).fit(X)
        phi = self.feature_map_.transform(X)
        ridge = float(self.ridge)
        w, n_iter = _newton_map(phi, y, ridge)
        p = expit(phi @ w)
        precision = phi.T @ (phi * (p * (1.0 - p))[:, None])
        precision[np.diag_indices_from(precision)] += ridge
        self.coef_ = w
        self._precision_cholesky = cho_factor(precision, lower=True)
        self.covariance_ = cho_solve(
            self._precision_cholesky, np.eye(precision.shape[0])
        )
        self.n_iter_ = n_iter
        self.classes_ = classes
        return self

    # ------------------------------------------------------------------ prediction
    def _features(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=float, ensure_all_finite=True)
        return self.feature_map_.transform(X)

    def _mean_and_variance(self, X) -> tuple[np.ndarray, np.ndarray]:
        phi = self._features(X)
        mean = phi @ self.coef_
        chol, lower = self._precision_cholesky
        half = solve_triangular(chol, phi.T, lower=lower)
        return mean, np.einsum("ij,ij->j", half, half)

    def decision_function(self, X) -> np.ndarray:
        """Posterior mean of the logit, shape (n,)."""
        return self._features(X) @ self.coef_

    def uncertainty(self, X) -> np.ndarray:
        """Posterior variance of the logit ``phi(x)^T Sigma phi(x)``, shape (n,)."""
        return self._mean_and_variance(X)[1]

    def predict_proba(self, X) -> np.ndarray:
        """Mean-field probabilities ``[P(B preferred), P(A preferred)]``, shape (n, 2)."""
        mean, var = self._mean_and_variance(X)
        p = expit(mean / np.sqrt(1.0 + np.pi / 8.0 * var))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """1 if A is predicted preferred (the logit's mean above 0), else 0.

        With other labels: ``classes_[1]`` where the logit's mean is above 0.
        """
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # a pairwise preference: two classes
        return tags

    def route(self, X, *, calls=None, threshold=None) -> np.ndarray:
        """Which pairs to send to the strong judge.

        Give exactly one of ``calls`` and ``threshold``.

        Parameters
        ----------
        X : array-like of shape (n, d)
        calls : int or float, optional
            An int is the number of pairs to route (0 to n); a float in
            (0, 1] is a fraction of the rows, rounded to the nearest count
            (halves up). The most uncertain pairs are routed; ties are broken
            by row order (earlier rows first).
        threshold : float, optional
            Route the pairs whose uncertainty is strictly above it.

        Returns
        -------
        ndarray of shape (n,), bool
            True = ask the strong judge.
        """
        if (calls is None) == (threshold is None):
            raise ValueError(
                "give exactly one of `calls` and `threshold`, got "
                f"calls={calls!r}, threshold={threshold!r}"
            )
        u = self.uncertainty(X)
        n = u.shape[0]
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
                raise TypeError(f"`threshold` must be a real number, got {threshold!r}")
            if math.isnan(threshold):
                raise ValueError("`threshold` must not be NaN")
            return u > threshold
        count = call_count(calls, n)
        order = np.argsort(-u, kind="stable")
        ask = np.zeros(n, dtype=bool)
        ask[order[:count]] = True
        return ask


def _gamma(length_scale) -> float:
    """``1 / (2 length_scale^2)``; ``0`` or ``inf`` where it under- or overflows."""
    with np.errstate(over="ignore", divide="ignore", under="ignore"):
        return float(1.0 / (2.0 * np.float64(length_scale) ** 2))


def _check_binary(y, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, y01)``: the two labels (sorted) and ``y`` as 0/1 (1 = the second).

    Any two labels work as in scikit-learn (0/1: 1 = A preferred); continuous,
    multi-class and one-class targets are errors naming ``y``.
    """
    y = column_or_1d(np.asarray(y), warn=True)
    if y.shape[0] != n:
        raise ValueError(
            f"`y` must have {n} entries (one per row of `X`), got {y.shape[0]}"
        )
    kind = type_of_target(y, input_name="y")
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"Unknown label type: {kind}; `y` must hold two classes (1 = A preferred)"
        )
    classes = np.unique(y)
    if classes.size > 2:
        raise ValueError(
            "Only binary classification is supported: `y` must hold two classes "
            f"(e.g. 0 and 1), got {classes.size}: {classes[:5].tolist()}"
        )
    if classes.size < 2:
        raise ValueError(
            f"`y` holds only one class ({classes[0]!r}): the router needs both "
            "classes to learn a preference"
        )
    return classes, (y == classes[1]).astype(float)


def _neg_log_posterior(w, phi, y, ridge) -> float:
    z = phi @ w
    # -log p(y | z) = -y log expit(z) - (1 - y) log expit(-z)
    return float(
        -(y * log_expit(z) + (1.0 - y) * log_expit(-z)).sum() + 0.5 * ridge * w @ w
    )


def _newton_map(phi, y, ridge, tol=1e-10) -> tuple[np.ndarray, int]:
    """MAP of ridge-penalised logistic regression by damped Newton steps."""
    d = phi.shape[1]
    w = np.zeros(d)
    obj = _neg_log_posterior(w, phi, y, ridge)
    for it in range(1, _MAX_NEWTON + 1):
        p = expit(phi @ w)
        grad = phi.T @ (p - y) + ridge * w
        hess = phi.T @ (phi * (p * (1.0 - p))[:, None])
        hess[np.diag_indices_from(hess)] += ridge
        step = cho_solve(cho_factor(hess, lower=True), grad)
        decrement = float(grad @ step)  # Newton decrement squared
        if decrement / 2.0 <= tol:
            return w, it
        t = 1.0
        while True:
            w_new = w - t * step
            obj_new = _neg_log_posterior(w_new, phi, y, ridge)
            if obj_new <= obj - 0.25 * t * decrement or t < 1e-10:
                break
            t *= 0.5
        w, obj = w_new, obj_new
    warnings.warn(
        f"UncertaintyRouter: Newton's method did not reach its tolerance in "
        f"{_MAX_NEWTON} iterations",
        ConvergenceWarning,
        stacklevel=3,
    )
    return w, _MAX_NEWTON


#: The poster's variance-only router, named for what it routes on.
VarianceOnlyRouter = UncertaintyRouter
