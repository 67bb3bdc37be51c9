"""The studies of ``python -m simulations``: the registry ``STUDIES`` maps a name to its Study.

* ``metarouter``: efficiency gain of meta-routers over random routing (Meta-Router, section 4);
* ``metarouter-shift``: which step-1 learner wins under covariate shift and scarce GS rows;
* ``metarouter-processes``: the same learners on GS/PB processes of other shapes;
* ``racer``: budget-constrained judge routing under distribution shift (RACER);
* ``racer-models``: K-arm RACER among RouterBench's 11 models against the single models' hull;
* ``uncertainty``: routing uncertain pairs to a strong judge vs random routing (Xu et al.);
* ``pacing``: static RACER policies vs the same routers paced online (Balseiro, Lu and Mirrokni);
* ``multimodel``: the K-model meta-router on the cost-quality plane (AIQ, APGR).

References
----------
Meta-Router: "Meta-Router: Bridging Gold-standard and Preference-based Evaluations in
LLM Routing", 2025. RACER: "Reasoning Is Not Free: Robust Adaptive Cost-Efficient
Routing for LLM-as-a-Judge", ICML 2026. Xu et al.: Z. Xu et al., "Ask a Strong LLM
Judge when Your Reward Model is Uncertain", 2025.
"""

from simulations.engine import Study
from simulations.studies import (
    metarouter_processes_study,
    metarouter_shift_study,
    metarouter_study,
    multimodel_study,
    pacing_study,
    racer_models_study,
    racer_study,
    uncertainty_study,
)

STUDIES: dict[str, Study] = {
    "metarouter": Study(
        name="metarouter",
        description="efficiency gain of meta-routers (R, DR) over random routing vs PMUR",
        make_configs=metarouter_study.make_configs,
        run_round=metarouter_study.run_round,
        summarise=metarouter_study.summarise,
        plot=metarouter_study.plot,
        rounds=(8, 100),
    ),
    "metarouter-shift": Study(
        name="metarouter-shift",
        description="step-1 learners (R, DR, offset, auto) under scarce, shifted GS rows",
        make_configs=metarouter_shift_study.make_configs,
        run_round=metarouter_shift_study.run_round,
        summarise=metarouter_shift_study.summarise,
        plot=metarouter_shift_study.plot,
        rounds=(3, 20),
    ),
    "metarouter-processes": Study(
        name="metarouter-processes",
        description="step-1 learners, auto and stacked on GS/PB processes of other shapes",
        make_configs=metarouter_processes_study.make_configs,
        run_round=metarouter_processes_study.run_round,
        summarise=metarouter_processes_study.summarise,
        plot=metarouter_processes_study.plot,
        rounds=(3, 10),
    ),
    "racer": Study(
        name="racer",
        description="RACER and its ablations under OOD-costlier and OOD-cheaper shifts",
        make_configs=racer_study.make_configs,
        run_round=racer_study.run_round,
        summarise=racer_study.summarise,
        plot=racer_study.plot,
        rounds=(5, 100),
    ),
    "racer-models": Study(
        name="racer-models",
        description="K-arm RACER among RouterBench's 11 models vs the single models' hull",
        make_configs=racer_models_study.make_configs,
        run_round=racer_models_study.run_round,
        summarise=racer_models_study.summarise,
        plot=racer_models_study.plot,
        rounds=(5, 30),
    ),
    "uncertainty": Study(
        name="uncertainty",
        description="uncertainty routing to a strong judge vs random routing at equal calls",
        make_configs=uncertainty_study.make_configs,
        run_round=uncertainty_study.run_round,
        summarise=uncertainty_study.summarise,
        plot=uncertainty_study.plot,
        rounds=(5, 100),
    ),
    "pacing": Study(
        name="pacing",
        description="static ACER / RACER-C / RACER vs the same routers paced online",
        make_configs=pacing_study.make_configs,
        run_round=pacing_study.run_round,
        summarise=pacing_study.summarise,
        plot=pacing_study.plot,
        rounds=(3, 10),
    ),
    "multimodel": Study(
        name="multimodel",
        description="K-model meta-router on the cost-quality plane: AIQ, APGR, accuracy at a budget",
        make_configs=multimodel_study.make_configs,
        run_round=multimodel_study.run_round,
        summarise=multimodel_study.summarise,
        plot=multimodel_study.plot,
        rounds=(3, 20),
    ),
}

__all__ = ["STUDIES"]
