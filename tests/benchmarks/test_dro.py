"""The dro benchmark: its CVXPY worst case is right, and its quick run holds the accuracy columns."""

import numpy as np
import pytest

from benchmarks import dro
from benchmarks.__main__ import main
from racer_dro import kl_worst_case, solve_primal_dual


def test_cvxpy_worst_case_matches_the_exact_one_and_the_gaussian_closed_form():
    f = np.random.default_rng(3).normal(size=4000)
    ours = kl_worst_case(f, radius=0.02).value
    theirs = dro.cvxpy_kl_worst_case(f, 0.02)
    # CLARABEL's accuracy on exponential cones is ~1e-6 at this size
    assert theirs == pytest.approx(ours, abs=1e-5)
    # Gaussian closed form mu - sigma sqrt(2 delta) holds for the population; the
    # sample's mean and sd replace mu and sigma, and the tilt's skew correction is
    # O(delta) = 0.02 * sigma * (small): 5e-3
    assert ours == pytest.approx(f.mean() - f.std() * np.sqrt(0.04), abs=5e-3)


def test_problem_family_has_an_active_budget():
    problem = dro.make_problem(300)
    sol = solve_primal_dual(problem)
    assert sol.converged and sol.multiplier > 0
    assert sol.worst_case_cost > problem.budget  # the penalised budget binds


def test_quick_run_writes_the_section_and_its_checks_hold(tmp_path):
    out = tmp_path / "RESULTS.md"
    code = main(
        [
            "dro",
            "--quick",
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "c"),
            "--no-progress",
        ]
    )
    assert code == 0  # 1 would mean an accuracy check failed
    text = out.read_text()
    assert "<!-- dro:begin -->" in text and "CVXPY / primal-dual" in text
    assert "**fails**" not in text
    # the cache makes a second run a pure replay: same tables
    again = tmp_path / "again.md"
    assert (
        main(
            [
                "dro",
                "--quick",
                "--out",
                str(again),
                "--cache",
                str(tmp_path / "c"),
                "--no-progress",
            ]
        )
        == 0
    )
    table = lambda t: t.split("Targets:")[1].split("Accuracy checks")[0]
    assert table(again.read_text()) == table(text)


def test_cvxpy_failures_are_reported_not_fatal(tmp_path, monkeypatch):
    # "CVXPY as far as it solves": a solver failure at one size is recorded in the
    # table, larger sizes are not attempted, and our side is still timed and checked.
    import cvxpy as cp

    from benchmarks._core import Cache
    from racer_dro.reference import SolverError

    real_kl, real_solve = dro.cvxpy_kl_worst_case, dro.solve_cvxpy

    def kl_fails_large(f, radius):
        if len(f) > 500:
            raise cp.error.SolverError("Solver 'CLARABEL' failed. Try another solver")
        return real_kl(f, radius)

    def solve_fails_large(problem):
        if problem.n_samples > 200:
            raise SolverError("no attempt succeeded. details")
        return real_solve(problem)

    monkeypatch.setattr(dro, "cvxpy_kl_worst_case", kl_fails_large)
    monkeypatch.setattr(dro, "solve_cvxpy", solve_fails_large)
    section = dro.run(quick=True, repeats=1, cache=Cache(None), progress=False)
    kl_table = section.tables[0][1]
    status = kl_table["CVXPY status"].tolist()
    assert status[0] == "optimal"
    assert status[1].startswith("CVXPY failed at n = 2000")
    solver_table = section.tables[1][1]
    assert np.isnan(solver_table["objective gap"].iloc[-1])  # n = 300: CVXPY failed
    assert solver_table["objective gap"].iloc[0] <= 1e-6  # n = 100: both solved
    assert solver_table["CVXPY status"].tolist()[0] == "optimal"
    assert solver_table["CVXPY status"].tolist()[1].startswith("no attempt succeeded")
    assert section.checks["every primal-dual solve converged"]
    assert all(section.checks[k] for k in section.checks if "kl_worst_case" in k)


def test_k_arm_targets_read_the_medians_and_name_the_size():
    import pandas as pd

    from benchmarks import dro_arms

    cvx = pd.DataFrame(
        [
            {
                "K": 11,
                "n": 2000,
                "ours_wall": [0.02, 0.03, 0.5],  # median 0.03 s
                "cvxpy_wall": [1.0, 2.0, 3.0],  # median 2 s: 67x
                "objective_gap": 2e-9,
            }
        ]
    )
    threads = pd.DataFrame(
        [
            {
                "K": 11,
                "n": 100_000,
                "one_wall": [0.9, 1.2, 1.3],
                "two_wall": [0.6, 0.7, 5.0],
            },
            {"K": 2, "n": 1_000_000, "one_wall": [2.0], "two_wall": [0.4]},
        ]
    )
    got = {
        label: (measured, ok) for label, measured, ok in dro_arms.targets(cvx, threads)
    }
    assert got["K = 11, n = 2,000: at least 50x faster than CVXPY, gap below 1e-6"] == (
        "67x, gap 2.0e-09",
        True,
    )
    # medians, not means or minima: one slow run does not decide, nor one fast one
    assert got["K = 11, n = 1e5 in at most 1 s, one thread"] == (
        "1.20 s (median)",
        False,
    )
    assert got["K = 11, n = 1e5 in at most 1 s, two threads"] == (
        "0.70 s (median)",
        True,
    )
    assert got["K = 2, n = 1e6 in at most 0.5 s, two threads"][1] is True
    assert got["K = 2, n = 1e6 in at most 0.5 s, one thread"][1] is False
