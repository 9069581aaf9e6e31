"""Comparisons with public thresholds that hold for every ring element, from one opening.

:func:`~.opened_compare.msb_opened` gives ``msb(x - t)``, which is ``[x < t]`` only while
``x - t`` does not wrap: near the ends of the ring (x within |t| of -2^63 or of 2^63 - 1)
it is wrong, and a saturating function (sigmoid, tanh, exp) that uses it returns garbage
there. This module compares exactly on the whole ring with full 64-bit carries.

After :func:`~.opened_compare.open_masked` the primaries know ``M = x + R`` and the helper
knows ``S = -R``. Read x and t as unsigned after adding 2^63 (``x' = x + 2^63``,
``t' = t + 2^63``), so that signed order is unsigned order. With the public
``A = M + 2^63`` and ``B = M - t`` (both mod 2^64), ``x' = A + S - 2^64 w`` and
``x' - t' = B + S - 2^64 (w + v)``, where ``w = carry64(A + S)``, ``v = [A < t']`` (public)
and ``B + S = (B + S mod 2^64) + 2^64 w'`` with ``w' = carry64(B + S)``. Since
``x' - t'`` lies in (-2^64, 2^64), ``x < t`` exactly when ``w' - w - v = -1``, i.e.

    [x < t] = w ^ v ^ w'       (XOR shares, no AND gate),

so k thresholds cost k + 1 carries (``w`` is shared by all of them).

A carry of ``A + S`` for public A is a generate/propagate tree over 16 groups of 4 bits.
A group's G and P are Boolean functions of its 4 bits of S once A is known: XOR-sums of
the 15 non-empty monomials of those bits with coefficients fixed by A's group. The helper
deals XOR shares of the monomials once (240 bits per element, for any number of carries),
the primaries combine them with a table lookup, and :func:`~.boolean.carry_tree` does the
rest in 4 rounds.

Costs per element ("each way" = P0->P1 and P1->P0 each; offline = P2->P1):

=========================  ======  ====================  ==================  ================
protocol                   rounds  each way              offline             total
=========================  ======  ====================  ==================  ================
carries_opened (c          4       41 c bits             240 + 26 c bits     30 + 13.5 c B
carries)
less_than_public_exact     5       8 B + 41 (k + 1)      240 + 26 (k + 1)    46 + 13.5 (k+1)
(k thresholds)                     bits                  bits                B (73 B for 1,
                                                                             86.5 B for 2)
=========================  ======  ====================  ==================  ================

Against :func:`~.opened_compare.less_than_public` (34.5 + 18.125 k B, 6 rounds, wrong near
the ends of the ring): 86.5 B against 70.75 B for the two thresholds of a saturation, one
round fewer, and exact for all 2^64 inputs.

Security (semi-honest, one corrupted party, PRG secure): M is uniform and independent of x
in each primary's view (:mod:`.opened_compare`); the monomial shares P1 receives are the
dealt bits XOR fresh P0-P2 PRG bits, hence uniform, and P0 draws its halves from its PRG
with P2; the trees open only values masked by fresh helper triple bits
(:func:`~.boolean.band_fanout`); v is a function of M alone. P2 receives nothing. The output
bits are XOR-shared and uniform to each primary.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from ..engine.context import protocol
from ..ring import DTYPE
from ..tensor import SharedTensor, held
from .boolean import BitTensor, carry_tree, deal_bits
from .opened_compare import Opened, group_tables, open_masked, ring_offsets

GROUP_BITS = 4
N_GROUPS = 64 // GROUP_BITS  # all 64 bits: the carry out of the whole word
_FULL = 1 << GROUP_BITS
_N_MONO = _FULL - 1
_TOP = np.uint64(1 << 63)
_SHIFTS = np.arange(0, 64, GROUP_BITS, dtype=DTYPE)
# Row g: the bits of the 15 non-empty monomials (T = 1..15) of a group whose bits are g.
_MONO_BITS = np.array([[int(g & t == t) for t in range(1, _FULL)] for g in range(_FULL)], np.uint8)
_MONO_WEIGHTS = (2 << np.arange(_N_MONO)).astype(np.uint16)  # monomial T at bit T of a word


@cache
def _leaf_table() -> np.ndarray:
    """``T[alpha << 16 | m]``: bit 0 the group's G share, bit 1 its P share, for public group
    bits alpha and a 16-bit word m of this party's monomial shares (bit T = monomial T; bit 0
    the constant, 1 on P0 and 0 on P1). Read-only; built once (1 MiB)."""
    anf_g, anf_p = group_tables(_FULL)
    weights = (1 << np.arange(_FULL)).astype(np.int64)
    g_mask, p_mask = anf_g @ weights, anf_p @ weights
    m = np.arange(1 << _FULL, dtype=np.int64)
    parity = np.zeros(1 << _FULL, np.uint8)
    for bit in range(_FULL):  # parity of every 16-bit word, vectorised per bit
        parity ^= ((m >> bit) & 1).astype(np.uint8)
    g = parity[g_mask[:, None] & m[None, :]]
    p = parity[p_mask[:, None] & m[None, :]]
    table = (g | (p << 1)).astype(np.uint8).reshape(-1)
    table.setflags(write=False)
    return table


def _groups(v: np.ndarray) -> np.ndarray:
    """The 16 four-bit groups of v, low group first: (..., 16) intp."""
    return ((v[..., None] >> _SHIFTS) & np.uint64(_FULL - 1)).astype(np.intp)


@protocol("carries_opened")
def carries_opened(opened: Opened, offsets: Sequence[int]) -> BitTensor:
    """XOR shares of ``carry64((M + c) + S)`` (the carry out of the 64-bit sum, S = -R) for
    each ring offset c: shape ``(len(offsets),) + x.shape``; 4 rounds, see the module
    docstring for the cost. Only XORs of these are functions of x (see
    :func:`less_than_public_exact`)."""
    ctx, shape = opened.ctx, opened.shape
    k = len(offsets)
    mono_shape = shape + (N_GROUPS, _N_MONO)
    tree_shape = (k,) + shape + (N_GROUPS,)
    if ctx.is_helper:
        s = -held(opened.mask)
        deal_bits(ctx, [_MONO_BITS[_groups(s)]], [mono_shape])
        return carry_tree(BitTensor(ctx, None, tree_shape), BitTensor(ctx, None, tree_shape))
    (mono_bits,) = held(deal_bits(ctx, None, [mono_shape]))
    mono = (mono_bits.astype(np.uint16) * _MONO_WEIGHTS).sum(axis=-1, dtype=np.uint16)
    if ctx.party == 0:
        mono |= 1  # the constant monomial (P0 holds 1, P1 holds 0)
    c = np.asarray([np.int64(o) for o in offsets], dtype=np.int64).view(DTYPE)
    a = held(opened.value)[None, ...] + c.reshape((k,) + (1,) * len(shape))
    leaf = _leaf_table()[(_groups(a) << 16) | mono.astype(np.intp)]
    G, P = leaf & 1, leaf >> 1
    P[..., 0] = 0  # the P of the lowest group is never used
    return carry_tree(BitTensor(ctx, G), BitTensor(ctx, P))


def _signed_offsets(ctx, thresholds: Sequence[float]) -> tuple[list[int], np.ndarray]:
    """Ring offsets [2^63, -t_1, ..., -t_k] (as signed int64) and the encoded thresholds."""
    neg = ring_offsets(ctx, thresholds)  # -encode(t)
    return [-(1 << 63)] + neg, np.asarray(neg, dtype=np.int64)


@protocol("less_than_public_exact")
def less_than_public_exact(x: SharedTensor, thresholds: Sequence[float]) -> tuple[Opened, BitTensor]:
    """XOR shares of ``[x < t]`` for each public threshold t (shape ``(k,) + x.shape``),
    exact for every ring element, and the opening itself (for series and tables on the
    same M). 5 rounds; 46 + 13.5 (k + 1) B per element."""
    ctx = x.ctx
    opened = open_masked(x)
    offsets, neg_t = _signed_offsets(ctx, thresholds)
    carries = carries_opened(opened, offsets)
    if ctx.is_helper:
        return opened, BitTensor(ctx, None, (len(thresholds),) + tuple(x.shape))
    m = held(opened.value)
    a = m + _TOP  # x + 2^63 = A + S
    t_shift = (-neg_t).view(DTYPE) + _TOP  # t + 2^63
    v = (a[None, ...] < t_shift.reshape((-1,) + (1,) * m.ndim)).astype(np.uint8)
    w, w_t = carries.mine[0], carries.mine[1:]
    bits = w[None, ...] ^ w_t ^ (v if ctx.party == 0 else np.zeros_like(v))
    return opened, BitTensor(ctx, bits)
