"""Budget pacing: online dual descent on the budget constraint of a stream of queries.

A static policy meets its budget on its training distribution; under a shift
(new queries, costs outside the training support) its realised cost is an
accident of extrapolation. :class:`BudgetPacer` wraps any fitted router that
estimates each arm's reward and cost per query and routes a stream in arrival
order (Balseiro, Lu and Mirrokni 2020, dual mirror descent with the Euclidean
mirror map): with ``lambda_t`` the current multiplier,

    ``k_t = argmax_k  r_hat_t(k) - lambda_t c_hat_t(k)``   (among the arms the cap allows),

then the cost ``c_t`` of the chosen arm is observed and

    ``lambda_{t+1} = max(0, lambda_t + eta (g_t - rho_t) / B * s)``,

with ``g_t`` the cost of the multiplier's choice (``c_t``, or the cost bound of
the arm the cap refused), ``rho_t = B`` (BLM) or, by default, the budget left per
query left (see ``target``), ``s`` the reward scale (the mean absolute reward
difference between the arms on the stream's estimates) so that ``eta`` is
dimensionless; by default ``eta = 1 / sqrt(T)``. Only the chosen arm's cost is
used: unchosen arms may hold NaN.

Lumpy costs: the multiplier from history (``dual="history"``, the default when
each query's cost is known). When one call costs many times the per-query
budget (a strong judge reading a long input: up to 24 ``B``), the realised cost
``g_t`` is mostly 0 with rare large jumps, and ``lambda_t`` jumps after each
call and drifts down in between: the policy is priced by the accident of the
last call. The stream is an online knapsack with lumpy items, and its
multiplier can instead be learned from the past queries as a sample of the
problem (Devanur and Hayes 2009; Agrawal and Devanur 2014): the smallest
``lambda`` at which the recent queries' policy (the last
``max(30, 0.3 (t + 1))`` of them, :func:`history_window`) would have spent
the rate ``rho_t`` (the budget left per query left) per query,

    ``lambda^H_t = min{lambda >= 0 : mean_s c'_s(k_s(lambda)) <= rho_t}``,
    ``k_s(lambda) = argmax_k r_hat_s(k) - lambda p_s(k)``,

:func:`history_multiplier`. Here ``p`` is the priced cost (the per-query
``cost_bound`` when given, else the router's estimate), ``c' = p`` times the
ratio of the observed costs to their prices so far, per arm, and an arm whose
extra cost exceeds the budget still left is no choice in any row (late in the
stream a lumpy item that cannot fit is not part of the knapsack). Under-spending
raises ``rho_t``, so unspent budget is handed to later queries. Because a
quantile of the past cannot follow an adversarial order (gains sorted best
first: each query is below all earlier ones), the decision uses
``min(lambda^H_t, lambda_t)``, with ``lambda_t`` the online multiplier above
(whose subgradient is the cost of its own choice), which keeps falling while
nothing is bought. The cap below is unchanged, so every guarantee holds for
either multiplier. At the last query the rate is all that is left and every arm
that cannot fit is out, so (with arm 0 free) ``lambda^H = 0``: a gaining arm that
fits in the budget left is bought there, however small its gain. Without a per-query cost the history needs every past
query's cost of the arms not bought, known then only as calibrated estimates
(the router's estimates times the ratio of observed to estimated costs), which
lag a shift; the pacer then calls more often where the cap's empirical bound is
least reliable, and a cost above that bound breaks the 2% target more often
(measured: in 23-37% instead of 13-20% of the runs of a 3x cost shift or
log-normal costs at ``T = 500``, and up to 1.027 ``B`` on the judge streams,
where the online multiplier stays within 1.015 ``B``). So ``dual="auto"`` uses
the history only with a per-query ``cost_bound``.

The cap. An arm other than arm 0 (the cheapest, always allowed) may be chosen
at query ``t`` (0-based) only if the spend so far, plus the arm's cost bound
``u_t(k)``, plus a reserve ``R`` fits under ``B (t + 1)``. So after every call
that costs at most ``u_t(k) + R`` the running mean cost is at most ``B``, and
while the running mean is above ``B`` (after a call that cost more) only arm 0
is allowed, so the spend comes back to the line (the recovery rule). Given a
known ``cost_bound`` (BLM's ``c_bar``; per arm, or per query and arm) ``u`` is
that bound and ``R = 0``; else ``u`` is the empirical bound

    ``u_t(k) = (1 + m / sqrt(n_k + 1)) max(c_hat_t(k), largest cost observed for k)``,

``n_k`` the number of costs observed for arm ``k`` and ``m`` the
``cost_margin`` (a margin that is large while few costs of the arm have been
seen and shrinks as they are observed), and ``R = r B T`` with ``r`` the
``reserve`` fraction of the total budget, held back against a cost spike above
everything seen (it grows linearly to its full size over the first 10% of the stream).

Guarantees. Write ``D_t = spend_t - B (t + 1)`` and ``e_s = max(0, c_s - u_s)``
(``excess_``) the excess of a call's cost over its bound. Deterministically, on
every order of arrivals,

    ``D_t <= e_s - R - sum_{s < j <= t} (B - c_j(0))``,

``s`` the last call of an arm other than 0 at or before ``t`` (without one,
``D_t = sum_{j <= t} (c_j(0) - B)``): the running mean cost is at most
``B + D_t / (t + 1)``. With a valid ``cost_bound`` (every ``e_s = 0``) and arm
0 costing at most ``B`` it never exceeds ``B``, at any ``t``. Without a bound,
the issue's target (at most ``1.02 B`` after the first 10% of the stream) holds
unless a call costs more than its bound plus the reserve plus ``0.02 B (t + 1)``
(or more, early in the stream, than the recovery pays back by ``0.1 T``).
No pacer can exclude that case. If a pacer only sees a cost after choosing, on
a stream where a costly arm always helps and costs ``c``, let ``s >= 0.1 T`` be
a query at which it calls that arm; the stream that differs only in that call
costing more than ``1.02 B (s + 1)`` gets the same decisions up to ``s`` and a
running mean above ``1.02 B`` at ``s``. Nor can a reserve close it while using
the budget: a pacer that spends ``>= 0.9 B T`` on the constant stream has
spent ``>= 0.9 B T - c`` before its last call, and if that call instead costs
more than ``0.12 B T + c`` the mean at the call exceeds ``1.02 B``.

Balseiro, Lu and Mirrokni (2020, Theorem 1; costs bounded by ``c_bar``, with
their stopping rule) bound the total spend by ``B T + c_bar`` and the regret
against the best fixed multiplier by ``O(sqrt(T))`` with ``eta ~ 1 / sqrt(T)``;
their running overspend after ``t`` queries is only ``O(sqrt(T) / t)``
(``lambda_t / (eta t)`` in normalised units), which is why the cap is needed
from ``t = 0.1 T`` on.

References
----------
Balseiro, Lu and Mirrokni, "Dual Mirror Descent for Online Allocation
Problems", ICML 2020.

Devanur and Hayes, "The AdWords Problem: Online Keyword Matching with
Budgeted Bidders under Random Permutations", EC 2009.

Agrawal and Devanur, "Fast Algorithms for Online Stochastic Convex
Programming", SODA 2015 (arXiv 2014).
"""

