"""Speed table for issue 11 (one run; shared 2-core machine, ``OMP_NUM_THREADS=1``).

``python -m benchmarks.k_arm_speed`` times ``solve_primal_dual`` against the frozen
pre-K-arm binary solver (``benchmarks/_frozen_binary``, a copy of commit a87663d)
and ``solve_cvxpy`` at n = 2,000 (K = 2 and 11; medians of 3; ours also in
CPU time, ``time.process_time``, less sensitive to a shared machine's load), and
``python -m benchmarks.k_arm_speed K n [n_jobs]`` times one large instance once
(CVXPY is not attempted there) with ``n_jobs`` threads for the compiled passes
(default 1; the result is the same bit for bit, see ``solve_primal_dual``).
"""

import statistics
import sys
import time

import numpy as np

from benchmarks._frozen_binary import solve_primal_dual as frozen_solve
from benchmarks.dro import frozen_binary_problem, make_problem
from racer_dro import solve_cvxpy, solve_primal_dual


def _median_time(fn, repeats):
    """Median wall time, median CPU time (``time.process_time``) and the last result."""
    times, cpu, out = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu), out


def row(
    K: int, n: int, repeats: int = 3, with_cvxpy: bool = True, n_jobs: int = 1
) -> str:
    """One line of the table: ours, the frozen binary solver (K = 2), CVXPY (small n)."""
    p = make_problem(n, n_arms=K)
    # warm-up on a small instance (above one chunk of rows for a large one: up to
    # one chunk the Newton loop runs compiled in one call, above it the passes are
    # called one by one): loads the compiled kernels (numba's cache), a one-off
    # cost of the first call in a process (~50 ms) that is not the solver's speed
    warm = 10_000 if n > 4_096 else 2_000
    solve_primal_dual(make_problem(warm, seed=1, n_arms=K), n_jobs=n_jobs)
    t_new, c_new, s_new = _median_time(
        lambda: solve_primal_dual(p, n_jobs=n_jobs), repeats
    )
    line = (
        f"K={K:2d} n={n:>8d} threads={n_jobs}  ours {t_new:8.3f}s (cpu {c_new:7.3f}s)"
        f" conv={s_new.converged} iters={s_new.n_iter}"
    )
    if K == 2:
        fp = frozen_binary_problem(n)
        frozen_solve(frozen_binary_problem(2_000, seed=1))  # the same warm-up
        t_old, _, s_old = _median_time(lambda: frozen_solve(fp), repeats)
        line += (
            f" | frozen binary {t_old:8.3f}s ratio {t_old / t_new:6.2f}x"
            f" obj diff {abs(s_old.objective - s_new.objective):.1e}"
        )
    if with_cvxpy:
        t_cx, _, s_cx = _median_time(lambda: solve_cvxpy(p), repeats)
        gap = abs(s_cx.objective - s_new.objective)
        diff = np.abs(s_cx.policy - s_new.policy).max()
        line += f" | cvxpy {t_cx:7.3f}s ratio {t_cx / t_new:6.1f}x gap {gap:.1e} policy {diff:.1e}"
    return line


def main(argv) -> None:
    if len(argv) in (2, 3):
        jobs = int(argv[2]) if len(argv) == 3 else 1
        line = row(int(argv[0]), int(argv[1]), repeats=1, with_cvxpy=False, n_jobs=jobs)
        print(line, flush=True)
        return
    for K in (2, 11):
        print(row(K, 2000), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
