"""Exact truncation of shared values of any size (for the few places local truncation fails).

SecureNN's local truncation (:func:`.basic.truncate`) is free but fails with probability
about 2^(l+1-64) for an l-bit value; products that reach 2^50 and more (large exponentials)
fail too often. Here the parties compute the wrap of the shares instead of hoping:
with x0, x1 read as unsigned, ``x = x0 + x1 - w 2^64`` and the signed value is
``x - msb 2^64``, so

    floor(x / 2^d) = (x0 >> d) + (x1 >> d) [+ carry of the low d bits] - (w + msb) 2^(64-d).

``w + msb = a63 + b63 - g63 + (not p63 and C62)`` where a63, b63 are the shares' top bits
(each known to its holder), g63 = a63 & b63, p63 = a63 ^ b63 and C62 is the carry out of the
low 63 bits: all from one carry tree (:func:`.compare.carry_and_top`), one AND and two bit
conversions. The carry of the low d bits is ignored, so the result is floor(x / 2^d) or one
unit less, always (no failure probability).

Cost per element: 8 rounds; ~72 B (carry tree) + 3 bits + 5 bits (AND) + 2 b2a (~16 B),
about 90 B. Security: only the carry circuit, AND and b2a, each with uniform openings.
"""

from __future__ import annotations

import numpy as np

from ..engine.context import protocol
from ..ring import DTYPE
from ..tensor import SharedTensor
from .boolean import BitTensor, b2a, band
from .compare import carry_and_top


@protocol("truncate_exact")
def truncate_exact(x: SharedTensor, bits: int) -> SharedTensor:
    """floor(x / 2^bits) (or one unit less) for any shared x: no failure probability."""
    ctx = x.ctx
    if not 0 < bits < 64:
        raise ValueError("bits must be in 1..63")
    carry, g63 = carry_and_top(x, with_top=True)
    if ctx.is_helper:
        not_p63 = BitTensor(ctx, None, x.shape)
    else:
        top = (x.share >> np.uint64(63)).astype(np.uint8)
        not_p63 = BitTensor(ctx, top ^ (1 if ctx.party == 0 else 0))
    v1 = band(not_p63, carry)
    both = b2a(BitTensor.concatenate([v1.reshape(*x.shape, 1), g63.reshape(*x.shape, 1)], axis=-1))
    q = both[..., 0] - both[..., 1]  # in {-1, 0, 1}
    if ctx.is_helper:
        return SharedTensor(ctx, None, x.shape)
    d = np.uint64(bits)
    weight = np.uint64(1) << np.uint64(64 - bits)
    top = x.share >> np.uint64(63)
    share = (x.share >> d) - (top + q.share) * weight
    return SharedTensor(ctx, share)