from __future__ import annotations

import collections
import math
import numbers
import warnings

import numpy as np
from sklearn.utils import check_random_state

from racer_dro._validation import as_float_array

__all__ = ["BudgetPacer", "arm_values", "history_multiplier", "history_window"]

#: Two arms: the ``"history"`` multiplier by Fenwick descent where it applies
#: (O(log T) per query instead of O(T)); False: always the direct computation,
#: the reference the fast path is tested against.
FAST_HISTORY = True


def arm_values(router, X) -> tuple[np.ndarray, np.ndarray]:
    """Per-query reward and cost estimates of each arm, ``(reward, cost)`` of shape (n, K).

    Reads ``router.predict_arm_values(X)``, the judge-routing interface that
    :class:`~racer_dro.RacerRouter`, the judge baselines and the escalation
    routers implement (only differences between arms matter), and checks it.

    Examples
    --------
    >>> import numpy as np
    >>> class Gain:  # arm 1 gains x and costs 1 more than arm 0
    ...     def predict_arm_values(self, X):
    ...         a = np.asarray(X)[:, 0]
    ...         return np.column_stack([0 * a, a]), np.column_stack([0 * a, 1 + 0 * a])
    >>> reward, cost = arm_values(Gain(), [[0.5], [0.2]])
    >>> reward.tolist(), cost.tolist()
    ([[0.0, 0.5], [0.0, 0.2]], [[0.0, 1.0], [0.0, 1.0]])
    """
    if not hasattr(router, "predict_arm_values"):
        raise TypeError(
            f"`router` ({type(router).__name__}) must expose predict_arm_values(X) "
            "returning (reward, cost) arrays of shape (n, K)"
        )
    reward, cost = router.predict_arm_values(X)
    reward = np.asarray(reward, dtype=float)
    cost = np.asarray(cost, dtype=float)
    if reward.ndim != 2 or reward.shape != cost.shape or reward.shape[1] < 2:
        raise ValueError(
            "the router's arm values must be two (n, K) arrays with K >= 2, got "
            f"{reward.shape} and {cost.shape}"
        )
    if not (np.all(np.isfinite(reward)) and np.all(np.isfinite(cost))):
        raise ValueError("the router's arm values must be finite")
    return reward, cost


