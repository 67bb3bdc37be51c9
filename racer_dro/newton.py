"""Newton machinery for the K-arm RACER policy problem (used by :mod:`racer_dro.primal_dual`).

At a fixed multiplier the policy problem ``max_pi F(pi) = R(pi) - lambda C(pi) + beta H(pi)``
is strictly concave. Its Hessian in ``pi`` (rows constrained to the simplex) is

* block diagonal, one ``K x K`` block per query:
  ``-(beta rho_n(i) diag(1 / pi_i) + a_i r_i r_i^T + g_i c_i c_i^T)`` with
  ``a_i = q_r(i) / tau_r`` and ``g_i = lambda q_c(i) / tau_c`` (the diagonal of
  the worst cases' Hessians, :func:`racer_dro.kl.worst_case_curvature`);
* plus a global low-rank part (rank one per side with a temperature, two with a
  radius), coupling all queries.

Each block is diagonal plus rank two: its inverse on the simplex's tangent space
(sum of the step's entries zero per row) follows from Woodbury with a 2 x 2
capacitance per row and one row multiplier; the global part is added by a second
Woodbury with a capacitance of at most 4 x 4. A Newton step therefore costs
``O(n K)``. Directions are computed in ``pi`` and mapped to the logits
``theta = log pi + const`` as ``d theta = d pi / pi`` (computed without the division).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from racer_dro import (
    _kernels,
    _kernels_binary,
    _kernels_direction,
    _kernels_kl,
    _kernels_policy,
    formulas,
)
from racer_dro._dot import dot
from racer_dro.kl import MinSense, worst_case_curvature, worst_case_min

__all__ = ["Engine", "State", "kink_multiple"]

USE_KERNEL = True  # the numba kernel for the block solve (numpy is the reference)
THETA_FLOOR = -50.0  # logits kept within 50 of each row's maximum: pi >= 2e-22 * max


def softmax_logits(theta):
    """Centred logits, ``pi = softmax(theta)`` and ``log pi`` per row."""
    theta = theta - theta.max(axis=1, keepdims=True)
    np.maximum(theta, THETA_FLOOR, out=theta)
    e = np.exp(theta)
    s = e.sum(axis=1, keepdims=True)
    return theta, e / s, theta - np.log(s)


@dataclass
class State:
    """The policy problem evaluated at logits ``theta`` (rows with positive weight)."""

    theta: np.ndarray
    pi: np.ndarray
    log_pi: np.ndarray
    reward: float  # R
    cost: float  # C
    entropy: float  # H
    rs: MinSense  # reward side, min sense of f_r
    cs: MinSense  # cost side, min sense of -f_c
    values: tuple = ()  # per row: pi . r, pi . c, sum pi log pi


class Engine:
    """The policy problem of a :class:`~racer_dro.RoutingProblem` on its positive-weight rows."""

    def __init__(self, problem):
        self.problem = problem
        p_all = np.asarray(problem.weights)
        self.active = p_all > 0
        a = self.active
        if a.all():  # no copies of the tables (large problems)
            self.p = p_all / p_all.sum()
            self.rewards = np.ascontiguousarray(problem.rewards)
            self.costs = np.ascontiguousarray(problem.costs)
        else:
            self.p = p_all[a] / p_all[a].sum()
            self.rewards = np.ascontiguousarray(problem.rewards[a])
            self.costs = np.ascontiguousarray(problem.costs[a])
        self.beta = problem.beta
        self.budget = problem.budget
        self.logp = np.log(self.p)
        self.tau = {1.0: None, -1.0: None}  # warm starts of the radius roots
        self.centre = {1.0: None, -1.0: None}  # and the tilts' means (compiled path)
        self._buffers = None  # the compiled direction's output arrays, reused
        self._scratch = None  # and its per-row work arrays
        self.n_states = 0  # states evaluated (the nested method's work budget)

    # ------------------------------------------------------------------ evaluation
    def _side(self, f, sign, reuse=None):
        pr = self.problem
        if sign > 0:
            radius, temperature = pr.reward_radius, pr.reward_temperature
        else:
            radius, temperature = pr.cost_radius, pr.cost_temperature
        if USE_KERNEL and _kernels_kl.available():
            side = _kernels_kl.worst_case_min(
                sign * f,
                self.p,
                self.logp,
                radius=radius,
                temperature=temperature,
                tau_init=self.tau[sign],
                centre=self.centre[sign],
                out=None if reuse is None else (reuse.shifted, reuse.q),
            )
            if f.size:  # E_q g = E_q f - min f, with min f = f_0 - g_0
                self.centre[sign] = side.expectation - (sign * f[0] - side.shifted[0])
        else:
            side = worst_case_min(
                sign * f,
                self.p,
                radius=radius,
                temperature=temperature,
                tau_init=self.tau[sign],
                root="newton",
            )
        if radius is not None and 0 < side.tau < math.inf:
            self.tau[sign] = side.tau
        return side

    def state(self, theta, direction=None, step=0.0, reuse=None) -> State:
        """The state at the logits ``theta`` (``+ step * direction`` when given).

        ``reuse``: a discarded state (a rejected line-search trial) whose arrays
        the compiled path may overwrite.
        """
        self.n_states += 1
        if USE_KERNEL and _kernels.available():
            out = None
            if reuse is not None and reuse.theta.shape == theta.shape:
                out = [reuse.theta, reuse.pi, reuse.log_pi, *reuse.values]
            kb = _kernels_binary  # two arms: the same pass unrolled on scalars
            theta, pi, log_pi, fr, fc, plogp = _kernels.softmax_values(
                theta, self.rewards, self.costs, direction, step, out,
                (kb._softmax2, kb._softmax2_chunks) if theta.shape[1] == 2 else None,
            )  # fmt: skip
        else:
            if direction is not None:
                theta = theta + step * direction
            theta, pi, log_pi = softmax_logits(theta)
            fr = np.einsum("ij,ij->i", pi, self.rewards)
            fc = np.einsum("ij,ij->i", pi, self.costs)
            plogp = np.einsum("ij,ij->i", pi, log_pi)
        if reuse is None:
            rs, cs = self._side(fr, 1.0), self._side(fc, -1.0)
        else:
            rs, cs = self._side(fr, 1.0, reuse.rs), self._side(fc, -1.0, reuse.cs)
        entropy = -dot(self.p, plogp)
        return State(
            theta, pi, log_pi, rs.value, -cs.value, entropy, rs, cs, (fr, fc, plogp)
        )

    def penalised(self, st: State) -> float:
        """Eq. 2 of :mod:`racer_dro.formulas` at the state."""
        return formulas.penalised_objective(
            st.reward, st.cost, st.entropy, self.budget, self.beta
        )

    def fixed_lambda_value(self, st: State, lam: float) -> float:
        """``F = R - lambda C + beta H``."""
        return st.reward - lam * st.cost + self.beta * st.entropy

    def fixed_point_residual(self, st: State, lam: float, dlam: float = 0.0) -> float:
        """``max |primal_step(pi) - pi|``: the closed-form primal step reproduces the policy.

        ``dlam``: the multiplier's own rounding error
        (:func:`racer_dro.formulas.dual_step_rounding`, 0 when ``lambda`` is
        given exactly): each entry's difference is reduced by the primal step's
        sensitivity to ``lambda`` (:func:`racer_dro.formulas.primal_step_sensitivity`)
        times ``dlam``, floored at 0, so a policy that is the primal step at a
        multiplier within the rounding of ``lambda`` passes.
        """
        if st.pi.size == 0:
            return 0.0
        if USE_KERNEL and _kernels_policy.available():
            return _kernels_policy.fixed_point_residual(
                self.rewards,
                self.costs,
                st.rs.q,
                st.cs.q,
                self.p,
                lam,
                self.beta,
                st.pi,
                dlam,
            )
        cost_ratio = formulas.worst_case_ratios(st.cs.q, self.p)
        target = formulas.primal_step(
            self.rewards,
            self.costs,
            formulas.worst_case_ratios(st.rs.q, self.p),
            cost_ratio,
            lam,
            self.beta,
        )
        diff = np.abs(target - st.pi)
        if dlam > 0:
            sens = formulas.primal_step_sensitivity(
                target, self.costs, cost_ratio, self.beta
            )
            diff = np.maximum(diff - sens * dlam, 0.0)
        return float(np.max(diff))

    # ------------------------------------------------------------------ Newton
    def direction(self, st: State, lam: float):
        """Newton step of ``F`` at fixed ``lambda`` and ``d pi / d lambda``.

        Returns ``(step_pi, step_theta, z_pi, z_theta, dec, dc_step, dc_z)`` where
        ``step`` solves ``-Hess F step = grad F`` and ``z = Hess F^{-1} grad C``
        (implicit differentiation of the optimum in ``lambda``), both on the
        simplex's tangent space, and the scalars ``dec = grad F . step`` (the
        Newton decrement), ``dc_step = grad C . step``, ``dc_z = grad C . z``
        (``dC / dlambda``). The compiled path writes the four arrays into
        buffers that the next call overwrites (fresh pages of a new (n, K) array
        cost as much as the pass itself at n = 1e6).
        """
        p, beta, pi = self.p, self.beta, st.pi
        R, Cm = self.rewards, self.costs
        qr, qc = st.rs.q, st.cs.q
        curv_r, low_r = worst_case_curvature(st.rs)
        curv_c, low_c = worst_case_curvature(st.cs)
        if USE_KERNEL and _kernels.available():
            lowrank = [(coef, vec, 0) for coef, vec in low_r]
            if lam > 0:
                lowrank += [(lam * coef, vec, 1) for coef, vec in low_c]
            if self._buffers is None or self._buffers[0].shape != pi.shape:
                self._buffers = [np.empty(pi.shape) for _ in range(4)]
                n = pi.shape[0]
                self._scratch = {"alpha": np.empty(n), "gamma": np.empty(n)}
            scratch = self._scratch  # per-row arrays, rewritten by every call
            alpha = np.multiply(curv_r, qr, out=scratch["alpha"])
            gamma = np.multiply(lam * curv_c, qc, out=scratch["gamma"])
            return _kernels_direction.direction(
                pi, st.log_pi, R, Cm, p, beta, lam, qr, qc, alpha, gamma, lowrank,
                out=self._buffers, scratch=scratch,
            )  # fmt: skip
        alpha = curv_r * qr
        gamma = lam * curv_c * qc
        grad = qr[:, None] * R - lam * qc[:, None] * Cm - beta * p[:, None] * st.log_pi
        grad_c = qc[:, None] * Cm
        # every column is a per-row combination of grad, r and c (grad_c = q_c c, the
        # coupling columns u r or u c), and the block solve S is linear per row: three
        # solves per row
        X, T = block_solve(
            pi, beta * p, R, Cm, alpha, gamma, np.stack([grad, R, Cm], axis=2)
        )
        tables = (R, Cm)
        cols = [(coef, vec, 0) for coef, vec in low_r]
        if lam > 0:
            cols += [(lam * coef, vec, 1) for coef, vec in low_c]
        # step = S(grad) + w0r S(r) + w0c S(c), -z = w1r S(r) + w1c S(c) (per-row weights)
        n = pi.shape[0]
        w0 = [np.zeros(n), np.zeros(n)]
        w1 = [np.zeros(n), qc.copy()]
        if cols:
            mu = len(cols)
            W = np.asarray([coef for coef, _, _ in cols])
            # dots[t][j] = table_t . S(column j) per row, columns [grad, r, c]
            dots = [
                [np.einsum("nk,nk->n", tab, X[:, :, j]) for j in range(3)]
                for tab in tables
            ]
            UtX = np.zeros((mu, 2 + mu))
            for a, (_, ua, ta) in enumerate(cols):
                UtX[a, 0] = np.sum(ua * dots[ta][0])
                UtX[a, 1] = np.sum(ua * (qc * dots[ta][2]))
                for b, (_, ub, tb) in enumerate(cols):
                    UtX[a, 2 + b] = np.sum(ua * (ub * dots[ta][1 + tb]))
            cap = np.eye(mu) - UtX[:, 2:] * W[None, :]
            try:
                t = np.linalg.solve(cap, UtX[:, :2])  # (mu, 2)
            except np.linalg.LinAlgError:
                t = None
            if t is not None and np.all(np.isfinite(t)):
                Wt = W[:, None] * t
                for a, (_, ua, ta) in enumerate(cols):
                    w0[ta] = w0[ta] + Wt[a, 0] * ua
                    w1[ta] = w1[ta] + Wt[a, 1] * ua
            # else extreme curvature: the block part alone is still an ascent direction
        Xr, Xc, Tr, Tc = X[:, :, 1], X[:, :, 2], T[:, :, 1], T[:, :, 2]
        step = X[:, :, 0] + w0[0][:, None] * Xr + w0[1][:, None] * Xc
        dtheta = T[:, :, 0] + w0[0][:, None] * Tr + w0[1][:, None] * Tc
        z = -(w1[0][:, None] * Xr + w1[1][:, None] * Xc)
        ztheta = -(w1[0][:, None] * Tr + w1[1][:, None] * Tc)
        dec = float(np.sum(grad * step))
        dc_step = float(np.sum(grad_c * step))
        dc_z = float(np.sum(grad_c * z))
        return step, dtheta, z, ztheta, dec, dc_step, dc_z

    def add_multiple(self, step, dtheta, z, ztheta, k):
        """``(step + k z, dtheta + k ztheta, max |step + k z|)`` (in place when compiled)."""
        if k == 0:
            return step, dtheta, float(np.max(np.abs(step))) if step.size else 0.0
        if USE_KERNEL and _kernels.available():
            big = _kernels_direction.add_multiple(step, dtheta, z, ztheta, k)
            return step, dtheta, big
        step = step + k * z
        dtheta = dtheta + k * ztheta
        return step, dtheta, float(np.max(np.abs(step))) if step.size else 0.0


def kink_multiple(dc_step, dc_z, lam, cost, budget, beta):
    """The multiple ``k`` of ``z`` that maximises the piecewise-quadratic model of ``P``.

    The model is the fixed-multiplier Newton model plus ``-(C - B + u)_+^2 / (2 beta)``
    with ``u`` the predicted change of ``C``; along ``z = d pi / d lambda`` it is a
    1-D concave problem solved exactly, so iterates do not bounce across the budget.
    ``dc_step = grad C . step`` (the predicted change of ``C`` at ``lambda``) and
    ``dc_z = grad C . z = dC / dlambda <= 0``; the joint step is ``step + k z``.
    Plain scalar arithmetic: :mod:`racer_dro._kernels_newton` compiles this
    same function.

    Examples
    --------
    >>> # under budget after the step (C - B + u0 <= 0): lambda + k = 0
    >>> kink_multiple(dc_step=-0.5, dc_z=-1.0, lam=0.2, cost=1.0, budget=2.0, beta=0.5)
    -0.2
    """
    dcost = dc_z
    if not dcost < 0:
        return 0.0
    u0 = dc_step - lam * dcost  # predicted change of C at lambda = 0
    excess = cost - budget
    u = u0 if excess + u0 <= 0 else (beta * u0 + excess * dcost) / (beta - dcost)
    return (u - u0) / dcost - lam


def block_solve(pi, bp, R, Cm, alpha, gamma, Y):
    """The per-query block solve: the compiled kernel when numba is available."""
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float), bp.shape)
    gamma = np.broadcast_to(np.asarray(gamma, dtype=float), bp.shape)
    if USE_KERNEL and _kernels.available():
        return _kernels.block_solve(pi, bp, R, Cm, alpha, gamma, Y)
    return _block_solve_numpy(pi, bp, R, Cm, alpha, gamma, Y)


def _block_solve_numpy(pi, bp, R, Cm, alpha, gamma, Y):
    """Solve ``M_i x_i + nu_i 1 = y_i``, ``1^T x_i = 0`` for every row and column of ``Y``.

    ``M_i = bp_i diag(1 / pi_i) + alpha_i r_i r_i^T + gamma_i c_i c_i^T``. Woodbury:
    ``M^{-1} y = D^{-1}(y - V s)``, ``s = (I + G V^T D^{-1} V)^{-1} G V^T D^{-1} y``
    with ``D^{-1} = pi / bp``, ``V = [r, c]``, ``G = diag(alpha, gamma)``; the row
    multiplier ``nu`` removes the component along ``M^{-1} 1``. Returns ``x`` (the
    step in ``pi``) and ``x / pi`` (the step in the logits), shape of ``Y``.
    """
    Y1 = np.concatenate([Y, np.ones(Y.shape[:2] + (1,))], axis=2)
    dinv = pi / bp[:, None]  # (n, K)
    # V^T D^{-1} V, a symmetric 2 x 2 per row
    drr = np.einsum("nk,nk,nk->n", dinv, R, R)
    drc = np.einsum("nk,nk,nk->n", dinv, R, Cm)
    dcc = np.einsum("nk,nk,nk->n", dinv, Cm, Cm)
    a11 = 1.0 + alpha * drr
    a12 = alpha * drc
    a21 = gamma * drc
    a22 = 1.0 + gamma * dcc
    det = a11 * a22 - a12 * a21
    Z = dinv[:, :, None] * Y1
    vr = np.einsum("nk,nkm->nm", R, Z) * alpha[:, None]
    vc = np.einsum("nk,nkm->nm", Cm, Z) * gamma[:, None]
    s1 = (a22[:, None] * vr - a12[:, None] * vc) / det[:, None]
    s2 = (a11[:, None] * vc - a21[:, None] * vr) / det[:, None]
    E = Y1 - R[:, :, None] * s1[:, None, :] - Cm[:, :, None] * s2[:, None, :]
    MinvY = dinv[:, :, None] * E
    tot = MinvY.sum(axis=1)  # (n, m + 1)
    nu = tot[:, :-1] / tot[:, -1:]
    E = E[:, :, :-1] - nu[:, None, :] * E[:, :, -1:]
    X = dinv[:, :, None] * E
    T = E / bp[:, None, None]
    return X, T
