"""A frozen copy of the binary RACER solver as of commit a87663d (before K arms).

Kept ONLY so that ``benchmarks/dro.py`` can time today's solver against the
pre-K-arm one in one run. Not part of the library; not maintained. Its doctests
are not collected (see ``tests/conftest.py``'s doctest modules).
"""

from benchmarks._frozen_binary.primal_dual import solve_primal_dual
from benchmarks._frozen_binary.problem import RoutingProblem

__all__ = ["RoutingProblem", "solve_primal_dual"]