def _check_real(value, name, *, positive=False, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"`{name}` must be positive, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"`{name}` must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"`{name}` must be <= {high}, got {value!r}")
    return value


def history_window(t) -> int:
    """Rows of recent history the ``"history"`` multiplier learns from at query ``t`` (0-based).

    ``max(30, ceil(0.3 (t + 1)))``, at most ``t + 1``: the whole past while it is
    short, then the most recent 30% of it, so that a drifting stream is tracked
    (a choice between the variance of a short window and the bias of a long one
    under drift; it is not tuned to a data set).

    Examples
    --------
    >>> history_window(0), history_window(99), history_window(999)
    (1, 30, 300)
    """
    return min(t + 1, max(30, math.ceil(0.3 * (t + 1) - 1e-9)))


def history_multiplier(reward, price, counted, rate) -> float:
    """Smallest ``lambda >= 0`` at which the rows' policy spends at most ``rate`` per row.

    The sample-average ("dual from history") multiplier of the online knapsack:
    with ``k_s(lambda) = argmax_k reward[s, k] - lambda price[s, k]`` (ties to the
    lower arm), the smallest ``lambda`` with
    ``mean_s counted[s, k_s(lambda)] <= rate`` (Agrawal and Devanur 2014 and
    Balseiro, Lu and Mirrokni 2020 learn the multiplier of the same sample
    problem; Devanur and Hayes 2009 solve it on a sample of the stream). An
    arm whose reward is ``-inf`` is unavailable in that row. Two arms: solved
    exactly by sorting the rows' break-even ratios (rows where arm 1 is not
    dearer than arm 0 keep their choice at ``lambda = 0``); more arms: binary
    search over the rows' break-even points.

    Parameters
    ----------
    reward, price, counted : ndarray of shape (n, K)
        Estimated rewards, the costs the multiplier prices, the costs counted
        against the rate.
    rate : float
        The spend per row to meet.

    Returns
    -------
    float
        0 when spending on every row where it gains fits ``rate``; ``inf``
        when no ``lambda`` meets it (only arm 0's cost already exceeds it).

    Examples
    --------
    >>> import numpy as np
    >>> reward = np.array([[0.0, 3.0], [0.0, 2.0], [0.0, 1.0]])
    >>> price = np.array([[0.0, 1.0]] * 3)
    >>> history_multiplier(reward, price, price, 1.0)  # call all three
    0.0
    >>> round(history_multiplier(reward, price, price, 1 / 3), 9)  # only the best row
    2.0
    """
    n, K = reward.shape
    avail = np.isfinite(reward)
    if K == 2:
        base_arm1 = (
            avail[:, 1]
            & (price[:, 1] <= price[:, 0])
            & (~avail[:, 0] | (reward[:, 1] > reward[:, 0]))
        )
        fixed = np.where(base_arm1, counted[:, 1], counted[:, 0]).sum()
        with np.errstate(invalid="ignore"):
            gain = reward[:, 1] - reward[:, 0]
        flexible = avail[:, 1] & avail[:, 0] & (price[:, 1] > price[:, 0]) & (gain > 0)
        ratio = gain[flexible] / (price[flexible, 1] - price[flexible, 0])
        extra = counted[flexible, 1] - counted[flexible, 0]
        order = np.argsort(-ratio, kind="stable")
        ratio, extra = ratio[order], extra[order]
        return _ranked_multiplier(fixed, extra, ratio, rate * n)

    def spend(lam):
        score = np.where(avail, reward - lam * price, -np.inf)
        k = np.argmax(score, axis=1)
        return counted[np.arange(n), k].sum()

    limit = _spend_limit(rate * n)
    if spend(0.0) <= limit:
        return 0.0
    # the choice of a row changes only where two arms break even: search those
    finite = np.where(avail, reward, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        even = (finite[:, :, None] - finite[:, None, :]) / (
            price[:, :, None] - price[:, None, :]
        )
    even = np.unique(even[np.isfinite(even) & (even > 0)]) * (1 + 1e-12)
    if even.size == 0 or spend(even[-1]) > limit:
        return math.inf
    lo, hi = -1, even.size - 1  # spend(even[hi]) <= limit
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if spend(even[mid]) > limit:
            lo = mid
        else:
            hi = mid
    return float(even[hi])


def _spend_limit(total) -> float:
    """``total`` with a relative 1e-12 allowance: a spend at the limit up to rounding fits."""
    return total * (1 + 1e-12) + 1e-300


def _ranked_multiplier(fixed, extra, ratio, limit) -> float:
    """The two-arm sample multiplier from rows ranked by break-even ratio.

    ``ratio`` holds the rows' break-even ratios ``gain / extra price`` in
    decreasing order and ``extra`` their extra counted cost of arm 1; ``fixed``
    is the spend that does not depend on the multiplier. At ``lambda =
    ratio[j]`` rows ``0..j-1`` call arm 1 (ties go to arm 0), spending
    ``fixed + sum(extra[:j])``; the smallest such ``lambda`` whose spend stays
    within ``limit`` is returned (0 when every row fits, ``inf`` when none can:
    ``fixed`` alone exceeds it), just above the ratio so that rounding cannot
    call that row.
    """
    spend = fixed + np.concatenate([[0.0], np.cumsum(extra)])
    limit = _spend_limit(limit)
    if spend[-1] <= limit:
        return 0.0
    first = int(np.argmax(spend > limit))
    return float(ratio[first - 1]) * (1 + 1e-12) if first > 0 else math.inf


class _RankedWindow:
    """The two-arm sample problem's ranked rows of a sliding window, for O(log T) queries.

    Flexible rows (arm 1 dearer and gaining) sit at their rank by break-even
    ratio in two Fenwick trees (their arm-1 and arm-0 prices) while they are in
    the window; the window's largest arm-1 price among rows the room filter
    could drop is kept by a monotone deque. Rows enter in time order and leave
    in time order (the window's start never moves back).
    """

    def __init__(self, ranked, p1, p0, filterable):
        self.size = len(ranked)
        self.position = np.full(len(p1), -1, dtype=np.int64)
        self.position[ranked] = np.arange(1, self.size + 1)
        self.position = self.position.tolist()
        self.ranked = ranked.tolist()
        self.p1, self.p0 = p1.tolist(), p0.tolist()
        self.filterable = filterable.tolist()
        self.tree1 = [0.0] * (self.size + 1)
        self.tree0 = [0.0] * (self.size + 1)
        self.top = 1 << max(0, self.size.bit_length() - 1)
        self.lo = self.hi = 0  # rows lo..hi-1 are in
        self.peak = collections.deque()  # rows of decreasing arm-1 price

    def _add(self, row, sign):
        i = self.position[row]
        if i < 0:
            return
        v1, v0 = sign * self.p1[row], sign * self.p0[row]
        tree1, tree0, size = self.tree1, self.tree0, self.size
        while i <= size:
            tree1[i] += v1
            tree0[i] += v0
            i += i & -i

    def move(self, lo, hi):
        """Make the window rows ``lo..hi-1``."""
        for row in range(self.hi, hi):
            self._add(row, 1.0)
            if self.filterable[row]:
                while self.peak and self.p1[self.peak[-1]] <= self.p1[row]:
                    self.peak.pop()
                self.peak.append(row)
        for row in range(self.lo, lo):
            self._add(row, -1.0)
        while self.peak and self.peak[0] < lo:
            self.peak.popleft()
        self.lo, self.hi = lo, hi

    def largest_p1(self) -> float:
        """The largest arm-1 price of a window row the room filter applies to."""
        return self.p1[self.peak[0]] if self.peak else -math.inf

    def crossing(self, r1, r0, cap):
        """The row whose rank-ordered extra cost ``r1 p1 - r0 p0`` first exceeds ``cap``.

        Fenwick descent: the longest rank prefix of window rows whose extras sum
        to at most ``cap`` (extras must be non-negative); None when all fit.
        """
        tree1, tree0, size = self.tree1, self.tree0, self.size
        pos, acc, step = 0, 0.0, self.top
        while step:
            nxt = pos + step
            if nxt <= size:
                v = r1 * tree1[nxt] - r0 * tree0[nxt]
                if acc + v <= cap:
                    pos, acc = nxt, acc + v
            step >>= 1
        return None if pos == size else self.ranked[pos]


class _History:
    """The ``"history"`` multiplier of a stream (see the module notes), query by query.

    Two arms take a fast path equal to :func:`history_multiplier`: the rows
    where arm 1 is dearer and gains are ranked once by their break-even ratio
    ``gain / extra price``. Where no row's extra cost can exceed the room left
    (and every extra is non-negative), the window's rows sit in Fenwick trees
    by rank and the multiplier is found in O(log T) per query (:class:`_RankedWindow`;
    equal to the direct computation up to the order of floating-point
    additions); otherwise each query filters the ranking to its window.
    """

    def __init__(self, reward, price, target):
        self.reward, self.price, self.target = reward, price, target
        self.T, self.K = reward.shape
        self.last = None
        self.window = None
        if self.K == 2:
            gain = reward[:, 1] - reward[:, 0]
            dearer = price[:, 1] - price[:, 0]
            flexible = (dearer > 0) & (gain > 0)
            self.always = (dearer <= 0) & (gain > 0)  # arm 1 at every lambda
            self.ratio = np.where(flexible, gain / np.where(flexible, dearer, 1.0), 0.0)
            rows = np.nonzero(flexible)[0]
            self.ranked = rows[np.argsort(-self.ratio[rows], kind="stable")]
            self.cum0 = np.concatenate([[0.0], np.cumsum(price[:, 0])])
            if FAST_HISTORY and (price >= 0).all():
                always = self.always
                self.cum_always = [
                    np.concatenate(
                        [[0.0], np.cumsum(np.where(always, price[:, k], 0.0))]
                    )
                    for k in (0, 1)
                ]
                self.free0 = bool((price[:, 0] == 0).all())
                self.window = _RankedWindow(
                    self.ranked, price[:, 1], price[:, 0], flexible | always
                )

    def _fast(self, t, lo, calibration, room, limit):
        """The two-arm multiplier by Fenwick descent, or None where it does not apply."""
        win = self.window
        win.move(lo, t + 1)
        r0, r1 = float(calibration[0]), float(calibration[1])
        # no extra r1 p1 - r0 p0 (<= r1 p1) exceeds the room, and every flexible
        # row's extra is non-negative (p1 > p0 >= 0)
        if not (r1 * win.largest_p1() <= room and (r1 >= r0 or self.free0)):
            return None
        c0, c1 = self.cum_always
        fixed = r0 * (self.cum0[t + 1] - self.cum0[lo])
        fixed += r1 * (c1[t + 1] - c1[lo]) - r0 * (c0[t + 1] - c0[lo])
        limit = _spend_limit(limit)
        if fixed > limit:
            return math.inf
        row = win.crossing(r1, r0, limit - fixed)
        if row is None:
            return 0.0
        if not lo <= row <= t:
            # rounding left in the trees by rows that have left the window decided
            # the descent (costs of wildly different magnitudes): scan instead
            return None
        return float(self.ratio[row]) * (1 + 1e-12)

    def __call__(self, t, calibration, spent, budget, held):
        lo = t + 1 - history_window(t)
        n = t + 1 - lo
        left = budget * self.T - spent
        rate = budget if self.target == "budget" else max(0.0, left / (self.T - t))
        # lumpy costs: an arm dearer than this (beyond arm 0) cannot be bought
        room = max(0.0, left - held)
        if self.window is not None:
            fast = self._fast(t, lo, calibration, room, rate * n)
            if fast is not None:
                return fast
        if self.K != 2:
            # more arms: the sample problem is re-solved every n / 20 queries (its
            # window moves by at most 5% in between) and its multiplier kept between
            if t % max(1, n // 20) and self.last is not None:
                return self.last
            price = self.price[lo : t + 1]
            counted = price * calibration
            reward = np.where(
                counted - counted[:, :1] <= room, self.reward[lo : t + 1], -np.inf
            )
            reward[:, 0] = self.reward[lo : t + 1, 0]
            self.last = history_multiplier(reward, price, counted, rate)
            return self.last
        r0, r1 = calibration
        p0, p1 = self.price[:, 0], self.price[:, 1]
        fixed = r0 * (self.cum0[t + 1] - self.cum0[lo])
        window = slice(lo, t + 1)
        extra = r1 * p1[window] - r0 * p0[window]
        fixed += extra[self.always[window] & (extra <= room)].sum()
        rows = self.ranked[(self.ranked >= lo) & (self.ranked <= t)]
        extra = r1 * p1[rows] - r0 * p0[rows]
        keep = extra <= room
        rows, extra = rows[keep], extra[keep]
        return _ranked_multiplier(fixed, extra, self.ratio[rows], rate * n)


def _check_cost_columns(costs, arm_names, name="costs"):
    """A cost table with column labels must list the router's arms in its order.

    The stream's costs (and ``cost_bound``) are matched to the arms by position;
    a DataFrame whose columns name the arms in another order would price each
    arm at another's cost. So would a per-arm Series whose index holds the
    arms' names in another order (one with other labels, e.g. 0..K-1, is
    taken by position)."""
    if arm_names is None:
        return
    columns, kind = getattr(costs, "columns", None), "columns"
    if columns is None:
        index, kind = getattr(costs, "index", None), "index"
        if index is None or getattr(costs, "ndim", 0) != 1:
            return
        if sorted(map(str, index)) != sorted(map(str, arm_names)):
            return  # not labelled by the arms: by position
        columns = index
    if list(columns) != list(arm_names):
        raise ValueError(
            f"the {kind} of `{name}` {list(columns)!r} are not the router's arms "
            f"{list(arm_names)!r} in its order: arms are matched by position "
            f"(reorder, e.g. `{name}[list(router.arm_names_)]`)"
        )


class BudgetPacer:
    """Route a stream in arrival order under a mean-cost budget (online dual descent).

    Parameters
    ----------
    router : fitted router
        Anything :func:`arm_values` accepts (``predict_arm_values(X)``). Arm 0
        must be the cheapest (default) arm.
    budget : float
        Budget ``B`` on the mean cost per query, in the unit of ``costs``.
    step_size : float, optional
        Dimensionless ``eta``; default ``1 / sqrt(T)`` for a stream of ``T``.
    initial_multiplier : float, optional
        ``lambda_1`` in the unit of reward per cost. Default: the router's
        ``multiplier_`` when it has one (RacerRouter), else 0.
    cost_margin : float >= 0, default=1.0
        ``m`` in the empirical cost bound ``(1 + m / sqrt(n_k + 1)) max(c_hat,
        largest observed cost)`` (see the module notes); unused with
        ``cost_bound``. Larger values make an unseen cost spike less likely to
        exceed the bound, at the price of budget left unused near the end.
    reserve : float in [0, 1), default=0.02
        Fraction of the total budget ``B T`` held back (never spent) against a
        cost spike above the empirical bound; unused with ``cost_bound``.
        Costs a share ``reserve`` of the budget on every stream.
    temperature : float >= 0, default=0.0
        0: the arm maximising ``r_hat - lambda c_hat``. Positive: the arm is
        drawn from the entropy-regularised policy
        ``softmax((r_hat - lambda c_hat) / temperature)`` (RACER's policy has
        ``temperature = beta``).
    cost_bound : float, array-like of shape (K,) or (T, K), optional
        A known upper bound on each arm's cost (BLM's ``c_bar``), per arm or per
        query and arm (e.g. a judge call's input tokens times their price, known
        before the call). With it the cap uses the bound, and the running mean
        cost never exceeds ``B`` (when arm 0 costs at most ``B``) and no reserve
        is held; a chosen cost above its bound is an error. A per-query bound
        is also the cost the multiplier prices (in place of the router's
        estimate: it is known and specific to the query).
    target : {"remaining", "budget"}, default="remaining"
        The rate the multiplier steers the spend to: ``"budget"`` is BLM's
        ``B``; ``"remaining"`` is the budget left per query left,
        ``(B T - spend) / (T - t)``, which hands unspent budget back later in the
        stream. Both equal ``B`` while the spend is on track.
    dual : {"auto", "history", "mirror"}, default="auto"
        The multiplier: ``"mirror"`` is the online dual descent alone;
        ``"history"`` the smaller of it and the multiplier learned from the
        recent queries (:func:`history_multiplier`; the module notes say why it
        suits lumpy costs); ``"auto"`` is ``"history"`` when ``cost_bound`` is
        given per query and arm, else ``"mirror"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws when ``temperature > 0``. Each :meth:`run` starts
        afresh (the multiplier, the cost bounds and the attributes below), so
        with an int a second run of the same stream repeats the first; a
        RandomState instance is drawn from, so its draws continue across runs.

    Attributes
    ----------
    arms_ : ndarray of int, shape (T,)
        The decisions of the last :meth:`run`.
    multipliers_ : ndarray of shape (T,)
        The multiplier used for each decision (with ``dual="history"``, the
        smaller of the two).
    spend_ : ndarray of shape (T,)
        Cumulative cost after each decision.
    capped_ : ndarray of bool, shape (T,)
        Where the cap forbade the arm the multiplier would have chosen.
    excess_ : ndarray of shape (T,)
        ``max(0, c_t - u_t)``: how much each chosen cost exceeded the bound
        the cap used for it (0 for arm 0, which the cap always allows); the
        running mean exceeds ``B`` only after an excess above the reserve.
    multiplier_ : float
        The online (mirror) multiplier after the last query.
    mean_cost_ : float
        Realised mean cost of the stream.

    Examples
    --------
    >>> import numpy as np
    >>> class Oracle:  # the strong arm gains x and costs 1
    ...     def predict_arm_values(self, X):
    ...         x = np.asarray(X)[:, 0]
    ...         return np.column_stack([0 * x, x]), np.column_stack([0 * x, 1 + 0 * x])
    >>> X = np.random.default_rng(0).uniform(size=(2000, 1))
    >>> costs = np.tile([0.0, 1.0], (2000, 1))
    >>> pacer = BudgetPacer(Oracle(), budget=0.25)
    >>> arms = pacer.run(X, costs)
    >>> bool(0.225 <= pacer.mean_cost_ <= 0.25)
    True
    >>> running = pacer.spend_ / np.arange(1, 2001)
    >>> bool(running.max() <= 0.25)
    True
    """

    def __init__(
        self,
        router,
        budget,
        *,
        step_size=None,
        initial_multiplier=None,
        cost_margin=1.0,
        reserve=0.02,
        temperature=0.0,
        cost_bound=None,
        target="remaining",
        dual="auto",
        random_state=None,
    ):
        self.router = router
        self.budget = budget
        self.step_size = step_size
        self.initial_multiplier = initial_multiplier
        self.cost_margin = cost_margin
        self.reserve = reserve
        self.temperature = temperature
        self.cost_bound = cost_bound
        self.target = target
        self.dual = dual
        self.random_state = random_state

    def _check(self, T):
        budget = _check_real(self.budget, "budget", positive=True)
        eta = (
            1.0 / math.sqrt(T)
            if self.step_size is None
            else _check_real(self.step_size, "step_size", positive=True)
        )
        margin = _check_real(self.cost_margin, "cost_margin", low=0.0)
        reserve = _check_real(self.reserve, "reserve", low=0.0, high=0.999)
        lam = self.initial_multiplier
        if lam is None:
            lam = getattr(self.router, "multiplier_", 0.0)
        lam = _check_real(lam, "initial_multiplier", low=0.0)
        if self.target not in ("remaining", "budget"):
            raise ValueError(
                f"`target` must be 'remaining' or 'budget', got {self.target!r}"
            )
        if self.dual not in ("auto", "history", "mirror"):
            raise ValueError(
                f"`dual` must be 'auto', 'history' or 'mirror', got {self.dual!r}"
            )
        return budget, eta, margin, reserve, lam

    def _known_bounds(self, T, K):
        """The ``cost_bound`` as a (T, K) array, or None."""
        if self.cost_bound is None:
            return None
        known = as_float_array(self.cost_bound, "cost_bound")
        if known.ndim == 2 and known.shape != (T, K):
            raise ValueError(
                f"`cost_bound` of shape {known.shape} must be a number, one value "
                f"per arm ({K},) or one per query and arm {(T, K)}"
            )
        try:
            known = np.broadcast_to(known, (T, K))
        except ValueError:
            raise ValueError(
                f"`cost_bound` of shape {known.shape} must be a number, one value "
                f"per arm ({K},) or one per query and arm {(T, K)}"
            ) from None
        if not np.all(np.isfinite(known)) or (known < 0).any():
            raise ValueError("`cost_bound` must be finite and non-negative")
        return known

    def run(self, X, costs) -> np.ndarray:
        """Route the rows of ``X`` in order; return the arm index of each.

        Parameters
        ----------
        X : array-like of shape (T, d)
            The stream's features, in arrival order.
        costs : array-like of shape (T, K)
            Each row's cost of each arm; only the chosen arm's cost is read
            (after its decision), so unchosen arms may be NaN. A NaN (or a
            negative or infinite value) in a chosen arm is an error. One
            exception: the finite entries of arm 0's column (the cheapest arm)
            are averaged up front to tell whether the budget can be met at all;
            they never steer a decision otherwise. A DataFrame's columns,
            when the router has ``arm_names_``, must be those names in order.

        Returns
        -------
        ndarray of int, shape (T,)
        """
        reward, cost_hat = arm_values(self.router, X)
        T, K = reward.shape
        if T == 0:  # 1 / sqrt(T) was a bare ZeroDivisionError
            raise ValueError("`X` must contain at least one query, got 0 rows")
        arm_names = getattr(self.router, "arm_names_", None)
        _check_cost_columns(costs, arm_names)
        _check_cost_columns(self.cost_bound, arm_names, "cost_bound")
        costs = as_float_array(costs, "costs")  # pd.NA (an unchosen arm) as NaN
        if costs.shape != (T, K):
            raise ValueError(
                f"`costs` must have shape {(T, K)} (one row per query, one column "
                f"per arm), got {costs.shape}"
            )
        budget, eta, margin, reserve, lam = self._check(T)
        temperature = _check_real(self.temperature, "temperature", low=0.0)
        known = self._known_bounds(T, K)
        # the cost the multiplier prices: a per-query bound when given, else the estimate
        per_query = known is not None and np.ndim(self.cost_bound) == 2
        price = known if per_query else cost_hat
        rng = check_random_state(self.random_state)
        min_cost = float(np.mean(cost_hat[:, 0]))
        observed0 = costs[:, 0][np.isfinite(costs[:, 0])]
        if observed0.size:
            min_cost = max(min_cost, float(observed0.mean()))
        force_cheapest = budget < min_cost - 1e-12 * max(1.0, abs(min_cost))
        if force_cheapest:
            warnings.warn(
                f"`budget` = {budget!r} is below the cheapest arm's mean cost "
                f"{min_cost!r}: it cannot be met; every query goes to arm 0",
                stacklevel=2,
            )
        gaps = np.abs(reward - reward[:, :1])[:, 1:]
        scale = float(gaps.mean()) if gaps.size and gaps.mean() > 0 else 1.0
        largest = np.zeros(K)  # largest cost observed per arm
        seen = np.zeros(K)  # number of costs observed per arm
        observed = np.zeros(K)  # sum of the observed costs per arm ...
        priced = np.zeros(K)  # ... and of their prices (for the calibration ratio)
        dual = self.dual
        if dual == "auto":
            dual = "history" if per_query else "mirror"
        history = _History(reward, price, self.target) if dual == "history" else None
        arms = np.zeros(T, dtype=int)
        multipliers = np.empty(T)
        spend = np.empty(T)
        capped = np.zeros(T, dtype=bool)
        excess = np.zeros(T)
        spent = 0.0
        held = 0.0 if known is not None else reserve * budget * T
        ramp = max(1.0, 0.1 * T)  # the reserve grows to its full size by 10% of T
        for t in range(T):
            if known is not None:
                bound = known[t]
            else:
                bound = np.maximum(cost_hat[t], largest) * (
                    1.0 + margin / np.sqrt(seen + 1.0)
                )
            held_now = held * min(1.0, (t + 1) / ramp)
            allowed = spent + bound + held_now <= budget * (t + 1)
            allowed[0] = True
            used = lam
            if history is not None and not force_cheapest:
                calibration = np.where(
                    priced > 0, observed / np.where(priced > 0, priced, 1.0), 1.0
                )
                used = min(lam, history(t, calibration, spent, budget, held_now))
            multipliers[t] = used
            k, wanted = 0, None
            if not force_cheapest:
                score = reward[t] - used * price[t]
                if temperature > 0:
                    z = np.exp((score - score.max()) / temperature)
                    k = int(rng.choice(K, p=z / z.sum()))
                else:
                    k = int(np.argmax(score))
                if k != 0 and not allowed[k]:
                    capped[t] = True
                    wanted = bound[k]
                    k = int(np.argmax(np.where(allowed, score, -np.inf)))
            c = costs[t, k]
            if not (math.isfinite(c) and c >= 0):
                raise ValueError(
                    f"`costs`[{t}, {k}] = {c!r}: the chosen arm's cost must be a "
                    "finite non-negative number (only unchosen arms may be NaN)"
                )
            if known is not None and c > bound[k]:
                raise ValueError(
                    f"`costs`[{t}, {k}] = {float(c)!r} exceeds `cost_bound` {float(bound[k])!r}"
                )
            if k != 0:
                excess[t] = max(0.0, c - bound[k])
            largest[k] = max(largest[k], c)
            seen[k] += 1
            observed[k] += c
            priced[k] += price[t, k]
            spent += c
            arms[t] = k
            spend[t] = spent
            # The dual subgradient is the cost of the multiplier's choice: where the
            # cap overrode it, its cost bound (else the cap would drive lambda down).
            g = c if wanted is None else wanted
            if history is not None and not force_cheapest:
                # the online multiplier's own choice (the history's may differ): its
                # realised cost where it was taken, else its cost bound
                own = int(np.argmax(reward[t] - lam * price[t]))
                g = c if own == k else bound[own]
            # The target rate: the budget per query (BLM), or what is left per query left.
            rate = budget
            if self.target == "remaining" and t + 1 < T:
                rate = max(0.0, (budget * T - spent) / (T - t - 1))
            lam = max(0.0, lam + eta * (g - rate) / budget * scale / budget)
        self.arms_ = arms
        self.multipliers_ = multipliers
        self.spend_ = spend
        self.capped_ = capped
        self.excess_ = excess
        self.multiplier_ = lam
        self.mean_cost_ = spent / T
        return arms
