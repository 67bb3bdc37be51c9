"""The field metrics against hand computations and plain-loop references.

References here import nothing from ``metarouter``: RouteLLM's CPT is its own
``np.interp`` call, RouterBench's hull is its pairwise-chord rule written as
loops. Tolerances are 1e-12: every number is a few float additions.
"""

import numpy as np
import pytest

from metarouter.metrics import (
    aiq,
    aiq_scores,
    apgr,
    binary_field_metrics,
    cost_quality_points,
    cpt,
    gain_over_mixing,
    mixing_quality,
    nondecreasing_convex_hull,
    routellm_auc,
    routellm_curve,
)

TOL = 1e-12


def routerbench_hull_reference(x, y):
    """RouterBench's rule as loops: lift each point to the best chord over it,
    then drop a point below its predecessor (distinct costs only)."""
    order = np.argsort(x)
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    n = len(x)
    lifted = []
    for k in range(n):
        best = y[k]
        for i in range(n):
            for j in range(n):
                if x[i] < x[k] < x[j]:
                    chord = y[i] + (x[k] - x[i]) / (x[j] - x[i]) * (y[j] - y[i])
                    best = max(best, chord)
        lifted.append(best)
    keep = [0] + [k for k in range(1, n) if not lifted[k] < lifted[k - 1]]
    return x[keep], np.array(lifted)[keep]


def test_routellm_auc_hand():
    # trapezoids 0.5 * (0.5 + 0.8) / 2 + 0.5 * (0.8 + 0.9) / 2, points unsorted
    assert routellm_auc([1.0, 0.0, 0.5], [0.9, 0.5, 0.8]) == pytest.approx(
        0.75, abs=TOL
    )


def test_apgr_hand_full_and_partial_sweep():
    assert apgr(
        [0.0, 0.5, 1.0], [0.5, 0.8, 0.9], weak_accuracy=0.5, strong_accuracy=0.9
    ) == pytest.approx((0.75 - 0.5) / (0.9 - 0.5), abs=TOL)
    # shares 0.2..0.6: AUC 0.4 * 0.7 = 0.28, weak 0.4 * 0.5, strong 0.4 * 0.9
    got = apgr([0.2, 0.6], [0.6, 0.8], weak_accuracy=0.5, strong_accuracy=0.9)
    assert got == pytest.approx((0.28 - 0.2) / (0.36 - 0.2), abs=TOL)


def test_cpt_hand_and_routellm_interp():
    kw = {"weak_accuracy": 0.5, "strong_accuracy": 0.9}
    # target 0.7 between (0, 0.5) and (0.5, 0.8): 0.2 / 0.3 * 0.5
    assert cpt([0, 0.5, 1], [0.5, 0.8, 0.9], x=0.5, **kw) == pytest.approx(
        1 / 3, abs=TOL
    )
    rng = np.random.default_rng(0)
    for _ in range(20):
        share = np.sort(rng.uniform(size=8))
        acc = np.sort(rng.uniform(0.4, 1.0, size=8))  # increasing: np.interp defined
        for x in (0.2, 0.5, 0.8):
            target = 0.5 + x * (0.9 - 0.5)
            assert cpt(share, acc, x=x, **kw) == pytest.approx(
                np.interp(target, acc, share), abs=TOL
            )


def test_cpt_non_monotone_is_first_crossing_and_clamps():
    kw = {"weak_accuracy": 0.5, "strong_accuracy": 0.9}
    # accuracy rises to 0.9 then falls: 0.7 is first reached at share 0.25
    assert cpt([0, 0.5, 1], [0.5, 0.9, 0.7], x=0.5, **kw) == pytest.approx(
        0.25, abs=TOL
    )
    # never reached -> the largest share, as np.interp clamps
    assert cpt([0, 0.5, 1], [0.5, 0.6, 0.7], x=1.0, **kw) == 1.0
    # below every accuracy -> the smallest share
    assert cpt([0.1, 0.5], [0.6, 0.7], x=0.0, **kw) == 0.1


