"""Data-generating processes with known truth for judge routing.

Two simulators:

* :func:`make_judge_data` -- queries from four domains (math, code, safety,
  knowledge) judged by an instruct judge (arm 0) and a reasoning judge
  (arm 1). Reasoning helps a lot in math and code, not at all or negatively
  in safety and knowledge, and costs several times the tokens, more in math
  and code (the pattern reported by the RACER paper). Realised rewards
  are judge correctness (0/1); the true expected rewards and costs are
  returned beside them.
* :func:`make_preference_pairs` -- features of (prompt, response A,
  response B) pairs with a known preference probability, some of them
  out-of-distribution, for the uncertainty router of the "Ask a Strong LLM Judge" poster; and
  :func:`strong_judge_labels`, the verdicts of an accurate, expensive judge.

The structure of both worlds (domain centres, feature directions) is a fixed
function of ``d``; ``random_state`` only draws the samples, so data sets drawn
with different seeds (training and test) come from the same world.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from sklearn.utils import check_random_state

from racer_dro._validation import check_weights

__all__ = [
    "DOMAINS",
    "DOMAIN_SHIFTS",
    "JudgeData",
    "PreferencePairs",
    "domain_mix",
    "make_judge_data",
    "make_preference_pairs",
    "strong_judge_labels",
]

#: Domain names, in the order used by every per-domain array below.
DOMAINS: tuple[str, ...] = ("math", "code", "safety", "knowledge")

# Judge accuracy at average difficulty, instruct (arm 0) and reasoning (arm 1).
_ACC_INSTRUCT = np.array([0.50, 0.55, 0.90, 0.80])
_ACC_REASONING = np.array([0.85, 0.82, 0.86, 0.78])
# Sensitivity of the logit of each judge's accuracy to the query's difficulty.
_DIFF_INSTRUCT = np.array([0.8, 0.8, 0.8, 0.8])
_DIFF_REASONING = np.array([0.4, 0.4, 0.4, 0.4])
# Mean instruct cost per domain; the uniform mix averages exactly 1.
_BASE_COST = np.array([1.2, 1.3, 0.7, 0.8])
# Reasoning tokens / instruct tokens per domain (at average difficulty).
_COST_RATIO = np.array([8.0, 6.0, 3.0, 3.0])
_COST_NOISE = 0.3  # log-normal sd of token counts
_REASONING_DIFF_COST = 0.2  # harder queries make the reasoning judge think longer

#: Domain mixes of the named shifts (math, code, safety, knowledge).
DOMAIN_SHIFTS: dict[str | None, tuple[float, ...]] = {
    None: (0.25, 0.25, 0.25, 0.25),
    "costlier": (0.4, 0.4, 0.1, 0.1),
    "cheaper": (0.1, 0.1, 0.4, 0.4),
}

_WORLD_SEED = 20260522  # fixes the world's geometry, independent of random_state
_DOMAIN_SEPARATION = 2.5
_DIFFICULTY_LOADING = 1.5


@dataclass(frozen=True)
class JudgeData:
    """A judge-routing sample with its ground truth (see :func:`make_judge_data`).

    Attributes
    ----------
    X : ndarray of shape (n, d)
        Query features: the domain's centre, plus the query's difficulty along
        a shared direction, plus isotropic standard normal noise.
    rewards : ndarray of shape (n, 2)
        Realised judge correctness (0.0 or 1.0); column 0 instruct, column 1
        reasoning. The two columns are drawn independently given the query.
    costs : ndarray of shape (n, 2)
        Realised token cost, in units of the mean instruct cost under the
        default (uniform) domain mix, so a budget ``B`` is a cost ratio.
    domain : ndarray of shape (n,)
        Domain index into :data:`DOMAINS` (0 math, 1 code, 2 safety,
        3 knowledge).
    difficulty : ndarray of shape (n,)
        Standard normal latent difficulty of each query.
    expected_rewards, expected_costs : ndarray of shape (n, 2)
        The true conditional means of ``rewards`` and ``costs`` given the
        query (domain and difficulty).
    domain_weights : ndarray of shape (4,)
        The domain mix the sample was drawn from.

    Examples
    --------
    >>> from racer_dro.datasets import make_judge_data
    >>> data = make_judge_data(50, d=5, random_state=0)
    >>> data.rewards.shape, data.costs.shape
    ((50, 2), (50, 2))
    >>> sorted({float(v) for v in data.rewards.ravel()})
    [0.0, 1.0]
    """

    X: np.ndarray
    rewards: np.ndarray
    costs: np.ndarray
    domain: np.ndarray
    difficulty: np.ndarray
    expected_rewards: np.ndarray
    expected_costs: np.ndarray
    domain_weights: np.ndarray

    @property
    def domain_names(self) -> np.ndarray:
        """Domain name of each row, shape (n,)."""
        return np.asarray(DOMAINS, dtype=object)[self.domain]


@dataclass(frozen=True)
class PreferencePairs:
    """Pairwise preference data with known truth (see :func:`make_preference_pairs`).

    Attributes
    ----------
    X : ndarray of shape (n, d)
        Features of a (prompt, response A, response B) pair.
    y : ndarray of shape (n,)
        1 if response A is preferred, else 0 (drawn from ``preference_probability``).
    preference_probability : ndarray of shape (n,)
        The true probability that A is preferred.
    in_distribution : ndarray of shape (n,), bool
        False for out-of-distribution pairs (off the training manifold).
    latent : ndarray of shape (n, 5)
        The latent coordinates ``(z1, z2, o1, o2, o3)``; the offset ``o`` is 0
        in distribution.

    Examples
    --------
    >>> from racer_dro.datasets import make_preference_pairs
    >>> pairs = make_preference_pairs(40, d=5, ood_fraction=0.25, random_state=0)
    >>> pairs.X.shape, pairs.latent.shape
    ((40, 5), (40, 5))
    >>> bool(((pairs.preference_probability >= 0) & (pairs.preference_probability <= 1)).all())
    True
    """

    X: np.ndarray
    y: np.ndarray
    preference_probability: np.ndarray
    in_distribution: np.ndarray
    latent: np.ndarray


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def _world(d: int, n_directions: int) -> np.ndarray:
    """Fixed orthonormal directions in R^d (depend on ``d`` only)."""
    rng = np.random.default_rng(_WORLD_SEED + d)
    q, _ = np.linalg.qr(rng.standard_normal((d, n_directions)))
    return q.T  # (n_directions, d), orthonormal rows


def domain_mix(shift: str | None = None, domain_weights=None) -> np.ndarray:
    """The domain mix for ``shift`` or explicit ``domain_weights``.

    Parameters
    ----------
    shift : {None, "costlier", "cheaper"}, default=None
        None: the uniform mix (0.25 each). "costlier": (0.4, 0.4, 0.1, 0.1)
        for (math, code, safety, knowledge), the domains where reasoning costs
        most; "cheaper": (0.1, 0.1, 0.4, 0.4). Each shift is at KL divergence
        ``0.8 log 1.6 + 0.2 log 0.4 = 0.193`` from the uniform mix.
    domain_weights : array-like of shape (4,), optional
        Non-negative weights (normalised to sum to one); excludes ``shift``.

    Returns
    -------
    ndarray of shape (4,)

    Examples
    --------
    >>> from racer_dro.datasets import domain_mix
    >>> domain_mix("costlier")
    array([0.4, 0.4, 0.1, 0.1])
    >>> domain_mix(domain_weights=[1, 1, 2, 0])
    array([0.25, 0.25, 0.5 , 0.  ])
    """
    if domain_weights is not None:
        if shift is not None:
            raise ValueError("give either `shift` or `domain_weights`, not both")
        w = np.asarray(domain_weights, dtype=float)
        if w.shape != (len(DOMAINS),):
            raise ValueError(
                f"`domain_weights` must have shape ({len(DOMAINS)},) for the "
                f"domains {DOMAINS}, got shape {w.shape}"
            )
        return check_weights(w, len(DOMAINS), "domain_weights")
    if shift not in DOMAIN_SHIFTS:
        raise ValueError(
            f"`shift` must be None, 'costlier' or 'cheaper', got {shift!r}"
        )
    return np.array(DOMAIN_SHIFTS[shift], dtype=float)


def make_judge_data(
    n: int = 2000,
    *,
    domain_weights=None,
    shift: str | None = None,
    d: int = 16,
    random_state=None,
) -> JudgeData:
    """Simulate judge routing between an instruct and a reasoning judge.

    Each query belongs to a domain ``k`` drawn from the domain mix and has a
    standard normal difficulty ``h``. Features:
    ``X = 2.5 u_k + 1.5 h v + N(0, I_d)`` with fixed orthonormal directions
    ``u_1..u_4, v`` (the domain is recognisable from ``X`` only approximately,
    about 90% of the time, and ``h`` with R^2 = 0.69).

    Judge accuracy (expected reward) of arm ``a`` is
    ``expit(logit(acc_a[k]) - s_a[k] h)`` with accuracies at average
    difficulty

    ===========  ========  =========  =====================
    domain       instruct  reasoning  reasoning cost ratio
    ===========  ========  =========  =====================
    math         0.50      0.85       8
    code         0.55      0.82       6
    safety       0.90      0.86       3
    knowledge    0.80      0.78       3
    ===========  ========  =========  =====================

    and difficulty slopes ``s_0 = 0.8`` and ``s_1 = 0.4`` (reasoning copes
    better with hard queries, in every domain: on hard safety or knowledge
    queries it helps too).
    Realised rewards are independent Bernoulli draws per arm.

    Costs: instruct ``c0 = b_k L0`` with ``b = (1.2, 1.3, 0.7, 0.8)``;
    reasoning ``c1 = b_k ratio_k exp(0.2 h - 0.02) L1``; ``L0, L1``
    independent log-normal with mean 1 and log-sd 0.3. The unit is the mean
    instruct cost under the uniform mix (exactly 1 in expectation), so a
    budget is a cost ratio: all-instruct costs 1, all-reasoning 5.475 under
    the uniform mix, and budgets 2, 3, 4 bind.

    Parameters
    ----------
    n : int, default=2000
        Number of queries.
    domain_weights : array-like of shape (4,), optional
        Domain mix (math, code, safety, knowledge); normalised. Excludes
        ``shift``.
    shift : {None, "costlier", "cheaper"}, default=None
        Named domain mix, see :func:`domain_mix`: "costlier" is
        (0.4, 0.4, 0.1, 0.1), "cheaper" (0.1, 0.1, 0.4, 0.4); None is uniform.
    d : int, default=16
        Feature dimension (at least 5).
    random_state : int, RandomState or None
        Seeds the sample (not the world's geometry, which is fixed).

    Returns
    -------
    JudgeData

    Examples
    --------
    >>> from racer_dro.datasets import make_judge_data
    >>> data = make_judge_data(500, random_state=0)
    >>> data.X.shape, data.rewards.shape, data.costs.shape
    ((500, 16), (500, 2), (500, 2))
    >>> bool(abs(data.expected_costs[:, 0].mean() - 1) < 0.1)
    True
    """
    n = _check_int(n, "n", 1)
    d = _check_int(d, "d", len(DOMAINS) + 1)
    weights = domain_mix(shift, domain_weights)
    rng = check_random_state(random_state)

    directions = _world(d, len(DOMAINS) + 1)
    centres, difficulty_dir = directions[: len(DOMAINS)], directions[-1]

    domain = rng.choice(len(DOMAINS), size=n, p=weights)
    h = rng.standard_normal(n)
    X = (
        _DOMAIN_SEPARATION * centres[domain]
        + _DIFFICULTY_LOADING * h[:, None] * difficulty_dir
        + rng.standard_normal((n, d))
    )

    def logit(p):
        return np.log(p) - np.log1p(-p)

    p0 = expit(logit(_ACC_INSTRUCT[domain]) - _DIFF_INSTRUCT[domain] * h)
    p1 = expit(logit(_ACC_REASONING[domain]) - _DIFF_REASONING[domain] * h)
    expected_rewards = np.column_stack([p0, p1])
    rewards = (rng.random((n, 2)) < expected_rewards).astype(float)

    base = _BASE_COST[domain]
    # E[exp(0.2 h)] = exp(0.02), so the reasoning factor has mean one over h.
    reasoning_factor = _COST_RATIO[domain] * np.exp(_REASONING_DIFF_COST * h - 0.02)
    expected_costs = np.column_stack([base, base * reasoning_factor])
    noise = np.exp(_COST_NOISE * rng.standard_normal((n, 2)) - _COST_NOISE**2 / 2)
    costs = expected_costs * noise

    return JudgeData(
        X=X,
        rewards=rewards,
        costs=costs,
        domain=domain,
        difficulty=h,
        expected_rewards=expected_rewards,
        expected_costs=expected_costs,
        domain_weights=weights,
    )


def _preference_logit(latent: np.ndarray) -> np.ndarray:
    z1, z2, o1 = latent[:, 0], latent[:, 1], latent[:, 2]
    return 3.0 * np.sin(z1) + 1.5 * z2 + 3.0 * o1


def make_preference_pairs(
    n: int = 2000,
    *,
    d: int = 16,
    ood_fraction: float = 0.0,
    random_state=None,
) -> PreferencePairs:
    """Simulate preference pairs, some out of the training distribution.

    Every pair has latent coordinates ``z ~ N(0, I_2)``; in distribution its
    offset ``o`` from the training plane is 0, out of distribution
    ``o = r u`` with ``u`` uniform on the unit sphere of R^3 and
    ``r ~ U(2.5, 3.5)``. Features
    ``X = z1 a1 + z2 a2 + o1 a3 + o2 a4 + o3 a5 + 0.15 N(0, I_d)`` with fixed
    orthonormal ``a1..a5`` (in-distribution pairs lie near a plane, OOD pairs
    about 3 away from it, in every direction). The true preference logit is
    ``f = 3 sin(z1) + 1.5 z2 + 3 o1``: the attribute ``o1`` that decides OOD
    pairs never varies in distribution, so a model trained there cannot
    learn it (its OOD accuracy is 0.5 in expectation over the random
    directions). ``y ~ Bernoulli(expit(f))``. In distribution the Bayes
    accuracy is about 0.82; out of distribution about 0.92.

    Parameters
    ----------
    n : int, default=2000
        Number of pairs.
    d : int, default=16
        Feature dimension (at least 5).
    ood_fraction : float in [0, 1], default=0.0
        Probability that a pair is out of distribution.
    random_state : int, RandomState or None
        Seeds the sample (not the world's geometry).

    Returns
    -------
    PreferencePairs

    Examples
    --------
    >>> from racer_dro.datasets import make_preference_pairs
    >>> pairs = make_preference_pairs(300, ood_fraction=0.2, random_state=0)
    >>> pairs.X.shape, sorted(set(pairs.y.tolist()))
    ((300, 16), [0, 1])
    """
    n = _check_int(n, "n", 1)
    d = _check_int(d, "d", 5)
    if isinstance(ood_fraction, bool) or not isinstance(ood_fraction, numbers.Real):
        raise TypeError(f"`ood_fraction` must be a number, got {ood_fraction!r}")
    if not 0.0 <= ood_fraction <= 1.0:
        raise ValueError(f"`ood_fraction` must be in [0, 1], got {ood_fraction}")
    rng = check_random_state(random_state)
    directions = _world(d, 5)

    z = rng.standard_normal((n, 2))
    ood = rng.random(n) < ood_fraction
    u = rng.standard_normal((n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    offset = np.where(ood[:, None], rng.uniform(2.5, 3.5, size=(n, 1)) * u, 0.0)
    latent = np.column_stack([z, offset])
    X = latent @ directions + 0.15 * rng.standard_normal((n, d))
    prob = expit(_preference_logit(latent))
    y = (rng.random(n) < prob).astype(int)
    return PreferencePairs(
        X=X,
        y=y,
        preference_probability=prob,
        in_distribution=~ood,
        latent=latent,
    )


def strong_judge_labels(
    data: PreferencePairs, accuracy: float = 0.9, random_state=None
) -> np.ndarray:
    """Verdicts of a strong (expensive) judge on preference pairs.

    The judge returns the observed label ``data.y`` with probability
    ``accuracy`` and its opposite otherwise, independently per pair, whatever
    the pair's distribution (the poster takes the strong judge's verdict as
    reliable).

    Parameters
    ----------
    data : PreferencePairs
    accuracy : float in [0, 1], default=0.9
    random_state : int, RandomState or None

    Returns
    -------
    ndarray of shape (n,), int
        1 if the judge prefers A.

    Examples
    --------
    >>> from racer_dro.datasets import make_preference_pairs, strong_judge_labels
    >>> pairs = make_preference_pairs(200, random_state=0)
    >>> strong_judge_labels(pairs, accuracy=1.0).tolist() == pairs.y.tolist()
    True
    """
    if not isinstance(data, PreferencePairs):
        raise TypeError(f"`data` must be a PreferencePairs, got {type(data).__name__}")
    if isinstance(accuracy, bool) or not isinstance(accuracy, numbers.Real):
        raise TypeError(f"`accuracy` must be a number, got {accuracy!r}")
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"`accuracy` must be in [0, 1], got {accuracy}")
    rng = check_random_state(random_state)
    correct = rng.random(data.y.shape[0]) < accuracy
    return np.where(correct, data.y, 1 - data.y).astype(int)
