"""RACER: KL-robust, cost-constrained routing of an LLM judge's reasoning mode.

KL-ball worst-case reweighting in closed form, the entropy-regularised
primal-dual solver, its CVXPY reference on the same problem object, the
parametric ``RacerRouter`` and the uncertainty router of the "Ask a Strong LLM Judge" poster.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "kl_worst_case": "racer_dro.kl",
    "KLWorstCase": "racer_dro.kl",
    "RoutingProblem": "racer_dro.problem",
    "Solution": "racer_dro.problem",
    "solve_primal_dual": "racer_dro.primal_dual",
    "solve_cvxpy": "racer_dro.reference",
    "RacerRouter": "racer_dro.router",
    "RacerPolicy": "racer_dro.fictitious_play",
    "AllCheapRouter": "racer_dro.baselines",
    "AllExpensiveRouter": "racer_dro.baselines",
    "RandomJudgeRouter": "racer_dro.baselines",
    "KNNRouter": "racer_dro.baselines",
    "UncertaintyRouter": "racer_dro.uncertainty",
    "VarianceOnlyRouter": "racer_dro.uncertainty",
    "EscalationRouter": "racer_dro.escalation",
    "MarginRouter": "racer_dro.escalation",
    "RandomEscalationRouter": "racer_dro.escalation",
    "BudgetPacer": "racer_dro.pacing",
    "PacingDisplay": "racer_dro.display",
}

__all__ = [
    "AllCheapRouter",
    "AllExpensiveRouter",
    "BudgetPacer",
    "EscalationRouter",
    "KLWorstCase",
    "KNNRouter",
    "MarginRouter",
    "PacingDisplay",
    "RacerPolicy",
    "RacerRouter",
    "RandomEscalationRouter",
    "RandomJudgeRouter",
    "RoutingProblem",
    "Solution",
    "UncertaintyRouter",
    "VarianceOnlyRouter",
    "kl_worst_case",
    "solve_cvxpy",
    "solve_primal_dual",
]


def __getattr__(name):  # PEP 562: import submodules on first use
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'racer_dro' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
