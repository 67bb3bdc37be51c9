"""RacerRouter fit time, robust="both" against robust="none" (issue 10, item 4).

``python -m benchmarks.racer_fit`` fits ``RacerRouter(3.0)`` on
``racer_dro.datasets.make_judge_data(40000, d=1024)`` (the RACER paper's scale:
40K queries, 1024-d embeddings) with ``robust="none"`` and ``robust="both"``
(the default KL radius 0.2 on each robust side) and prints one row per number of arms (K = 2, and K = 3
with a third, middle arm, see :func:`make_data`): both fit times, their ratio,
the iterations run, the kept iterate, and its validation worst-case reward and
cost with their delta-method standard errors, and the same on a test set drawn
afresh from the process (``test_*``: a quarter of ``n`` rows, seed 1), which
the choice of the kept iterate never saw. ``--quick`` runs a small
instance (n = 3,000, d = 32) and adds the reference fit (``--reference`` adds
it at the paper's scale): the primal-dual run without early stopping to its
tolerance or 200 iterations, every refit solved to tolerance (the fit before
early stopping existed), whose kept iterate the fast fit should match within
standard errors (``reward_gap_se``, ``cost_gap_se``). ``--radius r`` gives
both robust sides another KL radius; ``--temperature 1`` gives them KL
temperature 1 instead, the router's default until 2026-12-02. Timings are one run
each on a shared machine (``OMP_NUM_THREADS=1``): compare the ratio, not the
seconds.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from racer_dro import RacerRouter, kl_worst_case
from racer_dro.datasets import make_judge_data
from racer_dro.formulas import worst_case_standard_error

BUDGET = 3.0


def make_data(n: int, d: int, n_arms: int, random_state: int = 0):
    """``make_judge_data`` with, for ``n_arms = 3``, a middle arm appended.

    The middle arm's accuracy is the mean of the two judges' plus 0.03
    (clipped to [0, 1]); its cost is the mean of their realised costs.
    Returns ``(X, rewards, costs)``.

    Examples
    --------
    >>> X, rewards, costs = make_data(100, 8, 3)
    >>> X.shape, rewards.shape, costs.shape
    ((100, 8), (100, 3), (100, 3))
    """
    data = make_judge_data(n, d=d, random_state=random_state)
    if n_arms == 2:
        return data.X, data.rewards, data.costs
    if n_arms != 3:
        raise ValueError(f"`n_arms` must be 2 or 3, got {n_arms!r}")
    rng = np.random.default_rng(random_state + 1)
    p = np.clip(data.expected_rewards.mean(axis=1) + 0.03, 0.0, 1.0)
    middle = (rng.random(n) < p).astype(float)
    rewards = np.column_stack([data.rewards, middle])
    costs = np.column_stack([data.costs, data.costs.mean(axis=1)])
    return data.X, rewards, costs


def _side_keywords(router, name: str) -> dict:
    """The fitted router's KL keywords of one side (``"reward"`` or ``"cost"``),
    as :func:`racer_dro.kl_worst_case` takes them (``radius``, ``temperature``)."""
    return {
        key.split("_", 1)[1]: value
        for key, value in router.problem_keywords_.items()
        if key.startswith(f"{name}_")
    }


def _validation_quality(router, X, rewards, costs) -> dict:
    """Kept iterate's validation worst-case reward and cost, each with its standard error.

    The worst cases are ``history_``'s; the standard errors are the delta
    method's (:func:`racer_dro.formulas.worst_case_standard_error`): a worst
    case tilted onto a few rows varies far more than the mean.
    """
    h = router.history_.loc[router.best_iteration_]
    idx = router.validation_indices_
    pi = router.predict_proba(X[idx])
    out = {}
    for name, values, sense in (
        ("reward", (pi * rewards[idx]).sum(axis=1), "min"),
        ("cost", (pi * costs[idx]).sum(axis=1), "max"),
    ):
        side = _side_keywords(router, name)
        worst = kl_worst_case(values, sense=sense, **side)
        out[f"val_{name}"] = float(h[f"validation_{name}"])
        out[f"val_{name}_se"] = worst_case_standard_error(
            values, np.ones(len(idx)), worst.temperature, sense
        )
    return out


def _test_quality(router, X, rewards, costs) -> dict:
    """The fitted policy's worst-case reward and cost on fresh rows, with SEs.

    The validation figures of :func:`_validation_quality` are those the kept
    iterate was chosen on: the reference fit keeps the best of up to 200
    iterates there, the fast fit of fewer, so the validation comparison favours
    the longer run. Rows drawn afresh from the same process score both fits
    without that selection.
    """
    pi = router.predict_proba(X)
    out = {}
    for name, values, sense in (
        ("reward", (pi * rewards).sum(axis=1), "min"),
        ("cost", (pi * costs).sum(axis=1), "max"),
    ):
        side = _side_keywords(router, name)
        worst = kl_worst_case(values, sense=sense, **side)
        out[f"test_{name}"] = float(worst.value)
        out[f"test_{name}_se"] = worst_case_standard_error(
            values, np.ones(len(values)), worst.temperature, sense
        )
    return out


def _timed_fit(router, X, rewards, costs):
    """``(wall, cpu)`` seconds of ``router.fit`` (CPU: this process's)."""
    start, cpu = time.perf_counter(), time.process_time()
    router.fit(X, rewards, costs)
    return time.perf_counter() - start, time.process_time() - cpu


def row(n: int, d: int, n_arms: int, reference: bool = False, **sides) -> dict:
    """One row of the table (see the module notes).

    ``sides`` (e.g. ``reward_temperature=1.0, cost_temperature=1.0``) go to
    both robust fits; without them each robust side has the router's default
    (KL radius 0.2).

    Examples
    --------
    >>> r = row(600, 8, 2)
    >>> r["iterations"] >= 1 and r["val_cost_se"] > 0
    True
    """
    X, rewards, costs = make_data(n, d, n_arms)
    none = RacerRouter(BUDGET, robust="none", random_state=0)
    t_none, cpu_none = _timed_fit(none, X, rewards, costs)
    both = RacerRouter(BUDGET, robust="both", random_state=0, **sides)
    t_both, cpu_both = _timed_fit(both, X, rewards, costs)
    out = {
        "K": n_arms,
        "n": n,
        "d": d,
        "sides": ", ".join(f"{k}={v}" for k, v in sides.items()) or "default radius",
        "time_none_s": t_none,
        "time_both_s": t_both,
        "ratio": t_both / t_none,
        "cpu_none_s": cpu_none,
        "cpu_both_s": cpu_both,
        "cpu_ratio": cpu_both / cpu_none,
        "iterations": both.n_iter_,
        "kept_iteration": both.best_iteration_,
    }
    out.update(_validation_quality(both, X, rewards, costs))
    out["feasible"] = bool(both.history_.feasible.loc[both.best_iteration_])
    test = make_data(max(n // 4, 100), d, n_arms, random_state=1)
    out.update(_test_quality(both, *test))
    if reference:
        # The fit as it was before early stopping: the primal-dual run to its
        # tolerance or the default max_iter = 200, every refit solved to
        # tolerance (the same objective as the exact Newton fits).
        ref = RacerRouter(
            BUDGET,
            robust="both",
            n_iter_no_change=None,
            max_iter=200,
            random_state=0,
            **sides,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["time_reference_s"] = _timed_fit(ref, X, rewards, costs)[0]
        q = _validation_quality(ref, X, rewards, costs)
        out["ref_iterations"] = ref.n_iter_
        out["ref_kept_iteration"] = ref.best_iteration_
        out["ref_feasible"] = bool(ref.history_.feasible.loc[ref.best_iteration_])
        for side in ("reward", "cost"):
            out[f"ref_val_{side}"] = q[f"val_{side}"]
            out[f"ref_val_{side}_se"] = q[f"val_{side}_se"]
            # the fast fit's distance from the reference in the reference's
            # standard errors (delta method, see _validation_quality)
            out[f"{side}_gap_se"] = (out[f"val_{side}"] - q[f"val_{side}"]) / max(
                q[f"val_{side}_se"], 1e-300
            )
        q = _test_quality(ref, *test)
        for side in ("reward", "cost"):
            out[f"ref_test_{side}"] = q[f"test_{side}"]
            out[f"ref_test_{side}_se"] = q[f"test_{side}_se"]
            # on fresh rows: both fits' figures in the reference's test SE
            out[f"test_{side}_gap_se"] = (
                out[f"test_{side}"] - q[f"test_{side}"]
            ) / max(q[f"test_{side}_se"], 1e-300)
    return out


SCALES = {"quick": (3000, 32), "paper": (40000, 1024)}


def table(
    quick: bool = False,
    verbose: bool = False,
    reference=None,
    radius=None,
    temperature=None,
) -> pd.DataFrame:
    """The rows: paper scale (n = 40,000, d = 1,024), or the quick instance.

    ``reference`` (default: only with ``quick``) adds the reference fit;
    ``radius`` or ``temperature`` gives both robust sides that KL radius or
    temperature instead of the router's default radius.
    No example here: even the quick table takes seconds; its columns are
    checked in ``tests/benchmarks/test_racer_fit.py``.
    """
    n, d = SCALES["quick" if quick else "paper"]
    reference = quick if reference is None else reference
    if radius is not None and temperature is not None:
        raise ValueError("give `radius` or `temperature`, not both")
    sides = {}
    for name, value in (("radius", radius), ("temperature", temperature)):
        if value is not None:
            sides = {f"reward_{name}": value, f"cost_{name}": value}
    rows = []
    for k in (2, 3):
        rows.append(row(n, d, k, reference=reference, **sides))
        if verbose:
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    """Print the table (``--quick``: the small instance with the reference fit).

    Examples
    --------
    >>> main(["--help"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    SystemExit: 0
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small instance")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="add the reference fit at the paper's scale (about 5 and 10 minutes)",
    )
    parser.add_argument(
        "--radius", type=float, default=None, help="KL radius of both robust sides"
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="KL temperature of both robust sides instead of a radius",
    )
    args = parser.parse_args(argv)
    frame = table(
        args.quick,
        verbose=True,
        reference=True if args.reference else None,
        radius=args.radius,
        temperature=args.temperature,
    )
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(frame.to_string(index=False, float_format="%.4g"))


if __name__ == "__main__":
    main()
