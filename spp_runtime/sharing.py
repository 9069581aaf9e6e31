"""2-out-of-2 additive secret sharing over Z_2^64.

``share(x)`` returns ``(x0, x1)`` with ``x0`` uniform from the OS CSPRNG and
``x1 = x - x0 mod 2^64``; either share alone is uniformly distributed and says nothing of ``x``.
"""

from __future__ import annotations

import numpy as np

from .randomness import csprng_uint64
from .ring import DTYPE, as_ring


def share(secret: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split ring elements into two additive shares (fresh randomness from the OS CSPRNG)."""
    x = as_ring(secret)
    x0 = csprng_uint64(x.shape)
    return x0, x - x0


def reconstruct(share0: np.ndarray, share1: np.ndarray) -> np.ndarray:
    """Add two shares back together."""
    return np.asarray(share0, dtype=DTYPE) + np.asarray(share1, dtype=DTYPE)
