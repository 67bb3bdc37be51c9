"""The dot product of two long vectors, summed in an order BLAS's threads cannot change.

``x @ y`` on 1-d arrays is BLAS's ``ddot``, which OpenBLAS splits across its
threads above about 10,000 entries: each thread sums its own share and the
shares are added, so the rounding (a few units in the last place) depends on
the thread count, and through the solver's Newton steps a policy moved by
~1e-12 with it. :func:`dot` sums blocks of at most 4,096 entries (below any
BLAS's threading threshold) in order, so the result is the same bit for bit
whatever the thread count; up to one block it is ``x @ y`` itself, the dot
product the compiled kernels take over at most 4,096 rows. With numba installed
the same blocks are summed in compiled code (an ``overload``), so the functions
that the kernels compile from numpy code (e.g.
:func:`racer_dro.kl.small_shift_temperature`) can call it.
"""

from __future__ import annotations

import numpy as np

try:  # optional: only the compiled kernels need it
    from numba.extending import overload
except ImportError:  # pragma: no cover
    overload = None

BLOCK = 4_096  # entries per BLAS call (racer_dro._kernels.CHUNK rows)


def dot(x: np.ndarray, y: np.ndarray) -> float:
    """``float(x @ y)`` for 1-d float arrays of the same length, blockwise in order.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10_000.0)
    >>> dot(x, np.ones(10_000)) == 10_000 * 9_999 / 2
    True
    """
    n = x.shape[0]
    if n <= BLOCK:
        return float(x @ y)
    total = 0.0
    for start in range(0, n, BLOCK):
        total += float(x[start : start + BLOCK] @ y[start : start + BLOCK])
    return total


if overload is not None:

    @overload(dot, jit_options={"cache": True})
    def _dot_compiled(x, y):  # pragma: no cover (compiled)
        def impl(x, y):
            n = x.shape[0]
            if n <= BLOCK:
                return float(np.dot(x, y))
            total = 0.0
            for start in range(0, n, BLOCK):
                stop = min(start + BLOCK, n)
                total += float(np.dot(x[start:stop], y[start:stop]))
            return total

        return impl
