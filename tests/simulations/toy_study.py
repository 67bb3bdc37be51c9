"""A tiny, fast Monte Carlo study for the harness's tests (importable by worker processes).

Each round draws a small regression problem from the round's seed and scores
three "routers" (random, ols, shrunk); the numbers go through BLAS (``lstsq``)
so thread caps and seeding matter. The ``threads`` column reports the largest
BLAS/OpenMP thread count seen inside the round (the harness caps it at 1). Options in the configuration:

- ``sleep``: seconds to sleep in each round (resume tests);
- ``fail_round``: the round index that raises (error propagation tests).

If the environment variable ``TOY_MARKER_DIR`` is set, each round writes an
empty marker file ``<config_hash>-<round>-<uuid>`` there when it finishes, so a
test can count which rounds a process really computed.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_info

from simulations.engine import Study, config_hash

ROUTERS = ("random", "ols", "shrunk")


def make_configs(quick: bool, data_dir: str | None) -> list[dict]:
    sizes = (20,) if quick else (20, 40)
    configs = [{"n": n, "effect": e, "sleep": 0.0} for n in sizes for e in (0.0, 0.5)]
    if data_dir is not None:
        configs = [{**c, "data": str(data_dir)} for c in configs]
    return configs


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    if config.get("fail_round") == seed.spawn_key[-1]:
        raise RuntimeError(f"toy failure in round {seed.spawn_key[-1]}")
    rng = np.random.default_rng(seed)
    n = int(config["n"])
    x = rng.normal(size=(n, 5))
    beta = rng.normal(size=5)
    y = x @ beta + rng.normal(size=n)
    x_test = rng.normal(size=(200, 5))
    truth = x_test @ beta
    ols = np.linalg.lstsq(x, y, rcond=None)[0]
    scores = {
        "random": -np.mean((truth - rng.permutation(truth)) ** 2),
        "ols": -np.mean((truth - x_test @ ols) ** 2) + config["effect"],
        "shrunk": -np.mean((truth - x_test @ (0.8 * ols)) ** 2),
    }
    if config.get("sleep"):
        time.sleep(float(config["sleep"]))
    # The largest thread count of any BLAS/OpenMP pool in this process: the harness
    # caps them at 1 wherever rounds run.
    threads = max((pool["num_threads"] for pool in threadpool_info()), default=1)
    marker_dir = os.environ.get("TOY_MARKER_DIR")
    if marker_dir:
        name = f"{config_hash(config)}-{seed.spawn_key[-1]}-{uuid.uuid4().hex}"
        (Path(marker_dir) / name).touch()
    return pd.DataFrame(
        {
            "router": list(ROUTERS),
            "level": [1, 1, 1],
            "score": [float(scores[r]) for r in ROUTERS],
            "won": [bool(scores[r] == max(scores.values())) for r in ROUTERS],
            "threads": [int(threads)] * len(ROUTERS),
        }
    )


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    # imported here: worker processes only need run_round
    from simulations.stats import paired_comparison, summary_table

    by = ["n", "effect"]
    return {
        "headline": summary_table(rows, metric="score", by=by),
        "comparisons": paired_comparison(rows, metric="score", by=by),
    }


def plot(rows: pd.DataFrame, directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    for router, group in rows.groupby("router"):
        ax.plot(group["round"], group["score"], ".", label=router)
    ax.set_xlabel("round")
    ax.set_ylabel("score (negative MSE)")
    ax.legend()
    path = Path(directory) / "toy_scores.png"
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return [path]


TOY = Study(
    name="toy",
    description="a tiny regression study for the harness tests",
    make_configs=make_configs,
    run_round=run_round,
    summarise=summarise,
    plot=plot,
    rounds=(3, 6),
)


def slow_configs(quick: bool, data_dir: str | None) -> list[dict]:
    return [{"n": 20, "effect": e, "sleep": 0.2} for e in (0.0, 0.5)]


SLOW_TOY = Study(
    name="slowtoy",
    description="the toy study with rounds that sleep (resume tests)",
    make_configs=slow_configs,
    run_round=run_round,
    summarise=summarise,
    plot=plot,
    rounds=(15, 15),
)

STUDIES = {"toy": TOY, "slowtoy": SLOW_TOY}


if __name__ == "__main__":
    # `python -m tests.simulations.toy_study <study> [options]`: the command with the toy
    # registry (resume tests). Import by name so workers unpickle the functions by reference.
    import sys

    from simulations.cli import main
    from tests.simulations.toy_study import STUDIES as _STUDIES

    sys.exit(main(sys.argv[1:], studies=_STUDIES))
