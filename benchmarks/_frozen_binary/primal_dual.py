"""The entropy-regularised primal-dual solver of RACER, made to converge.

The regularised saddle problem (DESIGN.md)::

    max_pi min_{lambda >= 0} L(pi, lambda) = R(pi) - lambda (C(pi) - B) + beta H(pi) + (beta / 2) lambda^2

has the closed-form primal step ``logit pi_i = (w_r(i) Dr_i - lambda w_c(i) Dc_i) / beta``
(``w = rho_worst / rho_n`` at the current policy) and the exact dual step
``lambda = (C(pi) - B)_+ / beta``. Iterated as they stand these two steps cycle
for small ``beta``, because each query's worst-case weight depends on its own
policy. This module solves the same fixed point reliably:

* **inner** (:func:`solve_policy`): at a fixed ``lambda`` the policy problem
  ``max_pi F_lambda(pi) = R(pi) - lambda C(pi) + beta H(pi)`` is strictly
  concave. It is solved by damped Newton in the logits ``theta = logit pi``
  (the Newton direction of ``F`` in ``pi`` mapped to the logits, which is an
  ascent direction for every ``theta``, with an Armijo backtracking line search).
  The Hessian of ``F`` in ``pi`` is diagonal plus low rank -- rank one per side
  with a temperature, rank two per side with a radius (the envelope over the
  dual temperature) -- so each step costs ``O(n)`` through the Woodbury identity.
  When the full Newton step fails the Armijo test (far from the optimum), the
  exact maximiser of a separable minorant of ``F`` is taken instead (a
  majorise-minimise step: each ``-tau log S`` replaced by its tangent, then one
  strictly concave 1-D problem per row, solved vectorised), which cannot decrease
  ``F``. The inner solve counts as converged only when the Newton step is below
  ``tol`` *and* the closed-form primal step reproduces the policy to 1e-6;
* **outer**: the worst-case cost of the inner optimum, ``C(pi(lambda))``, is
  non-increasing in ``lambda``, so ``g(lambda) = beta lambda - (C(pi(lambda)) - B)_+``
  is strictly increasing (``g' >= beta``). Its root is found by Newton's method
  with the exact derivative ``dC/dlambda = grad C^T H^{-1} grad C`` (implicit
  differentiation, same Woodbury solve), safeguarded by bisection on a bracket.
  The hard-constraint mode (``constrained=True``) finds ``C(pi(lambda)) = B``
  the same way.

* **joint Newton** (the default for the regularised mode): eliminating the
  multiplier leaves the concave ``P(pi) = R + beta H - (C - B)_+^2 / (2 beta)``.
  Its Newton step is the fixed-multiplier step plus a multiple of
  ``dtheta / dlambda`` (one Sherman-Morrison update, so still ``O(n)``), with the
  multiple chosen by maximising the piecewise-quadratic model across the kink at
  ``C = B`` exactly, so iterates do not bounce across the budget. One loop of
  ~10-30 steps replaces the nested loops; where its line search stalls (two radii
  whose worst cases make ``P`` flat to rounding) the nested method takes over.
  Profiling the nested solver (``python -m benchmarks profile``) showed the time
  in the repeated inner solves and their line searches, which is why.

The logits are kept in ``[-50, 50]`` (policies within 2e-22 of 0 or 1 are 0 or 1
to double precision). Problems above 5,000 rows start from the solution of an
evenly spaced subsample of a tenth of the rows (itself started the same way) and a separable solve of every row at it, which
leaves the outer iteration a few full-size inner solves (n = 1e6 in seconds).
Inner products avoid BLAS, whose threads contend on a busy machine.

Known limit: when a radius is so large that the worst case at the optimum sits on a
few rows (its temperature tends to 0, the worst case becomes non-smooth), the
Newton solves can stall; the solver then reports ``converged=False`` with a
:class:`ConvergenceWarning` (use :func:`racer_dro.solve_cvxpy` there).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logsumexp

from benchmarks._frozen_binary._validation import check_finite, check_positive
from benchmarks._frozen_binary.kl import (
    _TINY_RADIUS,
    _small_radius_temperature,
    _worst_case_min,
)
from benchmarks._frozen_binary.problem import RoutingProblem, Solution

__all__ = [
    "ConvergenceWarning",
    "PolicyValue",
    "evaluate_policy",
    "policy_step",
    "solve_policy",
    "solve_primal_dual",
]


class ConvergenceWarning(UserWarning):
    """The primal-dual solver stopped at ``max_iter`` before meeting its tolerance.

    Examples
    --------
    >>> from benchmarks._frozen_binary.primal_dual import ConvergenceWarning
    >>> issubclass(ConvergenceWarning, UserWarning)
    True
    """


# ---------------------------------------------------------------------------- policy values
@dataclass(frozen=True, eq=False)
class PolicyValue:
    """Worst-case values of a tabular policy (:func:`evaluate_policy`).

    Attributes
    ----------
    worst_case_reward, worst_case_cost : float
        ``R(pi)`` and ``C(pi)``.
    entropy : float
        ``H(pi)``.
    objective : float
        ``R + beta H - (C - B)_+^2 / (2 beta)``.
    multiplier : float
        ``(C - B)_+ / beta``, the exact dual step at this policy.
    reward_weights, cost_weights : ndarray of shape (n,)
        The worst-case distributions ``rho_low`` (reward) and ``rho_up`` (cost).

    Examples
    --------
    >>> import numpy as np
    >>> from benchmarks._frozen_binary import RoutingProblem
    >>> from benchmarks._frozen_binary.primal_dual import evaluate_policy
    >>> problem = RoutingProblem(np.array([[0.0, 1.0], [0.5, 0.5]]), np.array([[1.0, 3.0], [1.0, 3.0]]), budget=2.0)
    >>> evaluate_policy(problem, np.array([1.0, 0.0])).worst_case_cost
    2.0
    """

    worst_case_reward: float
    worst_case_cost: float
    entropy: float
    objective: float
    multiplier: float
    reward_weights: np.ndarray
    cost_weights: np.ndarray


def evaluate_policy(problem: RoutingProblem, policy) -> PolicyValue:
    """Worst-case reward and cost, entropy, objective and dual step of a policy.

    Parameters
    ----------
    problem : RoutingProblem
    policy : array-like of shape (n,)
        ``pi_i = P(reasoning | query i)`` in [0, 1].

    Returns
    -------
    PolicyValue
    """
    pi = problem.check_policy(policy)
    reward = problem.worst_case_reward(pi)
    cost = problem.worst_case_cost(pi)
    entropy = problem.entropy(pi)
    excess = max(cost.value - problem.budget, 0.0)
    return PolicyValue(
        worst_case_reward=float(reward.value),
        worst_case_cost=float(cost.value),
        entropy=entropy,
        objective=float(
            reward.value + problem.beta * entropy - excess**2 / (2 * problem.beta)
        ),
        multiplier=excess / problem.beta,
        reward_weights=reward.weights,
        cost_weights=cost.weights,
    )


def _relative_weights(f, p, mode, radius, temperature, sign, tau_init=None):
    """``w = rho_worst / rho_n`` for signed values (also defined where ``rho_n = 0``).

    Returns ``(w, state)`` with ``state = (value, q, tau)`` in the min sense of ``sign * f``.
    """
    fs = sign * f
    if mode == "none":
        return np.ones_like(fs), (float(p @ fs), p, math.inf)
    value, q, tau, _, _ = _worst_case_min(
        fs, p, radius=radius, temperature=temperature, tau_init=tau_init, root="newton"
    )
    support = p > 0
    m = float(fs[support].min())
    if math.isinf(tau):
        w = np.ones_like(fs)
    elif tau == 0:
        at_min = fs <= m
        w = np.where(at_min, 1.0 / p[at_min & support].sum(), 0.0)
    else:
        with np.errstate(divide="ignore"):
            logp = np.log(p)
        g = fs - m
        L = logsumexp(logp[support] - g[support] / tau)
        w = np.exp(-g / tau - L)
    return w, (value, q, tau)


def policy_step(problem: RoutingProblem, policy, multiplier: float) -> np.ndarray:
    """The closed-form primal step at ``policy`` (one best response, not the optimum).

    ``pi_new = sigmoid((w_r Dr - lambda w_c Dc) / beta)``, with the worst-case
    relative weights ``w_r = rho_low / rho_n`` and ``w_c = rho_up / rho_n``
    evaluated at ``policy`` (DESIGN.md, "Primal step"). This is the target a
    parametric policy is fitted to in Algorithm 1. Iterating it alone does not
    converge for small ``beta``; :func:`solve_policy` gives its fixed point.

    Parameters
    ----------
    problem : RoutingProblem
    policy : array-like of shape (n,)
        The policy at which the worst-case weights are evaluated.
    multiplier : float
        ``lambda >= 0``.

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from benchmarks._frozen_binary import RoutingProblem
    >>> from benchmarks._frozen_binary.primal_dual import policy_step
    >>> problem = RoutingProblem(np.array([[0.0, 1.0], [0.5, 0.5]]), np.array([[1.0, 3.0], [1.0, 3.0]]), budget=2.0)
    >>> policy_step(problem, np.full(2, 0.5), 0.0).round(3)
    array([1. , 0.5])
    """
    pi = problem.check_policy(policy)
    lam = check_finite(multiplier, "multiplier")
    if lam < 0:
        raise ValueError(f"`multiplier` must be non-negative, got {lam!r}")
    p = np.asarray(problem.weights)
    w_r, _ = _relative_weights(
        problem.reward_values(pi),
        p,
        problem.reward_mode,
        problem.reward_radius,
        problem.reward_temperature,
        1.0,
    )
    w_c, _ = _relative_weights(
        problem.cost_values(pi),
        p,
        problem.cost_mode,
        problem.cost_radius,
        problem.cost_temperature,
        -1.0,
    )
    return expit(
        (w_r * problem.reward_gain - lam * w_c * problem.cost_gain) / problem.beta
    )


# ---------------------------------------------------------------------------- the engine
_FIXED_POINT_TOL = 1e-6  # max |primal step - pi| accepted at an inner optimum
_THETA_MAX = (
    50.0  # |logit| beyond which pi is 0 or 1 to 2e-22: logits are kept in [-50, 50]
)


def _sigmoid_entropy(theta):
    """``sigmoid(theta)`` and the binary entropy of it, from one exponential.

    With ``e = exp(-|theta|)``: ``sigmoid = 1 / (1 + e)`` or ``e / (1 + e)``, and
    ``h = log1p(e) + max(-theta, 0) + theta (1 - sigmoid)``.
    """
    e = np.exp(-np.abs(theta))
    inv = 1.0 / (1.0 + e)
    pi = np.where(theta >= 0, inv, e * inv)
    h = np.log1p(e) + np.maximum(-theta, 0.0) + theta * (1.0 - pi)
    return pi, h


@dataclass
class _Side:
    """One robust side evaluated at a policy (min sense of ``sign * f``)."""

    value: float  # V(sign * f)
    q: np.ndarray
    tau: float
    curv: float  # Hess V = -curv diag(q) + sum coef vec vec^T
    lowrank: list


def _dot(a, b) -> float:
    """Inner product without BLAS (whose threads contend on a busy machine)."""
    return float(np.einsum("i,i->", a, b))


def _fast_tilt(g, logp, tau):
    """``q ∝ p exp(-g / tau)``, ``L = log sum p exp(-g / tau)`` with one exponential."""
    a = logp - g / tau
    amax = a.max()
    e = np.exp(a - amax)
    s = e.sum()
    return e / s, float(amax + math.log(s))


class _Engine:
    """The policy problem restricted to rows with positive weight, in logits."""

    def __init__(self, problem: RoutingProblem):
        self.problem = problem
        p_all = np.asarray(problem.weights)
        self.active = p_all > 0
        a = self.active
        self.p = p_all[a] / p_all[a].sum()
        self.logp = np.log(self.p)
        self.r0 = np.asarray(problem.rewards[a, 0])
        self.c0 = np.asarray(problem.costs[a, 0])
        self.dr = np.asarray(problem.reward_gain)[a]
        self.dc = np.asarray(problem.cost_gain)[a]
        self.beta = problem.beta
        self.budget = problem.budget
        self.r_mode, self.c_mode = problem.reward_mode, problem.cost_mode
        self.tau = {1.0: None, -1.0: None}  # warm starts for the radius roots
        self.dtheta_dlam = None

    # -- sides
    def _radius_tau(self, g, radius, tau_init):
        """Root of ``KL(tau) = radius`` (safeguarded Newton in ``log tau``, warm start)."""
        p, logp = self.p, self.logp
        if tau_init is None:
            mean = _dot(p, g)
            tau_init = math.sqrt(max(_dot(p, (g - mean) ** 2), 1e-300) / (2 * radius))
        s = math.log(tau_init)
        log_delta = math.log(radius)
        lo, hi = -math.inf, math.inf
        for _ in range(100):
            tau = math.exp(s)
            q, L = _fast_tilt(g, logp, tau)
            eg = _dot(q, g)
            kl = -eg / tau - L
            d = g - eg
            var = _dot(q, d * d)
            if not kl > 0 or var <= 0:
                break
            phi = math.log(kl) - log_delta
            if phi > 0:
                lo = s
            else:
                hi = s
            if abs(phi) < 1e-13:
                return tau, q, var
            new = s + min(max(phi * tau * tau * kl / var, -4.0), 4.0)  # bounded step
            if not lo < new < hi:
                if math.isfinite(lo) and math.isfinite(hi):
                    new = 0.5 * (lo + hi)
                else:
                    new = lo + 4.0 if math.isfinite(lo) else hi - 4.0
            if abs(new - s) < 1e-14 * max(1.0, abs(s)):
                return math.exp(new), q, var
            s = new
        # fall back on the careful bracketed root of kl.py
        _, q, tau, _, _ = _worst_case_min(g, p, radius=radius)
        d = g - _dot(q, g)
        return tau, q, _dot(q, d * d)

    def _side(self, f, sign, mode, radius, temperature):
        fs = sign * f
        p = self.p
        if mode == "none" or (mode == "temperature" and math.isinf(temperature)):
            return _Side(_dot(p, fs), p, math.inf, 0.0, [])
        m = float(fs.min())
        g = fs - m
        if mode == "temperature":
            q, L = _fast_tilt(g, self.logp, temperature)
            return _Side(
                m - temperature * L,
                q,
                temperature,
                1.0 / temperature,
                [(1.0 / temperature, q)],
            )
        at_min = g == 0
        rest = float(p[~at_min].sum())
        threshold = -math.log1p(-rest) if rest < 1 else math.inf
        if radius == 0 or rest == 0:
            return _Side(_dot(p, fs), p, math.inf, 0.0, [])
        if radius >= threshold:
            q = np.where(at_min, p, 0.0) / (1.0 - rest)
            return _Side(m, q, 0.0, 0.0, [])
        if radius < _TINY_RADIUS:
            tau = _small_radius_temperature(g, p, radius)
            q, _ = _fast_tilt(g, self.logp, tau)
            d = g - _dot(q, g)
            var = _dot(q, d * d)
        else:
            tau, q, var = self._radius_tau(g, radius, self.tau[sign])
        if not (0 < tau < math.inf):
            return _Side(m + _dot(q, g), q, tau, 0.0, [])
        self.tau[sign] = tau
        eg = _dot(q, g)
        v = q * (g - eg)
        lowrank = [(1.0 / tau, q)]
        if var > 0:
            lowrank.append((1.0 / (tau * var), v))
        return _Side(m + eg, q, tau, 1.0 / tau, lowrank)

    def sides(self, pi):
        pr = self.problem
        rs = self._side(
            self.r0 + pi * self.dr,
            1.0,
            self.r_mode,
            pr.reward_radius,
            pr.reward_temperature,
        )
        cs = self._side(
            self.c0 + pi * self.dc,
            -1.0,
            self.c_mode,
            pr.cost_radius,
            pr.cost_temperature,
        )
        return rs, cs

    def terms(self, theta):
        """``R``, ``C``, ``H`` and both sides at the logits ``theta``."""
        pi, h = _sigmoid_entropy(theta)
        rs, cs = self.sides(pi)
        return rs.value, -cs.value, _dot(self.p, h), rs, cs

    def value(self, theta, lam):
        """``F_lambda`` at ``theta``, with ``R``, ``C`` and ``H``."""
        reward, cost, entropy, rs, cs = self.terms(theta)
        return reward - lam * cost + self.beta * entropy, reward, cost, entropy, rs, cs

    # -- Newton
    def direction(self, theta, lam, rs, cs):
        """Newton direction in logits and ``dtheta / dlambda`` (two Woodbury solves)."""
        pi = expit(theta)
        s = pi * (1.0 - pi)  # sigma'
        s = np.where(pi > 0.5, expit(-theta) * pi, s)  # accurate near pi = 1
        p, beta = self.p, self.beta
        grad = self.dr * rs.q - lam * self.dc * cs.q - beta * p * theta
        grad_c = self.dc * cs.q  # gradient of C in pi
        diag = -(
            s * (self.dr**2 * rs.q * rs.curv + lam * self.dc**2 * cs.q * cs.curv)
            + beta * p
        )
        cols, coefs = [], []
        for coef, vec in rs.lowrank:
            cols.append(self.dr * vec)
            coefs.append(coef)
        if lam > 0:
            for coef, vec in cs.lowrank:
                cols.append(self.dc * vec)
                coefs.append(lam * coef)
        rhs = np.column_stack([-grad, grad_c])
        dinv_rhs = rhs / diag[:, None]
        if cols:
            U = np.column_stack(cols) * np.asarray(coefs)[None, :]
            W = np.column_stack(cols) * s[:, None]
            dinv_U = U / diag[:, None]
            cap = np.eye(len(cols)) + np.einsum("ij,il->jl", W, dinv_U)
            try:
                small = np.linalg.solve(cap, np.einsum("ij,il->jl", W, dinv_rhs))
                sol = dinv_rhs - np.einsum("ij,jl->il", dinv_U, small)
            except np.linalg.LinAlgError:
                sol = None
            if sol is None or not np.all(np.isfinite(sol)):
                # extreme curvature (temperature ~ 0): the diagonal part alone still
                # gives an ascent direction (the dropped low-rank part is PSD)
                sol = dinv_rhs
        else:
            sol = dinv_rhs
        step, dtheta_dlam = sol[:, 0], sol[:, 1]
        decrement = _dot(grad, s * step)
        dcost_dlam = _dot(s * grad_c, dtheta_dlam)  # <= 0
        self.dtheta_dlam = (
            dtheta_dlam  # for a first-order warm start at the next multiplier
        )
        return step, s, decrement, dcost_dlam

    def mm_step(self, theta, lam, rs, cs):
        """Exact maximiser of the separable minorant of ``F_lambda`` at ``theta``.

        Replacing each ``-tau log S`` by its tangent minorant ``-tau (S / S0 + log S0 - 1)``
        (and, for a radius, freezing the dual temperature) leaves a sum of strictly
        concave 1-D problems whose optimality conditions are the primal step with
        each query's own weight following its policy:
        ``beta theta_i = Dr_i w_r(pi_i) - lambda Dc_i w_c(pi_i)``. Solved exactly
        (vectorised safeguarded Newton); F does not decrease (majorise-minimise).
        """
        p = self.p
        return self.separable(
            theta, expit(theta), rs.q / p, cs.q / p, rs.curv, cs.curv, lam
        )

    def separable(self, theta, pi0, wr0, wc0, curv_r, curv_c, lam, tol=1e-10):
        """Solve ``beta theta_i = Dr_i w_r(pi_i) - lambda Dc_i w_c(pi_i)`` row by row, with
        ``w_r(pi) = wr0 exp(-Dr curv_r (pi - pi0))`` and ``w_c(pi) = wc0 exp(Dc curv_c (pi - pi0))``."""
        beta = self.beta
        kr, kc = self.dr * curv_r, self.dc * curv_c
        ar, ac = self.dr * wr0, lam * self.dc * wc0
        # overflow to inf is harmless: the bracketing below treats it as a sign
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._separable(theta, pi0, ar, ac, kr, kc, beta, tol)

    @staticmethod
    def _separable(theta, pi0, ar, ac, kr, kc, beta, tol=1e-10):
        def rhs(pi, idx):
            er = np.clip(-kr[idx] * (pi - pi0[idx]), -700.0, 700.0)
            ec = np.clip(kc[idx] * (pi - pi0[idx]), -700.0, 700.0)
            wr, wc = ar[idx] * np.exp(er), ac[idx] * np.exp(ec)
            return wr - wc, kr[idx] * wr + kc[idx] * wc  # value, -d/dpi

        everyone = np.arange(pi0.shape[0])
        r_at0, _ = rhs(np.zeros_like(pi0), everyone)
        r_at1, _ = rhs(np.ones_like(pi0), everyone)
        # roots beyond +-50 saturate: clip the bracket
        lo = np.clip(np.minimum(r_at0, r_at1) / beta, -_THETA_MAX, _THETA_MAX)
        hi = np.clip(np.maximum(r_at0, r_at1) / beta, -_THETA_MAX, _THETA_MAX)
        th = np.clip(theta, lo, hi)
        idx = everyone[hi - lo > tol]  # rows still being solved
        for _ in range(200):
            if idx.size == 0:
                break
            t, lo_i, hi_i = th[idx], lo[idx], hi[idx]
            pi = expit(t)
            val, slope = rhs(pi, idx)
            phi = beta * t - val
            lo_i = np.where(phi < 0, t, lo_i)
            hi_i = np.where(phi > 0, t, hi_i)
            new = t - phi / (beta + pi * expit(-t) * slope)
            bad = ~((new > lo_i) & (new < hi_i))
            new = np.where(bad, 0.5 * (lo_i + hi_i), new)
            th[idx], lo[idx], hi[idx] = new, lo_i, hi_i
            done = (np.abs(new - t) <= tol) | (hi_i - lo_i <= tol)
            idx = idx[~done]
        return np.clip(th, -_THETA_MAX, _THETA_MAX)

    def fixed_point_residual(self, theta, lam, rs, cs) -> float:
        """``max_i |sigmoid((w_r Dr - lambda w_c Dc) / beta) - pi_i|`` at ``theta``."""
        if theta.size == 0:
            return 0.0
        target = (self.dr * rs.q - lam * self.dc * cs.q) / (self.beta * self.p)
        return float(np.max(np.abs(expit(target) - expit(theta))))

    def solve(self, lam, theta0, tol, max_iter=200):
        """Damped Newton for ``max F_lambda`` (projected on ``|theta| <= 50``)."""
        theta = np.clip(np.array(theta0, dtype=float), -_THETA_MAX, _THETA_MAX)
        F, R, C, H, rs, cs = self.value(theta, lam)
        converged = False
        dcost = 0.0
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            step, s, dec, dcost = self.direction(theta, lam, rs, cs)
            dpi = float(np.max(np.abs(s * step))) if step.size else 0.0
            # fixed-point residual of the closed-form primal step: a tiny Newton step
            # alone does not prove optimality when the curvature is huge (a radius
            # near its threshold makes the worst case almost non-smooth)
            fixed = self.fixed_point_residual(theta, lam, rs, cs)
            tiny = (
                dec <= 1e-15 * (1.0 + abs(F)) or dpi <= 1e-9
            ) and fixed <= _FIXED_POINT_TOL
            stalled = dpi <= 1e-9 and not tiny
            t = 1.0
            if stalled:
                out, accepted = None, False
            else:
                trial = np.clip(theta + step, -_THETA_MAX, _THETA_MAX)
                out = self.value(trial, lam)
                accepted = out[0] >= F + 1e-4 * dec or tiny
            if not accepted:
                # far from the optimum: the exact majorise-minimise step, then backtracking
                t = 0.0
                mm = self.mm_step(theta, lam, rs, cs)
                out = self.value(mm, lam)
                if out[0] > F:
                    trial, accepted = mm, True
                elif not stalled:
                    t = 0.5
                    for _ in range(60):
                        trial = np.clip(theta + t * step, -_THETA_MAX, _THETA_MAX)
                        out = self.value(trial, lam)
                        if out[0] >= F + 1e-4 * t * dec:
                            accepted = True
                            break
                        t *= 0.5
            if not accepted:
                # no ascent at machine precision: converged if the step is tiny
                converged = dpi <= 1e-7 and fixed <= _FIXED_POINT_TOL
                break
            theta = trial
            F, R, C, H, rs, cs = out
            if t == 1.0 and dpi <= tol and fixed <= _FIXED_POINT_TOL:
                converged = True
                break
        return theta, F, R, C, H, dcost, converged, n_iter

    # -- joint Newton on the penalised objective (regularised mode)
    def penalised(self, theta):
        """``P = R + beta H - (C - B)_+^2 / (2 beta)`` at ``theta`` and ``lambda(theta)``."""
        reward, cost, entropy, rs, cs = self.terms(theta)
        excess = max(cost - self.budget, 0.0)
        value = reward + self.beta * entropy - excess * excess / (2.0 * self.beta)
        return value, reward, cost, entropy, excess / self.beta, rs, cs

    def _kink_step(self, step, s, dec, dcost, lam, cost, cs):
        """Maximiser of the piecewise-quadratic model of ``P`` (kink at ``C = B``).

        The model is the fixed-multiplier Newton model at ``lambda = 0`` plus
        ``-(C - B + u)_+^2 / (2 beta)``, with ``u`` the predicted change of ``C``.
        Along ``u`` the model is a 1-D concave problem solved exactly: the step
        stays on the side of the kink where its optimum lies, so Newton does not
        bounce across the budget. Returns the step in the logits and its
        directional derivative of ``P`` (the Newton decrement).
        """
        if not dcost < 0:
            return step, dec
        z = self.dtheta_dlam  # H^{-1} grad C: the step per unit of multiplier
        dc_pred = _dot(s * self.dc * cs.q, step)
        u0 = dc_pred - lam * dcost  # predicted change of C without the penalty
        excess = cost - self.budget
        u = (
            u0
            if excess + u0 <= 0
            else (self.beta * u0 + excess * dcost) / (self.beta - dcost)
        )
        k = (u - u0) / dcost - lam
        return step + k * z, dec - k * dc_pred

    def solve_joint(self, theta0, tol, max_iter=100):
        """Damped Newton on ``P(theta)`` with the multiplier eliminated.

        ``P`` is concave in ``pi``; its Hessian is that of ``F_lambda`` at
        ``lambda = (C - B)_+ / beta`` minus ``grad C grad C^T / beta`` where the
        budget binds, so the step follows from the fixed-multiplier Newton step
        and ``dtheta / dlambda`` by one Sherman-Morrison update (still ``O(n)``).
        Returns ``(theta, records, converged)``; ``records`` holds one dict per
        iterate (``None`` in place of ``theta`` if the line search fails).
        """
        theta = np.clip(np.array(theta0, dtype=float), -_THETA_MAX, _THETA_MAX)
        P, R, C, _, lam, rs, cs = self.penalised(theta)
        records = []
        best, stalls = math.inf, 0
        for it in range(max_iter):
            step, s, dec, dcost = self.direction(theta, lam, rs, cs)
            step, dec = self._kink_step(step, s, dec, dcost, lam, C, cs)
            dpi = float(np.max(np.abs(s * step))) if step.size else 0.0
            fixed = self.fixed_point_residual(theta, lam, rs, cs)
            records.append(
                dict(
                    iteration=it,
                    **{"lambda": lam},
                    worst_case_reward=R,
                    worst_case_cost=C,
                    objective=P,
                    newton_decrement=dec,
                    theta=theta,
                )
            )
            if dpi <= tol and fixed <= _FIXED_POINT_TOL:
                return theta, records, True
            # at the rounding floor of the gradient the step stops shrinking: three
            # steps in a row without halving it, once it is tiny, are convergence
            stalls = stalls + 1 if dpi > 0.5 * best else 0
            best = min(best, dpi)
            if stalls >= 3 and dpi <= 1e-9 and fixed <= _FIXED_POINT_TOL:
                return theta, records, True
            t, accepted = 1.0, False
            # once the predicted increase is below the rounding of P (large n: each
            # row weighs 1/n), the Armijo test cannot see progress: in this local
            # regime take the full Newton step
            local = dec <= 1e-13 * (1.0 + abs(P))
            for _ in range(40):
                trial = np.clip(theta + t * step, -_THETA_MAX, _THETA_MAX)
                out = self.penalised(trial)
                if local or out[0] >= P + 1e-4 * t * dec:
                    accepted = True
                    break
                t *= 0.5
            if not accepted:
                # no ascent at machine precision: converged only if the step is tiny
                return theta, records, dpi <= 1e-7 and fixed <= _FIXED_POINT_TOL
            theta = trial
            P, R, C, _, lam, rs, cs = out
        return theta, records, False

    def initial_logits(self, lam):
        return np.clip((self.dr - lam * self.dc) / self.beta, -20.0, 20.0)


def solve_policy(
    problem: RoutingProblem, multiplier: float, *, init=None, tol: float = 1e-12
) -> np.ndarray:
    """The exact policy at a fixed multiplier: ``argmax_pi R(pi) - lambda C(pi) + beta H(pi)``.

    Strictly concave for ``beta > 0``; solved by damped Newton in the logits
    with ``O(n)`` steps (see the module docstring). The result is the fixed point
    of :func:`policy_step`.

    Parameters
    ----------
    problem : RoutingProblem
    multiplier : float
        ``lambda >= 0``.
    init : array-like of shape (n,), optional
        A starting policy in (0, 1) (e.g. the previous solution); any start converges.
    tol : float, default=1e-12
        Stop when the Newton step changes no policy entry by more than ``tol``.

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from benchmarks._frozen_binary import RoutingProblem
    >>> from benchmarks._frozen_binary.primal_dual import policy_step, solve_policy
    >>> rng = np.random.default_rng(0)
    >>> problem = RoutingProblem(rng.uniform(size=(20, 2)), rng.uniform(1, 3, size=(20, 2)),
    ...                          budget=2.5, beta=0.05, reward_temperature=0.2)
    >>> pi = solve_policy(problem, 0.3)
    >>> bool(np.allclose(policy_step(problem, pi, 0.3), pi, atol=1e-9))
    True
    """
    lam = check_finite(multiplier, "multiplier")
    if lam < 0:
        raise ValueError(f"`multiplier` must be non-negative, got {lam!r}")
    tol = check_positive(tol, "tol")
    engine = _Engine(problem)
    theta0 = _init_logits(problem, engine, init, lam)
    theta, *_, ok, _ = engine.solve(lam, theta0, tol)
    if not ok:
        warnings.warn(
            "solve_policy: Newton did not reach `tol`", ConvergenceWarning, stacklevel=2
        )
    return _full_policy(problem, engine, theta, lam)


def _init_logits(problem, engine, init, lam):
    if init is None:
        return engine.initial_logits(lam)
    pi0 = problem.check_policy(init, "init")[engine.active]
    pi0 = np.clip(pi0, 1e-12, 1 - 1e-12)
    return np.log(pi0) - np.log1p(-pi0)


def _full_policy(problem, engine, theta, lam):
    """Policy on all rows from the solved logits of the rows with positive weight."""
    pi = np.zeros(problem.n_samples)
    pi[engine.active] = expit(theta)
    if engine.active.all():
        return pi
    return _fill_zero_weight(problem, pi, engine.active, lam)


def _fill_zero_weight(problem, policy, active, lam):
    """Rows with zero weight do not enter the problem; give them the limit of their own
    optimum as their weight tends to 0: the 1-D fixed point of the primal step
    ``beta logit pi_i = w_r(i) Dr_i - lambda w_c(i) Dc_i`` (the weights depend on ``pi_i``)."""
    pi = np.array(policy, dtype=float)
    zero = ~active
    pi[zero] = 0.0
    p = np.asarray(problem.weights)

    def rhs(pz):
        full = pi.copy()
        full[zero] = pz
        w_r, _ = _relative_weights(
            problem.reward_values(full),
            p,
            problem.reward_mode,
            problem.reward_radius,
            problem.reward_temperature,
            1.0,
        )
        w_c, _ = _relative_weights(
            problem.cost_values(full),
            p,
            problem.cost_mode,
            problem.cost_radius,
            problem.cost_temperature,
            -1.0,
        )
        return (w_r * problem.reward_gain - lam * w_c * problem.cost_gain)[
            zero
        ] / problem.beta

    # theta - rhs(theta) is strictly increasing; the root lies between rhs(0) and rhs(1)
    r_lo, r_hi = rhs(np.zeros(zero.sum())), rhs(np.ones(zero.sum()))
    lo, hi = np.minimum(r_lo, r_hi) - 1.0, np.maximum(r_lo, r_hi) + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        above = mid - rhs(expit(mid)) > 0
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
        if np.all(hi - lo <= 1e-12 * (1 + np.abs(mid))):
            break
    pi[zero] = expit(0.5 * (lo + hi))
    return pi


# ---------------------------------------------------------------------------- the solver
_LAMBDA_MAX = 1e12  # constrained mode: a multiplier beyond this means B = min cost
_SUBSAMPLE_ABOVE = 5_000  # rows; larger problems start from a subsample's solution
_SUBSAMPLE_FACTOR = 10  # the subsample has n / 10 rows (itself started the same way)


def _subsample_start(problem, engine, constrained, method="nested"):
    """Starting point ``(lambda, theta)``: ``(0, None)``, or for large problems the
    multiplier of an evenly spaced subsample of the rows (solved to ~1e-6) and the
    logits of every row at that multiplier given the subsample's worst-case weights
    (one separable solve). The outer Newton iteration then needs only a few
    full-size inner solves. Any start converges; this only saves time."""
    n = engine.p.shape[0]
    if n <= _SUBSAMPLE_ABOVE:
        return 0.0, None
    size = max(n // _SUBSAMPLE_FACTOR, 2)
    rows = np.flatnonzero(engine.active)[np.linspace(0, n - 1, size).astype(int)]
    try:
        sub = RoutingProblem(
            problem.rewards[rows],
            problem.costs[rows],
            problem.budget,
            beta=problem.beta,
            reward_radius=problem.reward_radius,
            cost_radius=problem.cost_radius,
            reward_temperature=problem.reward_temperature,
            cost_temperature=problem.cost_temperature,
            sample_weight=np.asarray(problem.weights)[rows],
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sol = solve_primal_dual(
                sub, tol=1e-6, max_iter=200, constrained=constrained, method=method
            )
    except ValueError:  # e.g. the budget is infeasible on the subsample
        return 0.0, None
    lam = float(sol.multiplier)
    if not math.isfinite(lam):
        return 0.0, None
    sub_engine = _Engine(sub)
    pi_sub = np.clip(sol.policy, 1e-300, 1.0)
    rs, cs = sub_engine.sides(pi_sub)

    def weights_at_zero(side, sign, sub_values, full_values):
        if not (0 < side.tau < math.inf):
            return np.ones_like(full_values), 0.0
        fs = sign * sub_values
        m = float(fs.min())
        _, L = _fast_tilt(fs - m, sub_engine.logp, side.tau)
        expo = np.minimum(-(sign * full_values - m) / side.tau - L, 700.0)
        return np.exp(expo), side.curv

    wr0, curv_r = weights_at_zero(
        rs, 1.0, sub_engine.r0 + pi_sub * sub_engine.dr, engine.r0
    )
    wc0, curv_c = weights_at_zero(
        cs, -1.0, sub_engine.c0 + pi_sub * sub_engine.dc, engine.c0
    )
    zeros = np.zeros(n)
    # only a start: the full-size solve refines it, so 1e-4 in the logits will do
    theta = engine.separable(zeros, zeros, wr0, wc0, curv_r, curv_c, lam, tol=1e-4)
    return lam, theta


def _bernoulli_kl_to(theta_a, theta_b, softplus_neg_b, p):
    """``sum_i p_i KL(Bern(sigmoid(a_i)) || Bern(sigmoid(b_i)))`` and ``sigmoid(a)``.

    Stable in the logits, given ``softplus(-theta_b)`` (shared by every ``a``):

    ``KL = -h(a) - pa log pb - qa log qb = -h(a) + softplus(-b) + qa b``.
    """
    pa, ha = _sigmoid_entropy(theta_a)
    kl = _dot(p, softplus_neg_b + (1.0 - pa) * theta_b - ha)
    return max(kl, 0.0), pa


def _distances_to_final(history, thetas, theta_star, lam_star, p):
    pi_star = expit(theta_star)
    sp = np.logaddexp(0.0, -theta_star)
    kl, l2 = [], []
    for t in thetas:
        value, pi = _bernoulli_kl_to(t, theta_star, sp, p)
        d = pi - pi_star
        kl.append(value)
        l2.append(math.sqrt(_dot(d, d)))
    history["kl_to_final"] = kl
    history["l2_to_final"] = l2
    history["lambda_to_final"] = np.abs(history["lambda"].to_numpy() - lam_star)
    return history


def _solve_newton(problem, engine, theta, tol, max_iter, method):
    """The joint Newton path of :func:`solve_primal_dual`; ``None`` to fall back."""
    # the Newton steps converge quadratically: a step tolerance well below the
    # outer one gives a multiplier accurate to ``tol``
    step_tol = max(min(tol, 1e-10) * 1e-2, 1e-14)
    # "auto" gives up early (and falls back on the nested method): Newton either
    # converges in tens of steps or stalls
    cap = 100 if method == "auto" else 500
    theta, records, converged = engine.solve_joint(
        theta, step_tol, max_iter=min(int(max_iter), cap)
    )
    if not converged and method == "auto":
        return None
    if not converged:
        warnings.warn(
            f"solve_primal_dual (Newton) stopped after {len(records)} iterations "
            f"without meeting `tol` = {tol!r}",
            ConvergenceWarning,
            stacklevel=3,
        )
    thetas = [r.pop("theta") for r in records]
    last = records[-1]
    history = pd.DataFrame({key: [r[key] for r in records] for key in records[0]})
    history = _distances_to_final(history, thetas, theta, last["lambda"], engine.p)
    return Solution(
        policy=_full_policy(problem, engine, theta, last["lambda"]),
        multiplier=float(last["lambda"]),
        objective=float(last["objective"]),
        worst_case_reward=float(last["worst_case_reward"]),
        worst_case_cost=float(last["worst_case_cost"]),
        converged=bool(converged),
        history=history,
        entropy=_dot(engine.p, _sigmoid_entropy(theta)[1]),
        constrained=False,
        method="primal_dual_newton",
        n_iter=len(records),
    )


def solve_primal_dual(
    problem: RoutingProblem,
    *,
    tol: float = 1e-10,
    max_iter: int = 10_000,
    constrained: bool = False,
    init=None,
    method: str = "auto",
) -> Solution:
    """Solve the regularised RACER saddle problem (or the hard-constraint problem).

    Parameters
    ----------
    problem : RoutingProblem
    tol : float, default=1e-10
        Outer tolerance: stop when the next multiplier step is at most
        ``tol * max(1, lambda)`` (and the inner Newton solve has converged).
    max_iter : int, default=10_000
        Maximum number of outer (multiplier) iterations.
    constrained : bool, default=False
        ``False``: the regularised saddle problem, whose multiplier satisfies
        ``lambda = (C(pi) - B)_+ / beta``. ``True``: ``max R + beta H`` subject to
        ``C(pi) <= B`` (no dual regulariser); the multiplier solves
        ``C(pi(lambda)) = B`` (or is 0 when the constraint is inactive).
    init : array-like of shape (n,), optional
        Starting policy for the inner solves.
    method : {"auto", "newton", "nested"}, default="auto"
        ``"newton"``: damped Newton on the penalised objective
        ``R + beta H - (C - B)_+^2 / (2 beta)`` with the multiplier eliminated
        (regularised mode only; one ``O(n)`` step per iteration, the step across
        the kink at ``C = B`` taken exactly). ``"nested"``: Newton on the
        multiplier around exact inner policy solves (the primal-dual iteration
        whose rate Theorem 4.2 describes; both modes). ``"auto"``: ``"newton"``
        for the regularised mode, falling back on ``"nested"`` if its line
        search fails; ``"nested"`` for ``constrained=True``.

    Returns
    -------
    Solution
        ``method`` is ``"primal_dual"`` (nested) or ``"primal_dual_newton"``.
        For the nested method ``history`` is a DataFrame with one row per outer
        iteration: ``lambda``,
        ``worst_case_reward``, ``worst_case_cost``, ``objective`` (primal value at
        the iterate), ``dual`` (``max_pi L(pi, lambda_t)``), ``gap`` (dual minus
        primal, >= 0 in the regularised mode; ``|lambda (C - B)|`` in the
        constrained mode), ``inner_iter``, and the distances to the final iterate
        ``kl_to_final`` (``sum rho_n KL(pi_t || pi*)``), ``l2_to_final``
        (``||pi_t - pi*||_2``) and ``lambda_to_final``. For the Newton method one
        row per Newton iterate, with ``lambda = (C - B)_+ / beta`` at it,
        ``worst_case_reward``, ``worst_case_cost``, ``objective``,
        ``newton_decrement`` (the directional derivative along the step; the
        iteration stops when it or the step vanishes) and the same distances.

    Notes
    -----
    The outer iteration is Newton's method on the strictly increasing
    ``g(lambda) = beta lambda - (C(pi(lambda)) - B)_+`` with a bisection safeguard,
    so it converges from any start; near the solution it is quadratic, faster than
    Theorem 4.2's linear rate (which the history lets one check on a log scale).

    Examples
    --------
    >>> import numpy as np
    >>> from benchmarks._frozen_binary import RoutingProblem, solve_primal_dual
    >>> rng = np.random.default_rng(1)
    >>> rewards = rng.uniform(size=(200, 2))
    >>> costs = np.column_stack([np.ones(200), rng.uniform(2, 6, size=200)])
    >>> problem = RoutingProblem(rewards, costs, budget=2.0, reward_temperature=0.5, cost_radius=0.05)
    >>> sol = solve_primal_dual(problem)
    >>> sol.converged, bool(abs(sol.multiplier - max(sol.worst_case_cost - 2.0, 0) / 0.01) < 1e-6)
    (True, True)
    """
    if not isinstance(problem, RoutingProblem):
        raise TypeError(
            f"`problem` must be a RoutingProblem, got {type(problem).__name__}"
        )
    tol = check_positive(tol, "tol")
    if (
        isinstance(max_iter, bool)
        or not isinstance(max_iter, (int, np.integer))
        or max_iter < 1
    ):
        raise ValueError(f"`max_iter` must be a positive integer, got {max_iter!r}")
    if method not in {"auto", "newton", "nested"}:
        raise ValueError(
            f"`method` must be 'auto', 'newton' or 'nested', got {method!r}"
        )
    if method == "newton" and constrained:
        raise ValueError(
            "`method`='newton' solves the regularised problem only; use "
            "method='nested' (or 'auto') with `constrained=True`"
        )
    engine = _Engine(problem)
    beta, budget = problem.beta, problem.budget
    inner_tol = max(min(tol, 1e-10) * 1e-2, 1e-14)
    lam, theta = _subsample_start(problem, engine, constrained, method)
    if theta is None or init is not None:
        theta = _init_logits(problem, engine, init, lam)
    if method != "nested" and not constrained:
        joint = _solve_newton(problem, engine, theta, tol, max_iter, method)
        if joint is not None:
            return joint
        engine = _Engine(problem)  # fall back from a clean state (no warm starts)

    records, thetas = [], []
    lo, hi = 0.0, math.inf
    converged = unbounded = False
    inner_ok_all = True
    for it in range(int(max_iter)):
        theta, F, R, C, H, dcost, inner_ok, n_inner = engine.solve(
            lam, theta, inner_tol
        )
        inner_ok_all = inner_ok
        excess = C - budget
        if constrained:
            gval, gprime = -excess, -dcost  # B - C(lambda), non-decreasing
            primal = R + beta * H
            dual = F + lam * budget
            gap = abs(lam * excess)
        else:
            gval = beta * lam - max(excess, 0.0)
            gprime = beta - (dcost if excess > 0 else 0.0)
            primal = R + beta * H - max(excess, 0.0) ** 2 / (2 * beta)
            dual = F + lam * budget + 0.5 * beta * lam**2
            gap = dual - primal
        records.append(
            dict(
                iteration=it,
                **{"lambda": lam},
                worst_case_reward=R,
                worst_case_cost=C,
                objective=primal,
                dual=dual,
                gap=gap,
                inner_iter=n_inner,
            )
        )
        thetas.append(theta.copy())
        if lam == 0.0 and gval >= 0:  # constraint inactive at the unconstrained optimum
            converged = inner_ok
            break
        if gval < 0:
            lo = max(lo, lam)
        else:
            hi = min(hi, lam)
        if constrained:
            newton = lam - gval / gprime if gprime > 0 else math.inf
        else:
            # Newton on the smooth branch beta lambda - (C - B): the same root when the
            # constraint binds, and a useful step (not the kink's) where it is slack
            newton = lam - (beta * lam - excess) / (beta - dcost)
        if math.isfinite(hi):
            new = newton if lo < newton < hi else 0.5 * (lo + hi)
        else:  # constrained mode before an upper bracket is known
            new = (
                newton if newton > lo and math.isfinite(newton) else max(2.0 * lo, 1.0)
            )
            new = min(new, max(10.0 * lo, 1.0))
        residual = abs(gval) if constrained else abs(gval) / beta
        scale = max(1.0, abs(budget)) if constrained else max(1.0, lam)
        newton_step = abs(gval / gprime) if gprime > 0 else math.inf
        if residual <= tol * scale and newton_step <= tol * max(1.0, lam) and inner_ok:
            converged = True
            break
        if math.isfinite(hi) and hi - lo <= 4 * np.finfo(float).eps * max(1.0, hi):
            # the bracket has collapsed: a solution only if the residual is small too
            # (a jump in C(pi(lambda)) means an inner solve failed)
            converged = inner_ok and residual <= 1e3 * tol * scale
            break
        if not math.isfinite(hi) and lam > _LAMBDA_MAX:
            unbounded = True
            break
        if constrained and not math.isfinite(hi) and it >= 5:
            new = max(
                new, 2.0 * lam
            )  # no upper bracket yet: grow at least geometrically
        new = max(new, 0.0)
        # warm start: first-order prediction of the next inner solution (implicit function)
        if engine.dtheta_dlam is not None:
            theta = theta + (new - lam) * engine.dtheta_dlam
        lam = new

    if unbounded:
        warnings.warn(
            f"solve_primal_dual: the multiplier exceeds {_LAMBDA_MAX:g} with the worst-case "
            f"cost still above `budget` = {budget!r} (the minimum achievable is "
            f"{problem.min_cost!r}): the hard constraint is feasible only in the limit",
            ConvergenceWarning,
            stacklevel=2,
        )
    elif not converged:
        warnings.warn(
            f"solve_primal_dual stopped after {len(records)} iterations without meeting "
            f"`tol` = {tol!r} (inner solve converged: {inner_ok_all})",
            ConvergenceWarning,
            stacklevel=2,
        )
    history = pd.DataFrame.from_records(records)
    theta_star = thetas[-1]
    p = engine.p
    history = _distances_to_final(history, thetas, theta_star, lam, p)

    policy = _full_policy(problem, engine, theta_star, lam)
    last = records[-1]
    R, C = last["worst_case_reward"], last["worst_case_cost"]
    H = _dot(p, _sigmoid_entropy(theta_star)[1])
    if constrained:
        multiplier = lam
        objective = R + beta * H
    else:
        multiplier = max(C - budget, 0.0) / beta
        objective = R + beta * H - max(C - budget, 0.0) ** 2 / (2 * beta)
    return Solution(
        policy=policy,
        multiplier=float(multiplier),
        objective=float(objective),
        worst_case_reward=float(R),
        worst_case_cost=float(C),
        converged=bool(converged),
        history=history,
        entropy=H,
        constrained=bool(constrained),
        method="primal_dual",
        n_iter=len(records),
    )
