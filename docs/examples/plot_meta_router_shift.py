"""
The GS-PB bias is a treatment effect
====================================

On simulated data the bias of the preference labels, :math:`\\Delta(q) = m(q) -
\\eta(q)`, is known. An R-learner (Meta-Router, eq. (9)) with the label source as the
treatment estimates it from the GS and PB rows alone; the left panel sets its
estimates against the truth on the test queries. The right panel shows what routing
on a score is worth: total efficiency against the premium model usage ratio
(:func:`metarouter.efficiency_curve`) for routing on the true gain :math:`m(q)`, on a
GS-only fit and at random.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from metarouter import GSOnlyRouter, RLearner, efficiency_curve
from metarouter.datasets import make_routing_data

data = make_routing_data(n_gs=400, n_pb=2000, d=5, random_state=0)


def small_booster():
    return HistGradientBoostingRegressor(max_iter=60, max_leaf_nodes=8, random_state=0)


learner = RLearner(
    outcome_model=small_booster(),
    propensity_model=LogisticRegression(),
    cate_model=small_booster(),
    n_folds=3,
    random_state=0,
)
learner.fit(data.X, data.y, data.source)  # y: GS outcome or PB verdict
delta_hat = learner.predict(data.X_test)

gs_only = GSOnlyRouter(outcome_model=small_booster(), random_state=0)
gs_only.fit(data.X, data.y, data.source)

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
left.scatter(data.delta_test, delta_hat, s=6, alpha=0.5)
lims = [
    min(data.delta_test.min(), delta_hat.min()),
    max(data.delta_test.max(), delta_hat.max()),
]
left.plot(lims, lims, color="black", linewidth=1, label="estimate = truth")
left.set_xlabel(r"true shift $\Delta(q)$")
left.set_ylabel(r"R-learner estimate $\hat\Delta(q)$")
left.legend(frameon=False)

levels = np.linspace(0, 1, 21)
for name, scores, color in [
    ("true gain m(q)", data.m_test, "#e6b800"),
    ("GS-only fit", gs_only.predict(data.X_test), "#9467bd"),
    ("random", np.zeros_like(data.r_test), "#7f7f7f"),
]:
    curve = efficiency_curve(scores, data.r_test, pmur=levels)
    right.plot(curve["pmur"], curve["te"], label=name, color=color)
right.set_xlabel("premium model usage ratio (PMUR)")
right.set_ylabel("total efficiency TE")
right.set_xlim(0, 1)
right.legend(frameon=False)
fig.tight_layout()

corr = np.corrcoef(data.delta_test, delta_hat)[0, 1]
print(f"correlation of the estimated and the true shift: {corr:.2f}")
