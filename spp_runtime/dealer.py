"""The helper's correlated randomness, derived from pairwise seeds wherever possible.

For a product ``z = op(a, b)`` (elementwise, square or matrix product) the helper P2 and
P0 derive ``a0, b0, c0`` from the P0-P2 PRG, P2 and P1 derive ``a1, b1`` from the P1-P2 PRG,
and P2 sends only ``c1 = op(a0 + a1, b0 + b1) - c0`` to P1: 8 bytes per element of ``z``,
offline (it depends on no input). Nothing else the helper knows reaches anybody.

The triple is split in two steps so the receiver of ``c1`` does not wait for the helper
before sending its own masked values: :func:`masks` gives the ``a, b`` shares (local),
:func:`product_share` then gives the ``c`` share (P0: local; P1: receives; P2: computes, sends).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .engine.context import PartyContext
from .ring import DTYPE

RingOp = Callable[[np.ndarray, np.ndarray], np.ndarray]


def masks(ctx: PartyContext, *shapes: Sequence[int]) -> list[np.ndarray] | list[list[np.ndarray]]:
    """Random mask shares of the given shapes.

    P0 and P1 get their own shares (from the PRG shared with P2); P2 gets, for each shape, the
    pair ``[share0, share1]`` so it can compute products of the masks.
    """
    if ctx.is_helper:
        g0, g1 = ctx.prg(0), ctx.prg(1)
        return [[g0.uint64(tuple(s)), g1.uint64(tuple(s))] for s in shapes]
    g = ctx.prg(2)
    return [g.uint64(tuple(s)) for s in shapes]


def product_share(
    ctx: PartyContext,
    shape: Sequence[int],
    helper_value: Callable[[], np.ndarray] | None = None,
) -> np.ndarray | None:
    """Shares of a value only the helper can compute (e.g. ``c = a*b``).

    P2 passes ``helper_value`` (a thunk computing the value) and sends P1 its share; P0 draws
    its share from the P0-P2 PRG; P1 receives its share from P2 (offline traffic).
    """
    shape = tuple(shape)
    if ctx.party == 0:
        return ctx.prg(2).uint64(shape)
    if ctx.party == 1:
        (c1,) = ctx.recv(2, expect=[(shape, DTYPE)])
        return c1
    assert helper_value is not None, "the helper must supply the value it deals"
    c0 = ctx.prg(0).uint64(shape)
    ctx.send(1, helper_value() - c0, offline=True)
    return None


def shares_of(ctx: PartyContext, value: np.ndarray | None, shape: Sequence[int]) -> np.ndarray | None:
    """Deal shares of a helper-known ring array (P0's share from the PRG, P1's sent)."""
    return product_share(ctx, shape, None if value is None else (lambda: value))


def deal_pair(ctx: PartyContext, shape: Sequence[int], value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The helper's side of :func:`product_share` when it keeps both shares of what it deals
    (a mask it will later multiply): P0's share from the P0-P2 PRG, P1's sent offline.

    P0 and P1 call :func:`product_share` at the same point to receive theirs.
    """
    if not ctx.is_helper:
        raise ValueError("only the helper P2 deals")
    shape = tuple(shape)
    s0 = ctx.prg(0).uint64(shape)
    s1 = value - s0
    ctx.send(1, s1, offline=True)
    return s0, s1
