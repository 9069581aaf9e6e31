"""BLAS threads of a party process.

Ring products run on float64 BLAS (:func:`spp_runtime.ring.matmul`). OpenBLAS starts one
thread per core in every process, so three parties on one 2-core machine would run six BLAS
threads against each other and each product gets slower, not faster (measured: the secure
128x784 @ 784x128 product took 268-462 ms with the default threads, 58-87 ms with one).
A party process therefore limits BLAS to ``SPP_BLAS_THREADS`` threads (default 1); a server
alone on a larger host may raise it.
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits

from ..errors import SppError

DEFAULT_BLAS_THREADS = 1


def blas_threads_from_env() -> int:
    """``SPP_BLAS_THREADS`` as a positive int (default 1); a bad value is a clear error."""
    raw = os.environ.get("SPP_BLAS_THREADS", str(DEFAULT_BLAS_THREADS))
    try:
        n = int(raw)
    except ValueError:
        raise SppError(f"SPP_BLAS_THREADS must be a positive integer, got {raw!r}") from None
    if n < 1:
        raise SppError(f"SPP_BLAS_THREADS must be a positive integer, got {raw!r}")
    return n


def limit_blas_threads(n: int | None = None) -> int:
    """Limit this process's BLAS thread pools to ``n`` (default: from the environment)."""
    n = blas_threads_from_env() if n is None else n
    threadpool_limits(limits=n, user_api="blas")
    return n
