"""The library's default boosters: histogram gradient boosting with fast bin edges.

Since scikit-learn 1.7, :class:`~sklearn.ensemble.HistGradientBoostingRegressor`
and its classifier compute the bin edges of a weighted fit as *weighted*
quantiles, one ``_weighted_percentile`` call per edge and feature: 254 calls per
feature, about 4 ms per feature on our machines, so a weighted fit on 50
features spent 0.2 s binning before its first tree. The R-learner's final stage
is weighted (``(t - p)^2``), and so are the meta-router's held-out selection
fits: binning took 60 of the 81 s of a profiled ``MetaRouter("auto")`` fit
(700 rows, d = 50). These subclasses take their bin edges from the unweighted
quantiles of the rows (scikit-learn's rule before 1.7, and LightGBM's); the
boosting itself, its losses, gradients, leaf values and early stopping, stays
weighted. Bin edges only decide which splits can be considered (255 bins), so
the fitted models differ only by where, between two neighbouring training
values, a split threshold falls.
"""

from __future__ import annotations

from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)

__all__ = ["BoostingClassifier", "BoostingRegressor"]


class _RowQuantileBins:
    """Bin edges from the rows' quantiles, whatever the weights (see the module)."""

    def _bin_data(self, X, sample_weight, is_training_data):
        try:
            return super()._bin_data(X, None, is_training_data)
        except TypeError:  # pragma: no cover - a scikit-learn with another signature
            return super()._bin_data(X, sample_weight, is_training_data)


class BoostingRegressor(_RowQuantileBins, HistGradientBoostingRegressor):
    """:class:`~sklearn.ensemble.HistGradientBoostingRegressor` with unweighted bin edges.

    The same parameters and behaviour, but for the bin edges of a weighted fit
    (the rows' quantiles; :mod:`metarouter._boosting`). Without weights it is
    the parent class exactly.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter._boosting import BoostingRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = X[:, 0] + rng.normal(size=200)
    >>> w = rng.uniform(size=200)
    >>> model = BoostingRegressor(max_iter=20).fit(X, y, sample_weight=w)
    >>> model.predict(X).shape
    (200,)
    """


class BoostingClassifier(_RowQuantileBins, HistGradientBoostingClassifier):
    """:class:`~sklearn.ensemble.HistGradientBoostingClassifier` with unweighted bin edges.

    See :class:`BoostingRegressor`.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter._boosting import BoostingClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> model = BoostingClassifier(max_iter=20).fit(X, y, sample_weight=np.ones(200))
    >>> model.classes_.tolist()
    [0, 1]
    """