def test_hull_hand():
    c, q = nondecreasing_convex_hull([3, 0, 2, 1], [0.7, 0.2, 0.8, 0.3])
    np.testing.assert_allclose(c, [0, 1, 2], atol=TOL)
    np.testing.assert_allclose(q, [0.2, 0.5, 0.8], atol=TOL)  # (1, 0.3) lifted


def test_hull_matches_routerbench_rule_on_random_points():
    rng = np.random.default_rng(1)
    for n in range(2, 9):
        for _ in range(10):
            x = rng.permutation(np.arange(n, dtype=float)) + rng.uniform(0, 0.5, n)
            y = rng.uniform(size=n)
            c, q = nondecreasing_convex_hull(x, y)
            rc, rq = routerbench_hull_reference(x, y)
            np.testing.assert_allclose(c, rc, atol=TOL)
            np.testing.assert_allclose(q, rq, atol=TOL)


def test_hull_repeated_cost_keeps_best_quality():
    c, q = nondecreasing_convex_hull([1, 1, 2], [0.3, 0.6, 0.5])
    np.testing.assert_allclose(c, [1.0])
    np.testing.assert_allclose(q, [0.6])


def test_aiq_hand():
    pts = ([0, 1, 2, 3], [0.2, 0.3, 0.8, 0.7])
    # hull (0,.2) (1,.5) (2,.8): area 0.35 + 0.65 over largest hull cost 2
    assert aiq(*pts) == pytest.approx(1.0 / 2, abs=TOL)
    # extended flat to 4: + 2 * 0.8
    assert aiq(*pts, max_cost=4) == pytest.approx(2.6 / 4, abs=TOL)
    # shared largest hull cost across routers (RouterBench's calc_AIQ)
    got = aiq_scores({"a": ([0, 1], [0.5, 1.0]), "b": ([0, 2], [0.5, 0.5])})
    assert got["a"] == pytest.approx(1.75 / 2, abs=TOL)
    assert got["b"] == pytest.approx(1.0 / 2, abs=TOL)


def test_mixing_quality_and_gain_hand():
    # models (1, .4), (2, .3) (dominated), (3, .8): hull chord .4 -> .8
    mc, mq = [1.0, 2.0, 3.0], [0.4, 0.3, 0.8]
    got = mixing_quality(mc, mq, [0.5, 1.0, 1.5, 3.0, 9.0])
    np.testing.assert_allclose(got, [np.nan, 0.4, 0.5, 0.8, 0.8], atol=TOL)
    gain = gain_over_mixing([1.5, 2.0], [0.55, 0.5], mc, mq)
    np.testing.assert_allclose(gain, [0.05, -0.1], atol=TOL)


def test_cost_quality_points_hand():
    q = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    c = np.array([[1.0, 2.0, 5.0], [1.0, 3.0, 4.0]])
    mc, mq = cost_quality_points([[0, 0], [1, 2], [2, 0]], q, c)
    np.testing.assert_allclose(mc, [1.0, 3.0, 3.0], atol=TOL)
    np.testing.assert_allclose(mq, [0.5, 1.0, 1.0], atol=TOL)


@pytest.mark.parametrize(
    "quality, cost, match",
    [
        ([[0.0, np.nan], [1.0, 1.0]], [1.0, 2.0], "`quality` contains 1"),
        ([[0.0, 1.0], [1.0, 1.0]], [1.0, np.inf], "`cost` contains 1"),
        ([[0.0, 1.0], [1.0, 1.0]], [[1.0, 2.0], [np.nan, 2.0]], "`cost` contains 1"),
        (np.empty((0, 2)), [1.0, 2.0], "at least one query"),
    ],
)
def test_cost_quality_points_rejects_non_finite_or_empty(quality, cost, match):
    """NaN / inf quality or cost is an error naming it, not a NaN / inf mean.

    Before, the chosen NaN quality (model 1 on query 0) gave a NaN mean quality
    and an infinite cost an infinite mean cost, silently; no queries gave NaN.
    """
    choice = [1, 0] if len(quality) else []
    with pytest.raises(ValueError, match=match):
        cost_quality_points(choice, quality, cost)


