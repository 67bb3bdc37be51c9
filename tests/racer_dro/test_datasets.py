"""The simulators' documented truths, checked by Monte Carlo against hand-computed values."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from racer_dro.datasets import (
    DOMAIN_SHIFTS,
    DOMAINS,
    JudgeData,
    PreferencePairs,
    domain_mix,
    make_judge_data,
    make_preference_pairs,
    strong_judge_labels,
)

# Hand-copied from make_judge_data's docstring (the reference, not the code):
BASE = np.array([1.2, 1.3, 0.7, 0.8])  # mean instruct cost per domain
RATIO = np.array([8.0, 6.0, 3.0, 3.0])  # reasoning / instruct tokens
ACC0 = np.array([0.50, 0.55, 0.90, 0.80])
ACC1 = np.array([0.85, 0.82, 0.86, 0.78])


def _within(estimate, truth, se, k=4.0):
    """|estimate - truth| <= k standard errors (k = 4: a false alarm ~ 6e-5)."""
    assert abs(estimate - truth) <= k * se, (estimate, truth, se)


@pytest.fixture(scope="module")
def big():
    return make_judge_data(40_000, random_state=0)


def test_judge_data_fields_and_shapes(big):
    assert isinstance(big, JudgeData)
    n = 40_000
    assert big.X.shape == (n, 16)
    for name in ("rewards", "costs", "expected_rewards", "expected_costs"):
        assert getattr(big, name).shape == (n, 2)
    assert set(np.unique(big.rewards)) == {0.0, 1.0}
    assert np.all(big.costs > 0)
    assert big.domain_names[0] == DOMAINS[big.domain[0]]
    with pytest.raises(AttributeError):  # frozen
        big.X = None


def test_cost_unit_is_the_uniform_all_instruct_mean(big):
    # Population values by hand: E[c0] = mean(BASE) = 1, E[c1] = mean(BASE * RATIO) = 5.475.
    assert BASE.mean() == pytest.approx(1.0)
    for col, truth in ((0, 1.0), (1, float(np.mean(BASE * RATIO)))):
        c = big.costs[:, col]
        _within(c.mean(), truth, c.std() / math.sqrt(c.size))
    assert float(np.mean(BASE * RATIO)) == pytest.approx(5.475)


def test_realised_values_are_unbiased_for_the_expected_ones(big):
    for field, expected in (
        ("rewards", "expected_rewards"),
        ("costs", "expected_costs"),
    ):
        diff = getattr(big, field) - getattr(big, expected)
        for col in (0, 1):
            d = diff[:, col]
            _within(d.mean(), 0.0, d.std() / math.sqrt(d.size))


def test_reasoning_gain_and_cost_by_domain(big):
    gain = big.expected_rewards[:, 1] - big.expected_rewards[:, 0]
    ratio = big.expected_costs[:, 1] / big.expected_costs[:, 0]
    for k, name in enumerate(DOMAINS):
        m = big.domain == k
        # At average difficulty the gain is ACC1 - ACC0; averaging over the
        # difficulty (reasoning less sensitive to it) can only raise it a little.
        assert ACC1[k] - ACC0[k] - 0.01 <= gain[m].mean() <= ACC1[k] - ACC0[k] + 0.06, (
            name
        )
        # E[exp(0.2 h - 0.02)] = 1: the mean token ratio is RATIO[k].
        _within(ratio[m].mean(), RATIO[k], ratio[m].std() / math.sqrt(m.sum()))
    math_, code, safety, knowledge = (gain[big.domain == k].mean() for k in range(4))
    assert min(math_, code) > 0.2 and safety < 0 and abs(knowledge) < 0.02
    # Harder queries gain more from reasoning, in every domain.
    hard = big.difficulty > 1
    for k in range(4):
        m = big.domain == k
        assert gain[m & hard].mean() > gain[m & ~hard].mean() + 0.03


def test_domain_frequencies_follow_the_mix():
    for shift, weights in DOMAIN_SHIFTS.items():
        data = make_judge_data(20_000, shift=shift, random_state=1)
        freq = np.bincount(data.domain, minlength=4) / 20_000
        se = np.sqrt(np.asarray(weights) * (1 - np.asarray(weights)) / 20_000)
        assert np.all(np.abs(freq - weights) <= 4 * se), (shift, freq)
        np.testing.assert_allclose(data.domain_weights, weights)
    custom = make_judge_data(10_000, domain_weights=[1, 0, 0, 3], random_state=2)
    assert set(np.unique(custom.domain)) == {0, 3}


def test_documented_kl_of_the_shifts():
    base = np.asarray(DOMAIN_SHIFTS[None])
    for shift in ("costlier", "cheaper"):
        q = np.asarray(DOMAIN_SHIFTS[shift])
        kl = float(np.sum(q * np.log(q / base)))
        assert kl == pytest.approx(0.8 * math.log(1.6) + 0.2 * math.log(0.4))
        assert kl == pytest.approx(0.193, abs=5e-4)


def test_costlier_shift_is_costlier():
    uniform = make_judge_data(20_000, random_state=3)
    costlier = make_judge_data(20_000, shift="costlier", random_state=4)
    cheaper = make_judge_data(20_000, shift="cheaper", random_state=5)
    for col in (0, 1):
        # Population: all-reasoning 5.475 (uniform), 0.4 (9.6 + 7.8) + 0.1 (2.1 + 2.4)
        # = 7.41 (costlier), 0.1 (17.4) + 0.4 (4.5) = 3.54 (cheaper); gaps >> 4 SE.
        assert (
            costlier.costs[:, col].mean()
            > uniform.costs[:, col].mean()
            > cheaper.costs[:, col].mean()
        )
    _within(
        costlier.expected_costs[:, 1].mean(),
        7.41,
        costlier.expected_costs[:, 1].std() / math.sqrt(20_000),
    )


def test_same_world_for_every_seed():
    a = make_judge_data(20_000, random_state=10)
    b = make_judge_data(20_000, random_state=11)
    for k in range(4):
        ma, mb = a.X[a.domain == k].mean(axis=0), b.X[b.domain == k].mean(axis=0)
        # Per-coordinate sd <= sqrt(1 + 1.5^2) = 1.8 over ~5000 rows: se <= 0.026 each.
        assert np.max(np.abs(ma - mb)) < 0.2
    # And the centres are 2.5 apart along orthonormal directions: sqrt(2) * 2.5.
    centres = np.array([a.X[a.domain == k].mean(axis=0) for k in range(4)])
    d01 = np.linalg.norm(centres[0] - centres[1])
    assert d01 == pytest.approx(2.5 * math.sqrt(2), abs=0.15)
    again = make_judge_data(100, random_state=10)
    np.testing.assert_array_equal(again.X, make_judge_data(100, random_state=10).X)


def test_domain_recognisable_only_approximately():
    data = make_judge_data(4000, random_state=6)
    acc = cross_val_score(
        LogisticRegression(max_iter=2000), data.X, data.domain, cv=3
    ).mean()
    # Bayes accuracy for four unit-variance clusters 2.5 sqrt(2) apart is about 0.9.
    assert 0.82 < acc < 0.96


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n": 0}, ValueError, "`n`"),
        ({"n": 2.5}, TypeError, "`n`"),
        ({"d": 4}, ValueError, "`d`"),
        ({"shift": "pricier"}, ValueError, "`shift`"),
        ({"shift": "costlier", "domain_weights": [1, 1, 1, 1]}, ValueError, "not both"),
        ({"domain_weights": [1, 1, 1]}, ValueError, "`domain_weights`"),
        ({"domain_weights": [1, -1, 1, 1]}, ValueError, "`domain_weights`"),
        ({"domain_weights": [0, 0, 0, 0]}, ValueError, "`domain_weights`"),
        ({"domain_weights": [np.nan, 1, 1, 1]}, ValueError, "`domain_weights`"),
    ],
)
def test_judge_data_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_judge_data(**kwargs)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0, 10), min_size=4, max_size=4).filter(lambda w: sum(w) > 1e-6)
)
def test_domain_mix_normalises(weights):
    mix = domain_mix(domain_weights=weights)
    assert mix.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(mix * sum(weights), weights, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------- preference pairs
def test_preference_pairs_truth():
    pairs = make_preference_pairs(40_000, ood_fraction=0.3, random_state=0)
    assert isinstance(pairs, PreferencePairs)
    ood = ~pairs.in_distribution
    _within(ood.mean(), 0.3, math.sqrt(0.3 * 0.7 / 40_000))
    assert pairs.latent.shape == (40_000, 5)
    assert np.all(pairs.latent[pairs.in_distribution, 2:] == 0)
    radius = np.linalg.norm(pairs.latent[ood, 2:], axis=1)
    assert np.all((radius >= 2.5) & (radius <= 3.5))
    # Uniform directions: o1 / r is uniform on [-1, 1] (Archimedes), mean 0, var 1/3.
    u1 = pairs.latent[ood, 2] / radius
    _within(u1.mean(), 0.0, math.sqrt(1 / 3 / u1.size))
    _within((u1**2).mean(), 1 / 3, math.sqrt(4 / 45 / u1.size))
    # The documented logit, recomputed by hand from the latent coordinates.
    z1, z2, o1 = pairs.latent[:, 0], pairs.latent[:, 1], pairs.latent[:, 2]
    np.testing.assert_allclose(
        pairs.preference_probability,
        1 / (1 + np.exp(-(3 * np.sin(z1) + 1.5 * z2 + 3 * o1))),
    )
    # y is Bernoulli(preference_probability): calibration in deciles.
    p = pairs.preference_probability
    bins = np.quantile(p, np.linspace(0, 1, 11))
    idx = np.clip(np.searchsorted(bins, p, side="right") - 1, 0, 9)
    for b in range(10):
        m = idx == b
        se = math.sqrt(p[m].mean() * (1 - p[m].mean()) / m.sum()) + 1e-3
        _within(pairs.y[m].mean(), p[m].mean(), se)
    # Documented Bayes accuracies: about 0.82 in distribution, 0.92 out of it.
    bayes = np.maximum(p, 1 - p)
    assert bayes[pairs.in_distribution].mean() == pytest.approx(0.82, abs=0.015)
    assert bayes[ood].mean() == pytest.approx(0.92, abs=0.015)


def test_ood_pairs_lie_off_the_training_plane():
    pairs = make_preference_pairs(5000, ood_fraction=0.5, random_state=1)
    # Residual from the best-fitting plane of in-distribution pairs.
    ind = pairs.X[pairs.in_distribution]
    _, _, vt = np.linalg.svd(ind - ind.mean(axis=0), full_matrices=False)
    plane = vt[:2]
    resid = pairs.X - pairs.X @ plane.T @ plane
    dist = np.linalg.norm(resid, axis=1)
    # In distribution: 0.15 noise in 14 dims, about 0.15 sqrt(14) = 0.56; OOD 2.5 to 3.5.
    assert np.median(dist[pairs.in_distribution]) < 0.8
    assert np.min(dist[~pairs.in_distribution]) > 2.0


def test_strong_judge_accuracy():
    pairs = make_preference_pairs(20_000, random_state=2)
    labels = strong_judge_labels(pairs, accuracy=0.9, random_state=0)
    _within((labels == pairs.y).mean(), 0.9, math.sqrt(0.09 / 20_000))
    assert set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(strong_judge_labels(pairs, accuracy=1.0), pairs.y)
    np.testing.assert_array_equal(strong_judge_labels(pairs, accuracy=0.0), 1 - pairs.y)
    with pytest.raises(ValueError, match="`accuracy`"):
        strong_judge_labels(pairs, accuracy=1.5)
    with pytest.raises(TypeError, match="`data`"):
        strong_judge_labels(pairs.X)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n": 0}, ValueError, "`n`"),
        ({"d": 4}, ValueError, "`d`"),
        ({"ood_fraction": -0.1}, ValueError, "`ood_fraction`"),
        ({"ood_fraction": 1.2}, ValueError, "`ood_fraction`"),
        ({"ood_fraction": "a"}, TypeError, "`ood_fraction`"),
    ],
)
def test_preference_pairs_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_preference_pairs(**kwargs)


def test_domain_weights_whose_sum_overflows_are_normalised():
    # [1e308] * 4 sums to inf: the mix was all zeros and the sampler failed with
    # numpy's "probabilities do not sum to 1"; exact ratios (powers of ten apart)
    np.testing.assert_array_equal(domain_mix(domain_weights=[1e308] * 4), [0.25] * 4)
    mix = domain_mix(domain_weights=[1e308, 1e308, 0.0, 0.0])
    np.testing.assert_array_equal(mix, [0.5, 0.5, 0.0, 0.0])
    data = make_judge_data(50, domain_weights=[1e308, 1e308, 0, 0], random_state=0)
    assert set(data.domain.tolist()) <= {0, 1}
