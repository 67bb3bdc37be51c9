"""The RACER formulas, one function each, used by the solvers, the router and the reference.

Notation (user guide, "RACER"): query ``i`` has rewards
``r_i(a)`` and costs ``c_i(a)`` for arms ``a = 0, ..., K - 1``, nominal weight
``rho_n(i)``; a tabular policy ``pi_i`` is a distribution over the arms and
``f_i(pi) = sum_a pi_i(a) f_i(a)``. ``R`` is the worst-case (lower) reward,
``C`` the worst-case (upper) cost, ``H = sum_i rho_n(i) sum_a -pi_i(a) log pi_i(a)``.
The regularised saddle problem is

    max_pi min_{lambda >= 0} L(pi, lambda) = R - lambda (C - B) + beta H + (beta / 2) lambda^2,    (1)

whose inner minimum gives the penalised objective
``P = R + beta H - (C - B)_+^2 / (2 beta)`` (2) at the dual step
``lambda = (C - B)_+ / beta`` (3). The primal step is the softmax
``pi_i(a) ∝ exp((w_r(i) r_i(a) - lambda w_c(i) c_i(a)) / beta)`` (4) with the worst-case
weight ratios ``w = rho_worst / rho_n`` (5) (RACER, Algorithm 1; the binary case
``K = 2`` is ``logit pi_i = (w_r Dr_i - lambda w_c Dc_i) / beta``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import entr

from racer_dro._dot import dot
from racer_dro._validation import check_sense
from racer_dro.kl import exponential_tilt

__all__ = [
    "arm_scores",
    "constrained_objective",
    "dual_step",
    "dual_step_rounding",
    "lagrangian",
    "penalised_objective",
    "policy_entropy",
    "primal_step",
    "primal_step_sensitivity",
    "reward_at_budget",
    "softmax_policy",
    "worst_case_ratios",
    "worst_case_standard_error",
]


def softmax_policy(logits, beta: float = 1.0) -> np.ndarray:
    """Row-wise softmax ``pi_i(a) = exp(s_i(a) / beta) / sum_b exp(s_i(b) / beta)``.

    The closed form of the entropy-regularised best response (eq. 4); shifted by
    each row's maximum before the division by ``beta``, so any finite scores and
    ``beta`` are safe (scores of 1e9 over ``beta = 1e-300`` overflow to ``inf``
    if divided first, and ``inf - inf`` is NaN where the limit is a tie).
    Infinite scores take their limit: a row with ``+inf`` scores splits evenly
    among those arms (a worst-case ratio near ``e^700`` of a zero-weight row
    times a reward of 1e5 overflows to ``inf``), a row of ``-inf`` scores is
    uniform; NaN scores give NaN.

    Examples
    --------
    >>> import numpy as np
    >>> softmax_policy(np.array([[0.0, np.log(3.0)]])).round(3).tolist()
    [[0.25, 0.75]]
    >>> softmax_policy(np.array([[np.inf, 0.0, np.inf]])).tolist()
    [[0.5, 0.0, 0.5]]
    """
    s = np.asarray(logits, dtype=float)
    top = s.max(axis=1, keepdims=True)
    infinite = np.isinf(top[:, 0])
    if infinite.any():  # the limits: even on the +inf arms, or on all arms
        s = s.copy()
        rows = s[infinite]
        s[infinite] = np.where(
            np.isinf(top[infinite]) & (top[infinite] > 0),
            np.where(rows == np.inf, 0.0, -np.inf),
            np.where(np.isnan(rows), np.nan, 0.0),
        )
        top = s.max(axis=1, keepdims=True)
    with np.errstate(over="ignore"):  # (s - max) / beta -> -inf: weight 0
        e = np.exp((s - top) / beta)
    return e / e.sum(axis=1, keepdims=True)


def arm_scores(rewards, costs, reward_ratio, cost_ratio, multiplier: float):
    """Per-query, per-arm scores ``s_i(a) = w_r(i) r_i(a) - lambda w_c(i) c_i(a)`` (eq. 4).

    ``reward_ratio`` and ``cost_ratio`` are the worst-case weight ratios (eq. 5),
    shape (n,); by the envelope theorem ``s_i(a) rho_n(i)`` is the gradient of
    ``R - lambda C`` in ``pi_i(a)``.

    Examples
    --------
    >>> import numpy as np
    >>> arm_scores(np.array([[0.0, 1.0]]), np.array([[1.0, 3.0]]), np.ones(1), np.ones(1), 0.5).tolist()
    [[-0.5, -0.5]]
    """
    rewards = np.asarray(rewards, dtype=float)
    costs = np.asarray(costs, dtype=float)
    w_r = np.asarray(reward_ratio, dtype=float)[:, None]
    w_c = np.asarray(cost_ratio, dtype=float)[:, None]
    return w_r * rewards - multiplier * (w_c * costs)


def primal_step(rewards, costs, reward_ratio, cost_ratio, multiplier, beta):
    """The closed-form primal step (eq. 4): ``softmax(arm_scores / beta)`` per query.

    Examples
    --------
    >>> import numpy as np
    >>> pi = primal_step(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]), np.ones(1), np.ones(1), 0.0, 1.0)
    >>> pi.round(4).tolist()
    [[0.2689, 0.7311]]
    """
    return softmax_policy(
        arm_scores(rewards, costs, reward_ratio, cost_ratio, multiplier), beta
    )


def dual_step(worst_case_cost: float, budget: float, beta: float) -> float:
    """The exact dual step ``lambda = (C - B)_+ / beta`` (eq. 3): the minimiser of (1).

    Examples
    --------
    >>> dual_step(2.5, 2.0, 0.1)
    5.0
    """
    return max(float(worst_case_cost) - float(budget), 0.0) / float(beta)


#: ulps of ``|C| + |B|`` allowed for the rounding of the excess ``C - B`` (measured:
#: 2-3 ulps on a 300-row problem with costs in tokens, nominal sides)
EXCESS_ROUNDING_ULPS = 16.0


def dual_step_rounding(worst_case_cost: float, budget: float, beta: float) -> float:
    """The rounding error of the dual step (eq. 3), ``lambda = (C - B)_+ / beta``.

    ``C - B`` is a difference of two numbers of size ``|C| + |B|``, each known
    to a few units in the last place (``C`` is a sum over the rows): to
    ``delta = 16 eps (|C| + |B|)``. So ``lambda`` is known only to
    ``min(delta, C - B + delta)_+ / beta``: ``delta / beta`` where the budget
    binds, and 0 where ``C`` is below ``B`` by more than ``delta`` (``lambda``
    is 0 whatever the rounding). With costs in large units (tokens:
    ``C ~ 2000``) and ``beta lambda = C - B ~ 3e-8`` that is a relative error of
    1e-5 in ``lambda``, which the primal step turns into policy differences
    of 1e-5 (:func:`primal_step_sensitivity`): the solver's fixed-point check
    allows for it rather than report a converged solve as failed.

    Examples
    --------
    >>> dual_step_rounding(2000.0, 2000.0, 0.01) / 1e-9  # about 1.4e-9
    1.4210854715202004
    >>> dual_step_rounding(1990.0, 2000.0, 0.01)  # a slack budget: lambda = 0 exactly
    0.0
    """
    eps = 2.220446049250313e-16
    cost, budget = float(worst_case_cost), float(budget)
    delta = EXCESS_ROUNDING_ULPS * eps * (abs(cost) + abs(budget))
    return max(min(delta, cost - budget + delta), 0.0) / float(beta)


def primal_step_sensitivity(policy, costs, cost_ratio, beta) -> np.ndarray:
    """``|d pi_i(a) / d lambda|`` of the primal step (eq. 4) at ``policy``.

    ``pi_i(a) w_c(i) |c_i(a) - sum_b pi_i(b) c_i(b)| / beta``: the derivative of
    the softmax of ``(w_r r - lambda w_c c) / beta`` in ``lambda``, shape (n, K).

    Examples
    --------
    >>> import numpy as np
    >>> primal_step_sensitivity(np.array([[0.5, 0.5]]), np.array([[1.0, 3.0]]), np.ones(1), 0.5).tolist()
    [[1.0, 1.0]]
    """
    pi = np.asarray(policy, dtype=float)
    c = np.asarray(costs, dtype=float)
    mean = np.einsum("ij,ij->i", pi, c)
    w = np.asarray(cost_ratio, dtype=float)[:, None]
    return pi * w * np.abs(c - mean[:, None]) / beta


def lagrangian(reward, cost, entropy, multiplier, budget, beta) -> float:
    """``L = R - lambda (C - B) + beta H + (beta / 2) lambda^2`` (eq. 1).

    Examples
    --------
    >>> lagrangian(1.0, 2.5, 0.0, 5.0, 2.0, 0.1)  # at the dual step: equals eq. 2
    -0.25
    """
    return float(
        reward
        - multiplier * (cost - budget)
        + beta * entropy
        + 0.5 * beta * multiplier**2
    )


def penalised_objective(reward, cost, entropy, budget, beta) -> float:
    """``P = R + beta H - (C - B)_+^2 / (2 beta)`` (eq. 2): eq. 1 at the dual step.

    Examples
    --------
    >>> penalised_objective(1.0, 2.5, 0.0, 2.0, 0.1)
    -0.25
    """
    excess = max(float(cost) - float(budget), 0.0)
    return float(reward + beta * entropy - excess * excess / (2.0 * beta))


def reward_at_budget(reward, cost, floor_reward, floor_cost, budget) -> float:
    """The reward a policy delivers within ``budget``: ``R`` if ``C <= B``, else its mix with a cheaper policy.

    A policy of mean reward ``R`` and mean cost ``C > B`` is deployed at the
    budget by routing a share ``t`` of the queries by it and the rest by a
    cheaper policy (the cheapest arm of each query: reward ``R0``, cost
    ``C0``), with ``t = (B - C0) / (C - C0)`` so that the mix spends ``B``
    exactly; its reward is ``R0 + t (R - R0)`` (the same line as RouterBench's
    interpolation between routers, and the convex hull of issue 11's K-arm
    check). Within the budget the policy is taken as it is: unspent budget
    earns nothing. Where even the cheaper policy spends more than ``B``,
    ``t = 0``. The score of :meth:`racer_dro.RacerRouter.score`: it does not
    depend on ``beta`` or the KL radii, so it compares routers fitted with
    different ones (the router's own robust objective favours small radii).

    Examples
    --------
    >>> reward_at_budget(0.8, 2.0, 0.6, 1.0, budget=3.0)  # within the budget
    0.8
    >>> round(reward_at_budget(0.8, 3.0, 0.6, 1.0, budget=2.0), 12)  # half the queries
    0.7
    """
    reward, cost = float(reward), float(cost)
    floor_reward, floor_cost = float(floor_reward), float(floor_cost)
    if cost <= budget:
        return reward
    share = 0.0
    if floor_cost < budget:  # then cost > budget > floor_cost
        share = (budget - floor_cost) / (cost - floor_cost)
    return floor_reward + share * (reward - floor_reward)


def constrained_objective(reward, entropy, beta) -> float:
    """``R + beta H``: the objective of the hard-constraint problem (``C <= B``).

    Examples
    --------
    >>> constrained_objective(1.0, 0.5, 0.1)
    1.05
    """
    return float(reward + beta * entropy)


def worst_case_ratios(worst, nominal) -> np.ndarray:
    """Worst-case weight ratios ``w = rho_worst / rho_n`` (eq. 5), 0 where ``rho_n = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> worst_case_ratios(np.array([0.75, 0.25, 0.0]), np.array([0.5, 0.5, 0.0])).tolist()
    [1.5, 0.5, 0.0]
    """
    worst = np.asarray(worst, dtype=float)
    nominal = np.asarray(nominal, dtype=float)
    out = np.zeros_like(nominal)
    pos = nominal > 0
    out[pos] = worst[pos] / nominal[pos]
    return out


def policy_entropy(policy, weights) -> float:
    """``H(pi) = sum_i rho_n(i) sum_a -pi_i(a) log pi_i(a)`` in nats (``0 log 0 = 0``).

    Examples
    --------
    >>> import numpy as np
    >>> round(policy_entropy(np.array([[0.5, 0.5]]), np.ones(1)), 6)
    0.693147
    """
    return dot(np.asarray(weights, dtype=float), entr(policy).sum(axis=1))


def worst_case_standard_error(values, weights, temperature: float, sense: str) -> float:
    """Delta-method standard error of a KL worst case estimated on weighted rows.

    The worst case ``V = sense * tau log sum_i rho_n(i) exp(sense * f_i / tau)``
    (Theorem 3.1's penalised form; with a radius, ``tau`` is the dual's maximiser
    and, by the envelope theorem, its own variation does not enter) has the
    influence function ``IF_i = sense * tau * (w_i - 1)`` with ``w_i`` the
    worst-case weight ratio (eq. 5), ``sense = +1`` for the upper (cost) and
    ``-1`` for the lower (reward) worst case; as ``tau -> inf`` it is
    ``f_i - E_rho_n[f]``, the nominal mean's. The standard error is
    ``sqrt(sum_i rho_n(i) IF_i^2 / n_eff)`` with Kish's ``n_eff = 1 / sum_i rho_n(i)^2``
    (weights normalised). With ``tau = 0`` (all mass on the extreme rows) the
    influence function is 0 and so is the result: the delta method says nothing
    there. A worst case tilted onto rare large values can have a standard error
    far above the nominal mean's (twice it for costs of 1 or, with probability
    0.2, uniform on [2, 8] at temperature 1).

    Parameters
    ----------
    values : array-like of shape (n,)
        ``f_i``, e.g. the per-row costs of a policy.
    weights : array-like of shape (n,)
        Nominal weights ``rho_n`` (normalised here).
    temperature : float
        ``tau`` of the worst case (:attr:`racer_dro.KLWorstCase.temperature`).
    sense : {"max", "min"}

    References
    ----------
    Delta method: A. W. van der Vaart, *Asymptotic Statistics*, 1998, ch. 3 and 20.

    Examples
    --------
    >>> import numpy as np
    >>> f, rho = np.array([0.0, 1.0, 2.0, 3.0]), np.full(4, 0.25)
    >>> nominal = worst_case_standard_error(f, rho, np.inf, "max")
    >>> bool(np.isclose(nominal, f.std() / 2.0))  # the mean's standard error
    True
    >>> round(worst_case_standard_error(f, rho, 1.0, "max"), 4)  # tilted to f = 3
    0.4789
    """
    f = np.asarray(values, dtype=float)
    rho = np.asarray(weights, dtype=float)
    rho = rho / rho.sum()
    sign = {"max": 1.0, "min": -1.0}[check_sense(sense)]
    tau = float(temperature)
    if tau == 0.0:
        return 0.0
    pos = rho > 0  # rows with rho_n = 0 carry no weight
    f, rho = f[pos], rho[pos]
    if np.isinf(tau):
        influence = f - dot(rho, f)
    else:
        # the worst case's tilt (RACER, Theorem 3.1), shifted so that the extreme
        # row is 0: its ratio to rho_n (eq. 5) minus 1 is expm1(-g / tau - L),
        # which keeps its relative accuracy as tau -> inf (the ratio itself
        # rounds to 1 beyond tau ~ 1e16, and the result to 0)
        s = sign * f
        g = s.max() - s
        _, L = exponential_tilt(g, np.log(rho), tau)
        with np.errstate(over="ignore"):  # g / tau -> inf: ratio 0
            influence = sign * tau * np.expm1(-g / tau - L)
    # scaled by the largest influence (values near 1e300 would overflow squared)
    top = float(np.max(np.abs(influence), initial=0.0))
    if top == 0.0 or not math.isfinite(top):
        return top
    spread = dot(rho, (influence / top) ** 2)
    return top * math.sqrt(max(spread, 0.0) * dot(rho, rho))
