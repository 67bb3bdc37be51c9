"""The RACER routing problem over K arms (data) and the solution record both solvers return.

Per training query ``i``: rewards ``r_i(a)`` and costs ``c_i(a)`` for arms
``a = 0, ..., K - 1`` (``K >= 2`` models or judges; the binary reasoning/instruct
case is ``K = 2``), nominal weights ``rho_n``. A tabular policy ``pi_i`` is a
distribution over the arms and the per-query values are
``f_i(pi) = sum_a pi_i(a) f_i(a)``; the worst-case reward is
``R(pi) = min_rho E_rho[r(pi)]`` and the worst-case cost ``C(pi) = max_rho E_rho[c(pi)]``
(each over its own KL ball or with its own KL penalty, or nominal), and the
regularised saddle problem is (user guide, "RACER", K arms)::

    max_pi min_{lambda >= 0} R(pi) - lambda (C(pi) - B) + beta H(pi) + (beta / 2) lambda^2
      = max_pi R(pi) + beta H(pi) - (C(pi) - B)_+^2 / (2 beta),

with ``H(pi) = sum_i rho_n(i) sum_a -pi_i(a) log pi_i(a)`` (nats). The
hard-constraint problem is ``max_pi R(pi) + beta H(pi)`` subject to ``C(pi) <= B``.
The formulas live in :mod:`racer_dro.formulas` and :mod:`racer_dro.kl`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from racer_dro import _kernels_kl, formulas
from racer_dro._validation import (
    check_finite,
    check_positive,
    check_rewards_costs,
    check_side,
    check_values,
    check_weights,
)
from racer_dro.kl import KLWorstCase, kl_worst_case

__all__ = ["RoutingProblem", "Solution", "make_solution"]


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=float, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class RoutingProblem:
    """A RACER routing problem: rewards, costs, a budget and the robustness of each side.

    Parameters
    ----------
    rewards : array-like of shape (n, K)
        Per-query rewards of each arm, ``K >= 2`` (for the binary judge:
        column 0 = instruct, column 1 = reasoning).
    costs : array-like of shape (n, K)
        Per-query non-negative costs, same shape.
    budget : float
        The budget ``B`` on the worst-case cost. It must be at least the
        worst-case cost of the cheapest policy (each query's cheapest arm);
        a budget above every policy's cost is allowed (the constraint is then
        inactive).
    beta : float, default=0.01
        Entropy (and dual) regulariser, ``beta > 0``.
    reward_radius, reward_temperature : float, optional
        The reward side's KL ball radius or KL penalty temperature (at most one;
        neither = not robust).
    cost_radius, cost_temperature : float, optional
        The same for the cost side.
    sample_weight : array-like of shape (n,), optional
        Nominal weights ``rho_n`` (non-negative, positive sum; normalised).
        Uniform by default.

    Attributes
    ----------
    weights : ndarray of shape (n,)
        The normalised nominal weights ``rho_n``.
    n_samples, n_arms : int
    reward_mode, cost_mode : {"none", "temperature", "radius"}
    min_cost : float
        Worst-case cost of the cheapest policy (the smallest feasible budget).
    max_cost : float
        Worst-case cost of the dearest policy (each query's dearest arm).

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem
    >>> rng = np.random.default_rng(0)
    >>> rewards = rng.uniform(size=(100, 2))
    >>> costs = np.column_stack([np.ones(100), rng.uniform(2, 10, size=100)])
    >>> problem = RoutingProblem(rewards, costs, budget=3.0, reward_temperature=1.0, cost_radius=0.1)
    >>> problem.n_samples, problem.n_arms, problem.reward_mode, problem.cost_mode
    (100, 2, 'temperature', 'radius')
    >>> bool(problem.min_cost <= 3.0)
    True
    """

    rewards: np.ndarray
    costs: np.ndarray
    budget: float
    beta: float = 0.01
    reward_radius: float | None = None
    cost_radius: float | None = None
    reward_temperature: float | None = None
    cost_temperature: float | None = None
    sample_weight: np.ndarray | None = None

    def __post_init__(self):
        rewards, costs = check_rewards_costs(self.rewards, self.costs)
        budget = check_finite(self.budget, "budget")
        beta = check_positive(self.beta, "beta")
        reward_radius, reward_temperature = check_side(
            self.reward_radius,
            self.reward_temperature,
            "reward_radius",
            "reward_temperature",
        )
        cost_radius, cost_temperature = check_side(
            self.cost_radius, self.cost_temperature, "cost_radius", "cost_temperature"
        )
        sample_weight = None
        if self.sample_weight is not None:
            check_weights(self.sample_weight, rewards.shape[0], "sample_weight")
            sample_weight = _readonly(check_values(self.sample_weight, "sample_weight"))
        set_ = object.__setattr__
        set_(self, "rewards", _readonly(rewards))
        set_(self, "costs", _readonly(costs))
        set_(self, "budget", budget)
        set_(self, "beta", beta)
        set_(self, "reward_radius", reward_radius)
        set_(self, "reward_temperature", reward_temperature)
        set_(self, "cost_radius", cost_radius)
        set_(self, "cost_temperature", cost_temperature)
        set_(self, "sample_weight", sample_weight)
        min_cost = self.min_cost
        if budget < min_cost - 1e-12 * (1.0 + abs(min_cost)):
            raise ValueError(
                f"`budget` = {budget!r} is infeasible: the minimum achievable worst-case cost "
                f"(each query's cheapest arm) is {min_cost!r}"
            )

    # ------------------------------------------------------------------ derived data
    @property
    def n_samples(self) -> int:
        """Number of queries ``n``."""
        return self.rewards.shape[0]

    @cached_property
    def weights(self) -> np.ndarray:
        """Normalised nominal weights ``rho_n`` (uniform unless ``sample_weight`` is given)."""
        return _readonly(
            check_weights(self.sample_weight, self.n_samples, "sample_weight")
        )

    @property
    def n_arms(self) -> int:
        """Number of arms ``K``."""
        return self.rewards.shape[1]

    @property
    def reward_mode(self) -> str:
        """``"radius"``, ``"temperature"`` or ``"none"`` for the reward side."""
        return _mode(self.reward_radius, self.reward_temperature)

    @property
    def cost_mode(self) -> str:
        """``"radius"``, ``"temperature"`` or ``"none"`` for the cost side."""
        return _mode(self.cost_radius, self.cost_temperature)

    @cached_property
    def min_cost(self) -> float:
        """Worst-case cost of the cheapest policy: ``C`` at ``f_i = min(c_i(0), c_i(1))``.

        ``C`` is non-decreasing in every ``f_i`` (the worst-case weights are
        non-negative), so this is the smallest achievable worst-case cost.
        """
        return self._cost_bound(self.costs.min(axis=1))

    @cached_property
    def max_cost(self) -> float:
        """Worst-case cost of the dearest policy (each query's dearest arm)."""
        return self._cost_bound(self.costs.max(axis=1))

    def _cost_bound(self, values) -> float:
        """``C`` at per-query values: :meth:`_cost_of_values`'s value, by the compiled
        worst case when numba is available (``racer_dro._kernels_kl``, tested
        to agree to 1e-12; ~25 us instead of ~0.4 ms at 200 rows with a radius,
        paid by every problem, also the solver's subsamples)."""
        if not _kernels_kl.available():
            return self._cost_of_values(values).value
        p = np.asarray(self.weights)
        support = p > 0
        p = p[support]
        res = _kernels_kl.worst_case_min(
            -values[support],
            p,
            np.log(p),
            radius=self.cost_radius,
            temperature=self.cost_temperature,
        )
        return -float(res.value)

    # ------------------------------------------------------------------ policy values
    def check_policy(self, policy, name: str = "policy") -> np.ndarray:
        """Validate a tabular policy: shape (n, K), non-negative rows summing to one."""
        pi = check_values(policy, name, ndim=2)
        if pi.shape != self.rewards.shape:
            raise ValueError(
                f"`{name}` must have shape {self.rewards.shape} (one distribution over "
                f"the arms per query), got {pi.shape}"
            )
        if np.any(pi < 0) or np.any(pi > 1):
            raise ValueError(
                f"`{name}` must lie in [0, 1], got range [{float(pi.min())!r}, {float(pi.max())!r}]"
            )
        total = pi.sum(axis=1)
        if np.any(np.abs(total - 1.0) > 1e-9):
            raise ValueError(
                f"`{name}` rows must sum to one, got sums in [{float(total.min())!r}, {float(total.max())!r}]"
            )
        return pi

    def reward_values(self, policy) -> np.ndarray:
        """Per-query expected rewards ``r_i(pi) = sum_a pi_i(a) r_i(a)``."""
        pi = self.check_policy(policy)
        return np.einsum("ij,ij->i", pi, self.rewards)

    def cost_values(self, policy) -> np.ndarray:
        """Per-query expected costs ``c_i(pi)``."""
        pi = self.check_policy(policy)
        return np.einsum("ij,ij->i", pi, self.costs)

    def worst_case_reward(self, policy) -> KLWorstCase:
        """``R(pi)``: the lower KL worst case of the rewards (``sense="min"``)."""
        return kl_worst_case(
            self.reward_values(policy),
            weights=self.weights,
            radius=self.reward_radius,
            temperature=self.reward_temperature,
            sense="min",
        )

    def worst_case_cost(self, policy) -> KLWorstCase:
        """``C(pi)``: the upper KL worst case of the costs (``sense="max"``)."""
        return self._cost_of_values(self.cost_values(policy))

    def _cost_of_values(self, values) -> KLWorstCase:
        return kl_worst_case(
            values,
            weights=self.weights,
            radius=self.cost_radius,
            temperature=self.cost_temperature,
            sense="max",
        )

    def entropy(self, policy) -> float:
        """``H(pi) = sum_i rho_n(i) sum_a -pi_i(a) log pi_i(a)`` in nats."""
        return formulas.policy_entropy(self.check_policy(policy), self.weights)

    def objective(self, policy, *, constrained: bool = False) -> float:
        """The regularised objective at ``policy``.

        ``R + beta H - (C - B)_+^2 / (2 beta)``, or ``R + beta H`` when
        ``constrained`` (the hard-constraint problem; feasibility is not checked).
        """
        reward = self.worst_case_reward(policy).value
        entropy = self.entropy(policy)
        if constrained:
            return formulas.constrained_objective(reward, entropy, self.beta)
        cost = self.worst_case_cost(policy).value
        return formulas.penalised_objective(
            reward, cost, entropy, self.budget, self.beta
        )

    def replace(self, **changes) -> RoutingProblem:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _mode(radius, temperature) -> str:
    if radius is not None:
        return "radius"
    if temperature is not None:
        return "temperature"
    return "none"


class _FrameOnFirstRead:
    """Data descriptor of :attr:`Solution.history`: columns become a DataFrame when read.

    A solve stores its history as a mapping of equal-length column arrays; the
    DataFrame (about 0.3 ms of pandas per solve, measured at n = 2,000 where a
    whole solve takes about 6 ms) is built on first read and kept."""

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:  # the dataclass field's default
            return None
        value = obj.__dict__.get(self.slot)
        if isinstance(value, dict):
            value = pd.DataFrame(value, copy=False)  # the arrays are the history's own
            obj.__dict__[self.slot] = value
        return value

    def __set__(
        self, obj, value
    ):  # dataclass __init__ (frozen: user assignment raises)
        obj.__dict__[self.slot] = value


@dataclass(frozen=True, eq=False)
class Solution:
    """A solution of a :class:`RoutingProblem`, as returned by both solvers.

    Attributes
    ----------
    policy : ndarray of shape (n, K)
        ``pi_i(a)``: the probability of arm ``a`` for query ``i``.
    multiplier : float
        The multiplier ``lambda``: ``(C(pi) - B)_+ / beta`` for the regularised
        problem, the budget constraint's dual value for the hard-constraint one.
    objective : float
        ``R + beta H - (C - B)_+^2 / (2 beta)`` (regularised) or ``R + beta H``
        (hard constraint).
    worst_case_reward, worst_case_cost : float
        ``R(pi)`` and ``C(pi)``.
    converged : bool
        Whether the solver met its tolerance (or reported an optimal status).
    history : pandas.DataFrame or None
        Per-iteration record (the primal-dual solver: distances to the final
        iterate and the dual gap; CVXPY: the attempts made).
    entropy : float
        ``H(pi)``.
    constrained : bool
        Whether this solves the hard-constraint problem.
    method : str
        Which solver produced it.
    n_iter : int
        Outer iterations (primal-dual) or attempts (CVXPY).

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem, solve_primal_dual
    >>> rng = np.random.default_rng(0)
    >>> problem = RoutingProblem(rng.uniform(size=(50, 2)), rng.uniform(1, 3, size=(50, 2)), budget=2.0)
    >>> sol = solve_primal_dual(problem)
    >>> sol.policy.shape, sol.converged
    ((50, 2), True)
    """

    policy: np.ndarray
    multiplier: float
    objective: float
    worst_case_reward: float
    worst_case_cost: float
    converged: bool
    history: pd.DataFrame | None = _FrameOnFirstRead()
    entropy: float = math.nan
    constrained: bool = False
    method: str = ""
    n_iter: int = 0


def make_solution(
    problem: RoutingProblem,
    policy,
    *,
    converged: bool,
    constrained: bool = False,
    multiplier: float | None = None,
    objective: float | None = None,
    history=None,
    method: str = "",
    n_iter: int = 0,
    values=None,
) -> Solution:
    """Assemble a :class:`Solution` from a policy: ``R``, ``C``, ``H``, objective, multiplier.

    The values are evaluated exactly at ``policy`` (the same code for every
    solver). ``multiplier`` defaults to the dual step ``(C - B)_+ / beta`` of the
    regularised problem (:func:`racer_dro.formulas.dual_step`); the hard-constraint
    solvers pass their multiplier. ``objective`` defaults to eq. 2 (regularised)
    or ``R + beta H`` (hard constraint); CVXPY passes its optimal value.
    ``history``: a DataFrame, or a dict of equal-length columns (made a DataFrame
    when first read). ``values``: ``(R, C, H)`` already evaluated at ``policy`` by the caller (the
    primal-dual solver's final state, the same worst cases by the same formulas),
    so that they are not computed twice.

    Examples
    --------
    >>> import numpy as np
    >>> problem = RoutingProblem(np.array([[0.0, 1.0]]), np.array([[1.0, 3.0]]), budget=2.0, beta=1.0)
    >>> make_solution(problem, np.array([[0.5, 0.5]]), converged=True).multiplier
    0.0
    """
    pi = problem.check_policy(policy)
    if values is None:
        reward = problem.worst_case_reward(pi).value
        cost = problem.worst_case_cost(pi).value
        entropy = problem.entropy(pi)
    else:
        reward, cost, entropy = values
    if multiplier is None:
        multiplier = formulas.dual_step(cost, problem.budget, problem.beta)
    if objective is None:
        objective = (
            formulas.constrained_objective(reward, entropy, problem.beta)
            if constrained
            else formulas.penalised_objective(
                reward, cost, entropy, problem.budget, problem.beta
            )
        )
    return Solution(
        policy=pi,
        multiplier=float(multiplier),
        objective=float(objective),
        worst_case_reward=float(reward),
        worst_case_cost=float(cost),
        converged=bool(converged),
        history=history,
        entropy=float(entropy),
        constrained=bool(constrained),
        method=method,
        n_iter=int(n_iter),
    )
