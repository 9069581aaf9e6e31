"""The sign bit in 3 rounds: wide helper-dealt leaves and one-round many-input ANDs.

After :func:`~.opened_compare.open_masked` the primaries know ``A = M + c`` and the helper
knows ``S = -R``, and ``msb(x + c) = a63 ^ s63 ^ carry`` with carry the carry out of the
low 63 bits of A + S (see :mod:`.opened_compare`). Here the carry takes two rounds, not five:

* **Leaves (local).** Bits 0..59 form 15 groups of 4 bits and bits 60..62 one group of 3.
  The helper deals XOR shares of the non-empty monomials of each group of S (15 per 4-bit
  group, 7 for the top group: 232 bits); with A public, a group's generate G and propagate
  P are XOR-sums of those monomials with public coefficients (the table lookups of
  :mod:`.ring_compare` and :mod:`.opened_compare`).
* **Level 1 (1 round).** Five nodes of 4, 3, 3, 3, 3 groups (lowest first). A node of k
  groups gives ``G' = G_(k-1) ^ XOR_j G_j P_(j+1) ... P_(k-1)`` and ``P' = P_0 ... P_(k-1)``
  (the lowest node needs no P'), each product one term of :func:`band_many`.
* **Level 2 (1 round).** One node of the five level-1 outputs gives the carry.

:func:`band_many` computes products of up to k XOR-shared bits in **one** round: every
input bit x_f is opened once as ``v_f = x_f ^ m_f`` under a fresh helper bit m_f, and

    prod_(f in T) x_f = XOR_(U subset of T) (prod_(f in T \\ U) v_f) m_U,   m_U = prod_(f in U) m_f,

linear in the shares of the mask products m_U, which the helper deals (offline) for every
U of two or more masks that some term needs (single masks are PRG shares, the empty
product is the constant 1). A term of k bits needs up to 2^k - k - 1 dealt bits, so fan-in
stays small (at most 5 here).

Costs per element ("each way" = P0->P1 and P1->P0 each; offline = P2->P1):

================================  ======  ==================  ===================  ========
protocol                          rounds  each way            offline              total
================================  ======  ==================  ===================  ========
band_many (w opened bits, d       1       w bits              d bits               2w + d
dealt mask products)                                                               bits
msb_wide (after the opening; k    2       34 k bits           233 + 84 k bits      19 k +
thresholds)                                                                        29.125 B
msb_bits (open + msb_wide)        3       8 B + 34 bits       317 bits             64.125 B
mul_opened (b * x for the         1       1 bit               16 B                 16.25 B
opened x)
================================  ======  ==================  ===================  ========

Per threshold: level 1 opens 6 + 4 x 5 = 26 bits and deals 15 + 4 x 8 = 47 mask products;
level 2 opens 8 bits and deals 37. Against the 5-round tree of :mod:`.opened_compare`
(52.625 B, 6 rounds with the opening) that is 11.5 B more per threshold for half the rounds.

:func:`mul_opened` multiplies XOR-shared bits b by the value x that was opened as
``M = x + R``: with z = b ^ r opened for a fresh helper bit r whose ring shares rho and
those of r R the helper deals, ``b x = (z + (1 - 2z) r)(M - R)`` is linear in the dealt
shares and the primaries' own halves R_0, R_1 of R. So the select of a ReLU or a maximum
reuses the comparison's opening: 16.25 B per element instead of 32.25 B.

Security (semi-honest, one corrupted party, PRG secure): M is uniform in each primary's
view (:mod:`.opened_compare`). Every bit a primary receives from the other is the other's
half of ``x_f ^ m_f`` or ``b ^ r`` with m_f, r fresh helper bits whose halves come from the
other primary's PRG with P2, so uniform and independent of everything else it sees. P1's
offline messages are dealt values minus fresh P0-P2 PRG values, hence uniform. P2 receives
nothing. Outputs are XOR (or additive) shares, uniform to each primary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from typing import Any

import numpy as np

from ..engine.context import PartyContext, protocol
from ..ring import DTYPE
from ..tensor import SharedTensor, held
from . import opened_compare as oc
from . import ring_compare as rc
from .boolean import (
    BitTensor,
    InjectedBits,
    deal_bits,
    deal_packed,
    exchange_bits,
    pack,
    packed_len,
    unpack,
)

Terms = tuple[tuple[int, ...], ...]
Index = Any  # anything numpy accepts as an index on the last axes


# -- one-round products of many bits -------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    """The static structure of the products ``prod_(f in T) x_f`` of one part (w inputs)."""

    width: int
    subsets: tuple[tuple[int, ...], ...]  # the dealt mask products (two or more masks each)
    # per term, its pairs (T \\ U, share of m_U): share -1 the constant, f < w the single
    # mask m_f, w + i the dealt product subsets[i]
    terms: tuple[tuple[tuple[tuple[int, ...], int], ...], ...]


@cache
def _plan(width: int, terms: Terms) -> _Plan:
    dealt = sorted({u for t in terms for n in range(2, len(t) + 1) for u in combinations(t, n)})
    index = {u: i for i, u in enumerate(dealt)}
    pairs = []
    for t in terms:
        row = []
        for n in range(len(t) + 1):
            for u in combinations(t, n):
                share = -1 if n == 0 else u[0] if n == 1 else width + index[u]
                row.append((tuple(f for f in t if f not in u), share))
        pairs.append(tuple(row))
    return _Plan(width, tuple(dealt), tuple(pairs))


def band_many_cost(width: int, terms: Sequence[Sequence[int]]) -> tuple[int, int]:
    """(bits opened each way, dealt bits) per batch element of one part of :func:`band_many`."""
    plan = _plan(width, tuple(tuple(t) for t in terms))
    return width, len(plan.subsets)


# Bit-sliced work: a part's bits are held factor-major, (w, B) packed eight batch elements to
# a byte, so that every AND and XOR of the plans runs over B / 8 bytes at once.
def _sliced(bits: np.ndarray) -> np.ndarray:
    """``batch + (w,)`` bits -> (w, ceil(B/8)) packed along the flattened batch."""
    w = bits.shape[-1]
    return np.packbits(np.ascontiguousarray(bits.reshape(-1, w).T), axis=-1)


def _unsliced(packed: np.ndarray, batch: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(batch, dtype=np.int64))
    return np.ascontiguousarray(np.unpackbits(packed, axis=-1, count=n).T).reshape(batch + (packed.shape[0],))


def _products(plan: _Plan, v: np.ndarray, shares: np.ndarray, const: bool) -> np.ndarray:
    """XOR shares of each term's product, sliced: v the opened bits (w, nb), shares the mask
    shares then the dealt shares (w + d, nb); ``const`` adds the constant term (P0)."""
    out = np.zeros((len(plan.terms), v.shape[1]), np.uint8)
    for i, pairs in enumerate(plan.terms):
        acc = out[i]
        for comp, share in pairs:
            if share < 0 and not const:
                continue
            if comp:
                coef = v[comp[0]].copy()
                for f in comp[1:]:
                    coef &= v[f]
                acc ^= coef if share < 0 else coef & shares[share]
            else:
                acc ^= shares[share]
    return out


@protocol("band_many")
def band_many(ctx: PartyContext, parts: Sequence[tuple[BitTensor, Sequence[Sequence[int]]]]) -> list[BitTensor]:
    """For each part ``(x, terms)`` (x of shape ``batch + (w,)``), the products
    ``prod_(f in T) x[..., f]`` for each term T (a tuple of distinct indices), shape
    ``batch + (len(terms),)``. One round for all parts: every x bit opened once (w bits each
    way per batch element), one offline dealing of the mask products (see the module
    docstring)."""
    plans = [_plan(x.shape[-1], tuple(tuple(int(f) for f in t) for t in terms)) for x, terms in parts]
    batches = [tuple(x.shape[:-1]) for x, _ in parts]
    sizes = [int(np.prod(b, dtype=np.int64)) for b in batches]
    mask_shapes = [(p.width, n) for p, n in zip(plans, sizes)]
    dealt_shapes = [(len(p.subsets), n) for p, n in zip(plans, sizes)]
    if ctx.is_helper:
        g0, g1 = ctx.prg(0), ctx.prg(1)
        dealt = []
        for p, sh in zip(plans, mask_shapes):
            m = g0.bits(sh) ^ g1.bits(sh)
            rows = []
            for u in p.subsets:
                row = m[u[0]].copy()
                for f in u[1:]:
                    row &= m[f]
                rows.append(row)
            dealt.append(np.stack(rows) if rows else np.zeros((0, sh[1]), np.uint8))
        deal_bits(ctx, dealt, dealt_shapes)
        return [BitTensor(ctx, None, b + (len(p.terms),)) for b, p in zip(batches, plans)]
    g = ctx.prg(2)
    masks = [g.bits(sh) for sh in mask_shapes]
    mine = [_sliced(x.mine) ^ np.packbits(m, axis=-1) for (x, _), m in zip(parts, masks)]
    ctx.send(ctx.other, *mine)
    theirs = ctx.recv(ctx.other, expect=[(a.shape, np.uint8) for a in mine])
    dealt = held(deal_bits(ctx, None, dealt_shapes))
    outs = []
    for p, b, m, a, o, d in zip(plans, batches, masks, mine, theirs, dealt):
        shares = np.packbits(np.concatenate([m, d], axis=0), axis=-1)
        prods = _products(p, a ^ o, shares, ctx.party == 0)
        outs.append(BitTensor(ctx, _unsliced(prods, b)))
    return outs


# -- carry nodes ---------------------------------------------------------------------------
def _node_terms(k: int, with_p: bool) -> tuple[int, Terms]:
    """(width, terms) of a carry node of k (G, P) pairs: inputs ``[G_0..G_(k-2), P_i0..P_(k-1)]``
    (i0 = 0 with P', else 1); terms ``G_j P_(j+1) ... P_(k-1)`` for j < k - 1, then P'."""
    i0 = 0 if with_p else 1
    at = {i: k - 1 + i - i0 for i in range(i0, k)}
    terms = [(j,) + tuple(at[i] for i in range(j + 1, k)) for j in range(k - 1)]
    if with_p:
        terms.append(tuple(at[i] for i in range(k)))
    return k - 1 + k - i0, tuple(terms)


def _node_inputs(G: BitTensor, P: BitTensor, with_p: bool) -> BitTensor:
    k = G.shape[-1]
    return BitTensor.concatenate([G[..., : k - 1], P[..., 0 if with_p else 1 :]], axis=-1)


def _node_outputs(G: BitTensor, prods: BitTensor, with_p: bool) -> tuple[BitTensor, BitTensor | None]:
    k = G.shape[-1]
    if G.ctx.is_helper:
        g = BitTensor(G.ctx, None, G.shape[:-1])
        return g, (g if with_p else None)
    g_out = G.mine[..., k - 1] ^ np.bitwise_xor.reduce(prods.mine[..., : k - 1], axis=-1)
    return BitTensor(G.ctx, g_out), (BitTensor(G.ctx, prods.mine[..., k - 1]) if with_p else None)


LOW_NODE = 4  # groups in the lowest level-1 node; the other four nodes take 3
N_GROUPS = 16


def carry63(G: BitTensor, P: BitTensor) -> BitTensor:
    """The carry out of 16 groups' (G, P) (last axis, low group first) in two rounds of
    :func:`band_many`: nodes of 4, 3, 3, 3, 3 groups, then one node of five."""
    ctx = G.ctx
    w0, t0 = _node_terms(LOW_NODE, False)
    w1, t1 = _node_terms(3, True)
    hiG = G[..., LOW_NODE:].reshape(G.shape[:-1] + (4, 3))
    hiP = P[..., LOW_NODE:].reshape(P.shape[:-1] + (4, 3))
    lo_in = _node_inputs(G[..., :LOW_NODE], P[..., :LOW_NODE], False)
    hi_in = _node_inputs(hiG, hiP, True)
    assert lo_in.shape[-1] == w0 and hi_in.shape[-1] == w1
    lo_prod, hi_prod = band_many(ctx, [(lo_in, t0), (hi_in, t1)])
    g_lo, _ = _node_outputs(G[..., :LOW_NODE], lo_prod, False)
    g_hi, p_hi = _node_outputs(hiG, hi_prod, True)
    assert p_hi is not None
    expand = lambda b: b.reshape(b.shape + (1,))
    G2 = BitTensor.concatenate([expand(g_lo), g_hi], axis=-1)
    zero = BitTensor.local(ctx, np.zeros(p_hi.shape[:-1] + (1,), np.uint8), p_hi.shape[:-1] + (1,))
    P2 = BitTensor.concatenate([zero, p_hi], axis=-1)
    _, t2 = _node_terms(5, False)
    (top,) = band_many(ctx, [(_node_inputs(G2, P2, False), t2)])
    carry, _ = _node_outputs(G2, top, False)
    return carry


# -- leaves and the sign bit ---------------------------------------------------------------
_SHIFT60 = np.uint64(60)


def _deal_leaves(s: np.ndarray) -> list[np.ndarray]:
    """The helper's bits: monomials of the 15 four-bit groups (T = 15 down to 1, so that a
    group's bits read as a number put monomial T at bit T - 1), of the top 3-bit group (the
    same), and s63."""
    return [
        rc._MONO_BITS[:, ::-1][rc._groups(s)[..., :15]],
        oc._MONO_BITS[:, ::-1][((s >> _SHIFT60) & np.uint64(7)).astype(np.intp)],
        (s >> np.uint64(63)).astype(np.uint8),
    ]


def _fields(packed: np.ndarray, start: int, count: int, width: int) -> np.ndarray:
    """``count`` consecutive ``width``-bit numbers (first bit most significant) of a
    :func:`~.boolean.pack` stream from bit ``start``; width <= 17."""
    b = np.concatenate([packed, np.zeros(3, np.uint8)]).astype(np.uint32)
    pos = start + width * np.arange(count, dtype=np.int64)
    at, off = pos >> 3, (pos & 7).astype(np.uint32)
    window = (b[at] << 16) | (b[at + 1] << 8) | b[at + 2]
    return (window >> (np.uint32(24 - width) - off)) & np.uint32((1 << width) - 1)


def _leaf_shapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    return [shape + (15, 15), shape + (7,), shape]


@protocol("msb_wide")
def msb_wide(opened: oc.Opened, offsets: Sequence[int]) -> BitTensor:
    """XOR shares of ``msb(x + c)`` for each ring offset c, shape ``(len(offsets),) +
    x.shape``; 2 rounds after the opening, exact for every ring element. Costs in the module
    docstring."""
    ctx, shape = opened.ctx, opened.shape
    k = len(offsets)
    out_shape = (k,) + shape
    if ctx.is_helper:
        deal_bits(ctx, _deal_leaves(-held(opened.mask)), _leaf_shapes(shape))
        blank = BitTensor(ctx, None, out_shape + (N_GROUPS,))
        return carry63(blank, blank)
    packed = held(deal_packed(ctx, None, _leaf_shapes(shape)))
    n = int(np.prod(shape, dtype=np.int64))
    const = np.uint32(1 if ctx.party == 0 else 0)  # the constant monomial (P0 holds 1, P1 0)
    word4 = (_fields(packed, 0, 15 * n, 15).reshape(shape + (15,)) << np.uint32(1)) | const  # monomial T at bit T
    word3 = (_fields(packed, 225 * n, n, 7).reshape(shape) << np.uint32(1)) | const
    s63 = _fields(packed, 232 * n, n, 1).reshape(shape).astype(np.uint8)
    c = np.asarray([np.int64(o) for o in offsets], dtype=np.int64).view(DTYPE)
    a = held(opened.value)[None, ...] + c.reshape((k,) + (1,) * len(shape))
    leaf4 = rc._leaf_table()[(rc._groups(a)[..., :15] << 16) | word4.astype(np.intp)]
    alpha3 = ((a >> _SHIFT60) & np.uint64(7)).astype(np.intp)
    leaf3 = oc._LEAF[(alpha3 << 8) | np.broadcast_to(word3.astype(np.intp), alpha3.shape)]
    leaf = np.concatenate([leaf4, leaf3[..., None]], axis=-1)
    carry = carry63(BitTensor(ctx, leaf & 1), BitTensor(ctx, leaf >> 1))
    a63 = (a >> np.uint64(63)).astype(np.uint8)
    top = s63[None, ...] ^ (a63 if ctx.party == 0 else np.zeros_like(a63))
    return BitTensor(ctx, carry.mine ^ top)


# -- products with the opened value ---------------------------------------------------------
@protocol("mul_opened")
def mul_opened(
    bits: BitTensor, opened: oc.Opened, ands: Sequence[tuple[Index, BitTensor]] = ()
) -> tuple[InjectedBits, SharedTensor, list[BitTensor]]:
    """``bits * x`` (exact, no truncation) for the x that was opened as ``M = x + R``
    (``opened = open_masked(x)``), the bits brought into the ring (reusable by
    :func:`~.boolean.bits_mul`), and ANDs ``bits[idx_m] & y_m`` of XOR-shared bits (the helper
    bit r that masks ``bits`` doubles as the ANDs' first mask, as in
    :func:`~.boolean.inject_bits_and`). ``bits`` has x's shape. 1 round: 1 bit each way and
    16 B offline per element, plus 1 bit each way and 1 bit offline per AND output bit."""
    ctx, shape = opened.ctx, opened.shape
    if tuple(bits.shape) != shape:
        raise ValueError(f"bits of shape {bits.shape} against an opening of shape {shape}")
    and_shapes = [y.shape for _, y in ands]
    if ctx.is_helper:
        g0, g1 = ctx.prg(0), ctx.prg(1)
        r = g0.bits(shape) ^ g1.bits(shape)
        us = [g0.bits(sh) ^ g1.bits(sh) for sh in and_shapes]
        rr = r.astype(DTYPE)
        dealt: list[np.ndarray] = [rr - g0.uint64(shape), rr * held(opened.mask) - g0.uint64(shape)]
        if ands:
            ws = [np.broadcast_to(r[idx], sh) & u ^ g0.bits(sh) for (idx, _), u, sh in zip(ands, us, and_shapes)]
            dealt.append(pack(ws))
        ctx.send(1, *dealt, offline=True)
        return InjectedBits(ctx, shape, r=r), SharedTensor(ctx, None, shape), [BitTensor(ctx, None, sh) for sh in and_shapes]
    g = ctx.prg(2)
    r = g.bits(shape)
    us = [g.bits(sh) for sh in and_shapes]
    if ctx.party == 0:
        rho, gamma = g.uint64(shape), g.uint64(shape)
        ws = [g.bits(sh) for sh in and_shapes]
    else:
        expect: list[tuple[tuple[int, ...], type]] = [(shape, DTYPE), (shape, DTYPE)]
        if ands:
            expect.append(((packed_len(and_shapes),), np.uint8))
        got = ctx.recv(2, expect=expect)
        rho, gamma = got[0], got[1]
        ws = unpack(got[2], and_shapes) if ands else []
    f_mine = [y.mine ^ u for (_, y), u in zip(ands, us)]
    z_mine = bits.mine ^ r
    theirs = exchange_bits(ctx, [z_mine, *f_mine])
    z = z_mine ^ theirs[0]
    zr = z.astype(DTYPE)
    m = held(opened.value)
    own_r = held(opened.own_mask)  # this primary's half R_i of R (kept by open_masked)
    share = (np.uint64(1) - zr - zr) * (rho * m - gamma) - zr * own_r
    if ctx.party == 0:
        share = share + zr * m
    anded = []
    for (idx, y), u, w, fm, fo in zip(ands, us, ws, f_mine, theirs[1:]):
        # b & y = (z ^ r) & (f ^ u) = z f ^ z u ^ r f ^ (r & u), with r & u dealt as w
        zi, ri, f = np.broadcast_to(z[idx], y.shape), np.broadcast_to(r[idx], y.shape), fm ^ fo
        v = (zi & u) ^ (ri & f) ^ w
        anded.append(BitTensor(ctx, v ^ (zi & f) if ctx.party == 0 else v))
    return InjectedBits(ctx, shape, z=z, R=rho), SharedTensor(ctx, share), anded
