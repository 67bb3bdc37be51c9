"""Stand-in models that record how they were fitted (shared by the metarouter tests)."""

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class JobsRecorder(RegressorMixin, BaseEstimator):
    """Records its ``n_jobs`` at fit time (as XGBoost reads it), predicts the mean."""

    def __init__(self, n_jobs=1):
        self.n_jobs = n_jobs

    def fit(self, X, y, sample_weight=None):
        self.fit_jobs_ = self.n_jobs
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)
