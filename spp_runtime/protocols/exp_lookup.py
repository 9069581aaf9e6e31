"""e^x from a masked opening: the exponential turns the mask into a dealt factor.

After :func:`~.opened_compare.open_masked` the primaries know ``M = x + R`` (mod 2^64) and
the helper knows R. Take the window ``u = x + o`` (a public offset o) with
``0 <= u < 2^(a + h - 1)`` and split the low ``f + a`` bits of M' = M + o and of R into
a real part (``mu = (M' mod 2^(f+a)) / 2^f`` and ``rho``, both in [0, 2^a)) and an
``h``-bit digit above it (``m_h``, ``r_h``). Then, exactly,

    u = mu - rho + 2^a D,   D = (m_h - r_h) mod 2^h,

because ``u - (mu - rho)`` is a multiple of 2^a in (-2^a, 2^(a + h - 1) + 2^a), so D lies in
[0, 2^(h-1)] and is fixed by its residue. Hence

    e^x = sum_j  v_j * e^(mu + 2^a ((m_h - j) mod 2^h) - o),   v_j = [r_h == j] e^(-rho):

the helper deals ring shares of the 2^h values v_j (it knows R), the primaries multiply them
by public coefficients (M is public to them) and add. No round and no truncation of a large
product: each term is truncated on its own, by a shift chosen from its public coefficient,
so a term's raw product stays below 2^42 whatever the output's magnitude. Coefficients with
D > 2^(h-1) cannot occur for u in the window and are set to 0.

Precision: v_j carries ``V_BITS`` = 27 fractional bits (relative error <= 2^-28 e^(2^a)),
each coefficient a 15-bit mantissa (relative 2^-15), each term is rounded to ``f + 3`` bits
and the sum to f: relative error ~4e-5 plus at most (2^h + 2) 2^-(f+3) absolute. Inputs
outside the window give garbage the caller must replace (by selecting on a comparison
made from the same opening).

Cost: 8 B offline (P2->P1) per dealt value, 2^h per element; nothing online.
Security: the dealt values reach P1 minus fresh P0-P2 PRG values (uniform); P0 draws its
shares from that PRG; the coefficients are functions of M, which is uniform to each primary.
"""

from __future__ import annotations

import math

import numpy as np

from ..dealer import shares_of
from ..engine.context import protocol
from ..ring import DTYPE
from ..tensor import SharedTensor, held, truncate
from .opened_compare import Opened

V_BITS = 27  # fractional bits of the dealt e^(-rho)
C_BITS = 14  # fractional bits of a coefficient's mantissa in [1, 2)
GUARD_BITS = 3  # extra fractional bits of each term before the final rounding


@protocol("exp_lookup")
def exp_lookup(opened: Opened, offset: float, lo_bits: int, hi_bits: int) -> SharedTensor:
    """Shares of e^x for x with ``0 <= x + offset < 2^(lo_bits + hi_bits - 1)`` (see the
    module docstring), from an opening of x. Local on the primaries after the dealing."""
    ctx, shape = opened.ctx, opened.shape
    f = ctx.fxp.frac_bits
    k = 1 << hi_bits
    lo_mask = np.uint64((1 << (f + lo_bits)) - 1)
    hi_mask = np.uint64(k - 1)
    if math.exp(2**lo_bits) > 2.0 ** (V_BITS - 14):  # e^(-rho) keeps 2^-15 relative precision
        raise ValueError(f"lo_bits={lo_bits} is too wide for {V_BITS}-bit dealt values")
    table_shape = shape + (k,)
    if ctx.is_helper:
        r = held(opened.mask)
        rho = (r & lo_mask).astype(np.float64) / 2.0**f
        r_hi = ((r >> np.uint64(f + lo_bits)) & hi_mask).astype(np.intp)
        v = np.rint(np.exp(-rho) * 2.0**V_BITS).astype(np.int64).view(DTYPE)
        table = np.where(np.arange(k) == r_hi[..., None], v[..., None], np.uint64(0))
        shares_of(ctx, table, table_shape)
        return SharedTensor(ctx, None, shape)
    table = held(shares_of(ctx, None, table_shape))
    m = held(opened.value) + np.array(round(offset * 2.0**f), dtype=np.int64).view(DTYPE)
    mu = (m & lo_mask).astype(np.float64) / 2.0**f
    m_hi = ((m >> np.uint64(f + lo_bits)) & hi_mask).astype(np.int64)
    d = (m_hi[..., None] - np.arange(k)) % k
    valid = d <= k // 2
    expo = np.where(valid, mu[..., None] + 2.0**lo_bits * d - offset, 0.0)
    mant, ex = np.frexp(np.exp(expo))  # e^expo = mant 2^ex, mant in [0.5, 1)
    coef = np.where(valid, np.rint(mant * 2.0 ** (C_BITS + 1)), 0).astype(np.int64).view(DTYPE)
    prod = table * coef  # v_j c_j at 2^(V_BITS + C_BITS) times 2^-(ex - 1)
    shift = (V_BITS + C_BITS - (f + GUARD_BITS) - (ex - 1)).astype(np.int64)
    right = np.clip(shift, 0, 63).astype(DTYPE)
    left = np.clip(-shift, 0, 63).astype(DTYPE)
    if ctx.party == 0:
        terms = np.where(shift >= 0, prod >> right, prod << left)
    else:
        terms = np.where(shift >= 0, -((-prod) >> right), prod << left)
    acc = terms.sum(axis=-1, dtype=DTYPE)
    return truncate(SharedTensor(ctx, acc), GUARD_BITS)
