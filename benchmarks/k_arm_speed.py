"""Speed table for issue 11: medians of 3 (shared 2-core machine, OMP_NUM_THREADS=1).

Run: ``OMP_NUM_THREADS=1 python -m benchmarks.k_arm_speed``. Compares solve_primal_dual
with the frozen pre-K-arm binary solver (benchmarks/_frozen_binary) and solve_cvxpy.
"""

import statistics
import time

import numpy as np

from benchmarks._frozen_binary import solve_primal_dual as frozen_solve
from benchmarks.dro import frozen_binary_problem, make_problem
from racer_dro import solve_cvxpy, solve_primal_dual


def med(fn, k=3):
    ts = []
    out = None
    for _ in range(k):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


for K, n in [(2, 2000), (11, 2000), (2, 1_000_000), (11, 100_000)]:
    p = make_problem(n, n_arms=K)
    t_new, s_new = med(lambda p=p: solve_primal_dual(p))
    row = f"K={K:2d} n={n:>8d}  ours {t_new:8.3f}s conv={s_new.converged} iters={s_new.n_iter}"
    if K == 2:
        fp = frozen_binary_problem(n)
        t_old, s_old = med(lambda fp=fp: frozen_solve(fp))
        row += f" | frozen binary {t_old:8.3f}s ratio {t_old / t_new:6.1f}x obj diff {abs(s_old.objective - s_new.objective):.1e}"
    if n <= 2000:
        t_cx, s_cx = med(lambda p=p: solve_cvxpy(p))
        row += f" | cvxpy {t_cx:7.3f}s ratio {t_cx / t_new:6.1f}x gap {abs(s_cx.objective - s_new.objective):.1e} policy {np.abs(s_cx.policy - s_new.policy).max():.1e}"
    print(row, flush=True)
