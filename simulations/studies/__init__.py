"""The studies of ``python -m simulations``: the registry ``STUDIES`` maps a name to its Study.

* ``metarouter``: efficiency gain of meta-routers over random routing (seed 003, section 4);
* ``metarouter-shift``: which step-1 learner wins under covariate shift and scarce GS rows;
* ``racer``: budget-constrained judge routing under distribution shift (seed 000);
* ``uncertainty``: routing uncertain pairs to a strong judge vs random routing (seed 002).
"""

from simulations.engine import Study
from simulations.studies import (
    metarouter_shift_study,
    metarouter_study,
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
    "racer": Study(
        name="racer",
        description="RACER and its ablations under OOD-costlier and OOD-cheaper shifts",
        make_configs=racer_study.make_configs,
        run_round=racer_study.run_round,
        summarise=racer_study.summarise,
        plot=racer_study.plot,
        rounds=(5, 100),
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