def test_cost_quality_points_rejects_no_settings():
    with pytest.raises(ValueError, match="`choice`"):
        cost_quality_points(np.empty((0, 2), dtype=int), [[0, 1], [1, 1]], [1, 2])


def test_routellm_curve_and_binary_metrics_hand():
    scores = [0.9, 0.1, 0.5]
    weak = [0.0, 1.0, 0.0]
    strong = [1.0, 1.0, 0.0]
    share, acc = routellm_curve(scores, weak, strong)
    # top-1 is query 0 (+1); then query 2 (+0); then query 1 (+0)
    np.testing.assert_allclose(share, [0, 1 / 3, 2 / 3, 1], atol=TOL)
    np.testing.assert_allclose(acc, [1 / 3, 2 / 3, 2 / 3, 2 / 3], atol=TOL)
    m = binary_field_metrics(
        scores, weak, strong, cost_weak=[1, 1, 1], cost_strong=[4, 4, 4]
    )
    auc = (1 / 3) * (1 / 3 + 2 / 3) / 2 + (2 / 3) * (2 / 3)
    assert m["auc"] == pytest.approx(auc, abs=TOL)
    assert m["apgr"] == pytest.approx((auc - 1 / 3) / (2 / 3 - 1 / 3), abs=TOL)
    assert m["cpt_50"] == pytest.approx(1 / 6, abs=TOL)
    # mean costs 1, 2, 3, 4 with accuracy 1/3, 2/3, 2/3, 2/3: RouterBench keeps
    # the plateau (only a strict drop is removed), so the largest cost is 4
    assert m["aiq"] == pytest.approx((0.5 * (1 / 3 + 2 / 3) + 2 * 2 / 3) / 4, abs=TOL)
    assert m["mean_eg"] > 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: routellm_auc([0, 1], [0.5, 0.6, 0.7]), "`strong_share` has 2"),
        (lambda: routellm_auc([0.5], [0.5]), "single point"),
        (lambda: routellm_auc([0.5, 0.5], [0.5, 0.6]), "single distinct"),
        (lambda: routellm_auc([0, 2], [0.5, 0.6]), r"\[0, 1\]"),
        (
            lambda: apgr([0, 1], [0.5, 0.6], weak_accuracy=0.5, strong_accuracy=0.5),
            "no gap",
        ),
        (
            lambda: cpt([0, 1], [0.5, 0.6], weak_accuracy=0.5, strong_accuracy=1, x=2),
            "`x`",
        ),
        (lambda: nondecreasing_convex_hull([1, 2, 3], [0.1, 0.2]), "`cost` has 3"),
        (lambda: nondecreasing_convex_hull([1], [0.1]), "single point"),
        (lambda: aiq([1, 2], [0.1, 0.2], max_cost=1.5), "`max_cost`"),
        (lambda: aiq([1, 2], [0.1, np.nan]), "`quality` contains"),
        (lambda: gain_over_mixing([1, 2], [0.5], [1, 2], [0.1, 0.2]), "`cost` has 2"),
        (lambda: mixing_quality([1.0], [0.5], [1.0]), "single point"),
        (
            lambda: cost_quality_points([0, 3], [[0, 1], [1, 1]], [[1, 2], [1, 2]]),
            "`choice`",
        ),
        (lambda: cost_quality_points([0, 1], [[0, 1], [1, 1]], [[1, 2]]), "`cost`"),
        (lambda: routellm_curve([0.1, 0.2], [0, 1, 1], [1, 1, 1]), "`quality_weak`"),
        (
            lambda: binary_field_metrics([0.1, 0.2], [0, 1], [1, 1], cost_weak=[1, 1]),
            "`cost_strong`",
        ),
    ],
)
def test_bad_input_names_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
