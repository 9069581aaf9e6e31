"""The ring Z_2^64 on numpy ``uint64`` arrays.

numpy's unsigned arithmetic wraps modulo 2^64, so ring addition, subtraction and
multiplication are the plain operators on ``uint64`` arrays. This module holds the few
helpers that are not one operator: signed views, shifts with the right semantics, and
matrix products that stay exact modulo 2^64.
"""

from __future__ import annotations

import numpy as np

RING_BITS = 64
DTYPE = np.uint64
Ring = np.ndarray  # an array of dtype uint64


def as_ring(x: np.ndarray | np.integer | int) -> np.ndarray:
    """Reinterpret integers as ring elements (two's complement for negatives)."""
    a = np.asarray(x)
    if a.dtype == DTYPE:
        return a
    if a.dtype.kind == "i":
        return a.astype(np.int64).view(DTYPE)
    if a.dtype.kind in "ub":
        return a.astype(DTYPE)
    raise TypeError(f"ring elements must be integers, got dtype {a.dtype}")


def to_signed(x: np.ndarray) -> np.ndarray:
    """View ring elements as signed 64-bit integers (two's complement)."""
    return np.asarray(x, dtype=DTYPE).view(np.int64)


def msb(x: np.ndarray) -> np.ndarray:
    """Most significant bit of each element, as uint64 0/1 (plaintext helper)."""
    return np.asarray(x, dtype=DTYPE) >> np.uint64(RING_BITS - 1)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product modulo 2^64 (numpy's integer matmul wraps like the ring)."""
    return np.matmul(as_ring(a), as_ring(b))
