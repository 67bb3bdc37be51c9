"""``python -m simulations.studies.metarouter_coverage_synthetic``: interval coverage off the grid.

The coverage grid of :mod:`simulations.studies.metarouter_coverage` uses one process
(``make_shift_data``) and two fitted routers. This study checks the intervals of
:mod:`metarouter.inference` on processes chosen to vary what makes a small-sample
interval fail, one factor at a time, with the truth known in closed form:

* sparsity: the multiplier ``g`` (as for router A minus router B) is non-zero on a
  share ``p`` of the queries (``+1`` or ``-1`` with equal probability);
* skewness: ``mu = E[g r | g != 0]`` (0: the non-zero contributions are symmetric
  about 0; 0.5: about half a noise sd off 0) and the outcome noise (normal, or a
  centred exponential: skewed);
* weight tails: GS queries ``x ~ N(s, 1)`` against target queries ``x ~ N(0, 1)``,
  importance weights ``exp(-s x + s^2 / 2)`` (log-normal with sd ``s``), with ``g``
  non-zero either independently of ``x`` (``where="uniform"``) or only in the lower
  tail of ``x`` (``where="tail"``: the discordant queries are those the GS rows
  rarely see, so they carry the largest weights).

Outcome ``r = mu g + 0.5 x + noise``; predictions ``m_hat = mu g + 0.4 x`` (biased, but
informative); truth ``theta = E_target[g m] = p mu`` (``E[g x] = 0`` because the sign
of ``g`` is independent of ``x``).
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pandas as pd
from scipy.stats import norm


def _draw(rng, reps, n, *, p, mu, noise, shift, where, n_target):
    """GS rows (x, g, r, m_hat, w) and target (g, m_hat) for ``reps`` replications."""

    def multiplier(x, size):
        sign = np.where(rng.random(size) < 0.5, -1.0, 1.0)
        if where == "tail":
            return np.where(x < norm.ppf(p), sign, 0.0)
        return np.where(rng.random(size) < p, sign, 0.0)

    x = rng.normal(shift, 1.0, size=(reps, n))
    g = multiplier(x, (reps, n))
    if noise == "normal":
        e = rng.normal(size=(reps, n))
    else:
        e = rng.exponential(size=(reps, n)) - 1.0
    r = mu * g + 0.5 * x + e
    w = np.exp(-shift * x + shift**2 / 2)
    xt = rng.normal(size=(reps, n_target))
    gt = multiplier(xt, (reps, n_target))
    return g, r, mu * g + 0.4 * x, w, gt, mu * gt + 0.4 * xt


def synthetic_coverage_table(
    reps: int = 1000,
    *,
    sizes=(50, 200),
    shares=(0.05, 0.15, 1.0),
    mus=(0.0, 0.5),
    noises=("normal", "exponential"),
    shifts=(0.0, 1.0),
    n_target: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Coverage of the 95% small-sample intervals on the processes above.

    One row per process: ``coverage_*`` (share of replications whose interval covers
    ``p mu``), ``warned_*`` (share that raised
    :class:`~metarouter.inference.SmallSampleWarning`), ``coverage_unwarned_*``
    (coverage among the others; nan if none), ``n_nonzero`` (mean of
    :attr:`~metarouter.inference.Interval.n_nonzero`), ``width_ratio``
    (mean widths, PPI / classical) and ``mc_sd`` (binomial sd of a coverage at 95%).

    Examples
    --------
    >>> from simulations.studies.metarouter_coverage_synthetic import (
    ...     synthetic_coverage_table)
    >>> t = synthetic_coverage_table(20, sizes=(50,), shares=(1.0,), mus=(0.5,),
    ...                              noises=("normal",), shifts=(0.0,))
    >>> len(t), float(t["warned_classical"].iloc[0])
    (1, 0.0)
    """
    from simulations.studies.metarouter_shift_study import (
        interval_outcome,
        mean_where_unwarned,
    )

    rows = []
    for n, p, mu, noise, shift in itertools.product(sizes, shares, mus, noises, shifts):
        for where in ("uniform", "tail") if shift and p < 1 else ("uniform",):
            key = [seed, n, int(100 * p), int(10 * mu), int(10 * shift)]
            key += [noises.index(noise), where == "tail"]
            g, r, mh, w, gt, mht = _draw(
                np.random.default_rng(key),
                reps,
                n,
                p=p,
                mu=mu,
                noise=noise,
                shift=shift,
                where=where,
                n_target=n_target,
            )
            row = {"n_gs": n, "p_nonzero": p, "mu": mu, "noise": noise}
            row.update(shift=shift, where=where)
            widths = {}
            for method in ("classical", "ppi"):
                out = []
                for i in range(reps):
                    outcome = interval_outcome(
                        p * mu,
                        g[i],
                        r[i],
                        m_hat_gs=mh[i],
                        g_target=gt[i],
                        m_hat_target=mht[i],
                        weights=w[i] if shift else None,
                        method=method,
                    )
                    out.append(outcome)
                a = np.array(out, dtype=float)
                row[f"coverage_{method}"] = a[:, 0].mean()
                row[f"warned_{method}"] = a[:, 2].mean()
                row[f"coverage_unwarned_{method}"] = mean_where_unwarned(a, 0)
                widths[method] = a[:, 1].mean()
                row["n_nonzero"] = a[:, 3].mean()  # depends on g only
            row["width_ratio"] = widths["ppi"] / widths["classical"]
            row["mc_sd"] = float(np.sqrt(0.95 * 0.05 / reps))
            rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    """Parse the options and print the table and a count of in-band coverages."""
    parser = argparse.ArgumentParser(description="interval coverage off the grid")
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    table = synthetic_coverage_table(args.reps, seed=args.seed)
    lo, hi = 0.93, 0.97
    for col in ("coverage", "coverage_unwarned"):
        cov = table[[f"{col}_classical", f"{col}_ppi"]].to_numpy()
        inside = (cov >= lo) & (cov <= hi)
        print(
            f"{col}: {inside.sum()} of {np.isfinite(cov).sum()} in [{lo}, {hi}] "
            f"(below: {(cov < lo).sum()}, above: {(cov > hi).sum()})"
        )
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
