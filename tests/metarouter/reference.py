"""Hand-written references for the metarouter tests.

Written from the formulas of the Meta-Router paper (user guide, "The meta-router") with plain loops, independently
of the library code (no imports from ``metarouter``).
"""

import itertools

import numpy as np
from sklearn.base import clone


def _proba_of_one(model, X):
    classes = list(model.classes_)
    return model.predict_proba(X)[:, classes.index(1)]


def r_learner_reference(X, y, t, folds, outcome_model, propensity_model, clip):
    """Cross-fitted R-learner nuisances, pseudo-outcomes and weights (eq. 9)."""
    n = len(y)
    gamma = np.full(n, np.nan)
    p = np.full(n, np.nan)
    for train, test in folds:
        om = clone(outcome_model).fit(X[train], y[train])
        gamma[test] = om.predict(X[test])
        pm = clone(propensity_model).fit(X[train], t[train])
        p[test] = _proba_of_one(pm, X[test])
    p = np.minimum(np.maximum(p, clip), 1.0 - clip)
    y_res = y - gamma
    t_res = t - p
    return {
        "gamma": gamma,
        "p": p,
        "pseudo": y_res / t_res,
        "weights": t_res * t_res,
    }


def dr_learner_reference(X, y, t, folds, outcome_model, propensity_model, clip):
    """Cross-fitted DR-learner nuisances and pseudo-outcomes (eq. 10).

    The pseudo-outcome is written in the two-term inverse-probability form
    ``mu1 - mu0 + t (y - mu1) / p - (1 - t) (y - mu0) / (1 - p)``, which is
    algebraically the paper's ``(t - p) / (p (1 - p)) (y - mu_t) + mu1 - mu0``.
    """
    n = len(y)
    mu0 = np.full(n, np.nan)
    mu1 = np.full(n, np.nan)
    p = np.full(n, np.nan)
    for train, test in folds:
        tr0 = [i for i in train if t[i] == 0]
        tr1 = [i for i in train if t[i] == 1]
        mu0[test] = clone(outcome_model).fit(X[tr0], y[tr0]).predict(X[test])
        mu1[test] = clone(outcome_model).fit(X[tr1], y[tr1]).predict(X[test])
        pm = clone(propensity_model).fit(X[train], t[train])
        p[test] = _proba_of_one(pm, X[test])
    p = np.minimum(np.maximum(p, clip), 1.0 - clip)
    phi = mu1 - mu0 + t * (y - mu1) / p - (1 - t) * (y - mu0) / (1 - p)
    return {"mu0": mu0, "mu1": mu1, "p": p, "pseudo": phi}


def wasserstein_scale_reference(r, y):
    """argmin_c W2(c r, y) by replicating both samples to a common size.

    Replicating each of the n values of r m times and each of the m values of y
    n times leaves both empirical distributions unchanged and gives equal-size
    samples, for which W2^2 = mean((c sort(r) - sort(y))^2): a 1-D least squares.
    """
    r = np.asarray(r, float)
    y = np.asarray(y, float)
    rr = np.sort(np.repeat(r, y.size))
    yy = np.sort(np.repeat(y, r.size))
    return float(np.sum(rr * yy) / np.sum(rr * rr))


def te_brute_force(scores, r, k):
    """Mean TE of the top-k routing over every tie-breaking order (small n only)."""
    scores = np.asarray(scores, float)
    r = np.asarray(r, float)
    values = []
    for perm in itertools.permutations(range(scores.size)):
        s = scores[list(perm)]
        if np.all(np.diff(s) <= 0):
            values.append(r[list(perm[:k])].sum())
    return float(np.mean(values))


def offset_learner_reference(X, y, t, folds, outcome_model, cate_model):
    """Offset learner: eta out of fold on PB rows, shift fitted on GS residuals."""
    n = len(y)
    eta = np.full(n, np.nan)
    for train, test in folds:
        pb_train = [i for i in train if t[i] == 0]
        eta[test] = clone(outcome_model).fit(X[pb_train], y[pb_train]).predict(X[test])
    gs = [i for i in range(n) if t[i] == 1]
    residual = np.array([y[i] - eta[i] for i in gs])
    shift_model = clone(cate_model).fit(X[gs], residual)
    return {"eta": eta, "residual": residual, "shift_model": shift_model}
