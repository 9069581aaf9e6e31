"""Input sharing, opening and truncation.

Costs (8-byte ring elements, n elements):

========================  ======  =====================================================
protocol                  rounds  bytes
========================  ======  =====================================================
share_input (owner P0/P1) 0       none: the other primary's share comes from their PRG
share_input (owner P2)    1       p2->p1: 8n
reveal (to both)          1       p0->p1: 8n, p1->p0: 8n
reveal (to one)           1       8n from the other primary
truncate                  0       none (local)
========================  ======  =====================================================
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..engine.context import PartyContext, protocol
from ..ring import DTYPE
from ..tensor import SharedTensor


@protocol("share_input")
def share_input(
    ctx: PartyContext, value: np.ndarray | None, owner: int, shape: Sequence[int], *, encoded: bool = False
) -> SharedTensor:
    """Secret-share a plaintext array that party ``owner`` holds (others pass ``None``).

    For a primary owner, the other primary's share is drawn from the PRG the two share and the
    owner keeps ``x - r``; nothing is sent. For the helper as owner, P0's share comes from the
    P0-P2 PRG and P2 sends ``x - r`` to P1.
    """
    shape = tuple(shape)
    if ctx.party == owner:
        if value is None:
            raise ValueError("the owner must supply the value")
        x = np.asarray(value, dtype=DTYPE) if encoded else ctx.fxp.encode(value, name="input")
        if x.shape != shape:
            raise ValueError(f"input shape {x.shape} does not match declared shape {shape}")
    if owner in (0, 1):
        if ctx.party == owner:
            return SharedTensor(ctx, x - ctx.prg(1 - owner).uint64(shape))
        if ctx.party == 1 - owner:
            return SharedTensor(ctx, ctx.prg(owner).uint64(shape))
        return SharedTensor(ctx, None, shape)
    # owner is the helper
    if ctx.party == 2:
        ctx.send(1, x - ctx.prg(0).uint64(shape))
        return SharedTensor(ctx, None, shape)
    if ctx.party == 0:
        return SharedTensor(ctx, ctx.prg(2).uint64(shape))
    (s1,) = ctx.recv(2, expect=[(shape, DTYPE)])
    return SharedTensor(ctx, s1.copy())


@protocol("reveal")
def reveal(x: SharedTensor, to: int | None = None) -> np.ndarray | None:
    """Open ``x`` as ring elements to both primaries (``to=None``) or only to ``to`` (0 or 1).

    Returns the opened ring elements on the receiving parties and ``None`` elsewhere.
    """
    ctx = x.ctx
    if to not in (None, 0, 1):
        raise ValueError("values are opened only to P0 and/or P1")
    if ctx.is_helper:
        return None
    if to is None:
        (other,) = ctx.exchange(ctx.other, x.share)
        return x.share + other
    if ctx.party == to:
        (other,) = ctx.recv(ctx.other, expect=[(x.shape, DTYPE)])
        return x.share + other
    ctx.send(to, x.share)
    return None


def truncate(x: SharedTensor, bits: int) -> SharedTensor:
    """Divide by 2^bits locally (SecureNN / SecureML truncation); no communication.

    P0 shifts its share right; P1 negates, shifts and negates. The result equals
    ``floor(x / 2^bits)`` or one more, except with probability about ``2^(l+1-64)`` for a
    value of ``l`` significant bits (|x| < 2^l in ring units), when it is off by about
    ``2^(64-bits)``. With 16 fractional bits a product of two reals below 2^k in magnitude
    has l = 2k + 32, so products of values below 2^10 fail with probability below 2^-11;
    keep multiplied values small (NN activations and weights are).
    """
    if bits == 0 or x.share is None:
        return x
    s = np.uint64(bits)
    if x.ctx.party == 0:
        return SharedTensor(x.ctx, x.share >> s)
    return SharedTensor(x.ctx, -((-x.share) >> s))
