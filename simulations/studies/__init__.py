"""The studies of ``python -m simulations``: the registry ``STUDIES`` maps a name to its Study.

* ``metarouter``: efficiency gain of meta-routers over random routing (seed 003, section 4);
* ``racer``: budget-constrained judge routing under distribution shift (seed 000);
* ``racer-models``: K-arm RACER among RouterBench's 11 models (issue 11);
* ``uncertainty``: routing uncertain pairs to a strong judge vs random routing (seed 002).
"""

from simulations.engine import Study
from simulations.studies import (
    metarouter_study,
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
}

__all__ = ["STUDIES"]
