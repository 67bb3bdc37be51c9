"""Meta-router: LLM routing from gold-standard and preference-based labels.

The GS-PB bias ``Delta(q)`` is a conditional average treatment effect with the
label source as treatment; it is estimated with cross-fitted R-, DR- or offset
learners (or chosen among them on held-out GS rows: ``cate_learner="auto"``;
or combined, :class:`~metarouter.stacking.StackedMetaRouter`),
the preference-based labels are corrected, and the quality-gain model ``m(q)``
is fitted on the enriched data (Meta-Router paper, sections 2-3).
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "RLearner": "metarouter.cate",
    "DRLearner": "metarouter.cate",
    "EconMLAdapter": "metarouter.cate",
    "OffsetLearner": "metarouter.offset",
    "MetaRouter": "metarouter.routers",
    "PooledRouter": "metarouter.routers",
    "GSOnlyRouter": "metarouter.routers",
    "RandomRouter": "metarouter.routers",
    "UnitCost": "metarouter.costs",
    "TokenCost": "metarouter.costs",
    "efficiency_curve": "metarouter.evaluation",
    "efficiency_gain": "metarouter.evaluation",
    "aiq": "metarouter.metrics",
    "apgr": "metarouter.metrics",
    "cpt": "metarouter.metrics",
    "routellm_auc": "metarouter.metrics",
    "MultiModelRouter": "metarouter.multimodel",
    "SelectedRegressor": "metarouter.regressors",
    "StackedMetaRouter": "metarouter.stacking",
    "CostQualityDisplay": "metarouter.display",
    "EfficiencyGainDisplay": "metarouter.display",
}

__all__ = [
    "CostQualityDisplay",
    "DRLearner",
    "EconMLAdapter",
    "EfficiencyGainDisplay",
    "GSOnlyRouter",
    "MetaRouter",
    "MultiModelRouter",
    "OffsetLearner",
    "PooledRouter",
    "RLearner",
    "RandomRouter",
    "SelectedRegressor",
    "StackedMetaRouter",
    "TokenCost",
    "UnitCost",
    "aiq",
    "apgr",
    "cpt",
    "efficiency_curve",
    "efficiency_gain",
    "routellm_auc",
]


def __getattr__(name):  # PEP 562: import submodules on first use
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'metarouter' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
