"""XOR-shared bits between P0 and P1, with helper-dealt AND triples (GMW with a dealer).

A :class:`BitTensor` holds, on P0 and P1, uint8 arrays of 0/1 whose XOR is the secret bit;
the helper P2 holds only the shape. XOR and NOT are local. On the wire bits are packed eight
to a byte (``np.packbits``), so "n bits" below costs ``ceil(n/8)`` bytes per message.

Costs, all in 1 round except add_private ("each way" = P0->P1 and P1->P0 each; offline =
P2->P1, input-independent; ring values are 64 bits):

=========================  ======================================  ==========================
protocol                   each way (bits)                         offline (bits)
=========================  ======================================  ==========================
reveal_bits                1 per bit                               --
band (x & y)               2 per output bit                        1 per output bit
band_fanout (x & y_k)      1 per bit of x + 1 per bit of each y_k  1 per product bit
and_private (P0's x, P1's  n_x (P0->P1), n_y (P1->P0)              1 per product
y; any pairs)
inject_bits (bits, xs)     1 per bit + 64 per element of each x    64 per bit + 64 per
                                                                   element of each product
inject_bits_and (+ ANDs    as inject_bits, + 1 per AND output bit  as inject_bits, + 1 per
bits[idx] & y_m)                                                   AND output bit
inject_bits_at (products   as inject_bits                          64 per bit + 64 per
of bits[at] only)                                                  element of each product
bits_mul (injected, xs)    64 per element of each x                64 per product element
b2a                        1 per bit                               64 per bit
select_bits (same shapes)  1 + 64 per element                      128 per element
add_private (n bits)       n + sum over ceil(log2 n) levels of     n + 2 h per level
                           3 h (h = bits that take a carry)
=========================  ======================================  ==========================

Security. Every bit a primary receives from the other is its half of a value XORed with a
fresh helper-PRG bit it does not hold: ``x ^ a`` and ``y ^ b`` in the AND gates (triple
bits from the PRG each primary shares with P2), ``x ^ u`` in ``and_private`` (a pad from the
sender's PRG with P2), ``b ^ r`` in ``inject_bits`` (a fresh helper bit r); every ring value
is ``x - a`` for a fresh ring mask a from the sender's PRG with P2. So each is uniform and
independent of the inputs. P1's offline messages from P2 are dealt values minus a fresh
P0-P2 PRG value, so uniform too. The helper receives nothing online in any of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine.context import PartyContext, protocol
from ..ring import DTYPE
from ..tensor import SharedTensor, held

Index = Any  # anything numpy accepts as an index on the last axes


class BitTensor:
    """An XOR-shared tensor of bits as one party sees it (P2: shape only)."""

    __slots__ = ("ctx", "shape", "share")

    def __init__(self, ctx: PartyContext, share: np.ndarray | None, shape: Sequence[int] | None = None):
        if share is None:
            if not ctx.is_helper:
                raise ValueError("P0 and P1 hold bit shares; only the helper holds none")
            self.shape = tuple(int(d) for d in shape) if shape is not None else ()
        else:
            if ctx.is_helper:
                raise ValueError("the helper holds no bit shares")
            share = np.asarray(share, dtype=np.uint8)
            self.shape = share.shape
        self.ctx = ctx
        self.share = share

    @property
    def mine(self) -> np.ndarray:
        """This primary's bit share; a ValueError on the helper P2, which holds none."""
        return held(self.share)

    def __repr__(self) -> str:
        return f"BitTensor(party={self.ctx.name}, shape={self.shape})"

    @classmethod
    def local(cls, ctx: PartyContext, bits: np.ndarray | None, shape: Sequence[int]) -> BitTensor:
        """Wrap a share computed locally (None on the helper)."""
        return cls(ctx, None if ctx.is_helper else bits, shape)

    @classmethod
    def public(cls, ctx: PartyContext, bits: np.ndarray) -> BitTensor:
        """A public bit array shared trivially (P0 holds it, P1 holds zeros)."""
        b = np.asarray(bits, dtype=np.uint8) & 1
        return cls.local(ctx, b if ctx.party == 0 else np.zeros_like(b), b.shape)

    @classmethod
    def private(cls, ctx: PartyContext, bits: np.ndarray | None, owner: int, shape: Sequence[int]) -> BitTensor:
        """Bits known to primary ``owner``: it holds them as its share, the other holds zeros."""
        if ctx.is_helper:
            return cls(ctx, None, shape)
        if ctx.party == owner:
            return cls(ctx, bits)
        return cls(ctx, np.zeros(tuple(shape), dtype=np.uint8))

    def _map(self, fn) -> BitTensor:
        if self.share is None:
            dummy = np.broadcast_to(np.zeros((), np.uint8), self.shape)
            return BitTensor(self.ctx, None, np.shape(fn(dummy)))
        return BitTensor(self.ctx, fn(self.share))

    def __getitem__(self, index: Index) -> BitTensor:
        return self._map(lambda s: s[index])

    def reshape(self, *shape: Any) -> BitTensor:
        return self._map(lambda s: s.reshape(*shape))

    def __xor__(self, other: BitTensor | np.ndarray | int) -> BitTensor:
        if isinstance(other, BitTensor):
            if self.share is None:
                return BitTensor(self.ctx, None, np.broadcast_shapes(self.shape, other.shape))
            return BitTensor(self.ctx, self.share ^ other.share)
        pub = np.asarray(other, dtype=np.uint8) & 1
        if self.share is None:
            return BitTensor(self.ctx, None, np.broadcast_shapes(self.shape, pub.shape))
        return BitTensor(self.ctx, self.share ^ pub if self.ctx.party == 0 else self.share ^ np.zeros_like(pub))

    def __invert__(self) -> BitTensor:
        return self ^ 1

    @staticmethod
    def concatenate(parts: Sequence[BitTensor], axis: int = -1) -> BitTensor:
        first = parts[0]
        if first.share is None:
            dummies = [np.broadcast_to(np.zeros((), np.uint8), p.shape) for p in parts]
            return BitTensor(first.ctx, None, np.concatenate(dummies, axis=axis).shape)
        return BitTensor(first.ctx, np.concatenate([p.share for p in parts], axis=axis))

    def reveal(self) -> np.ndarray | None:
        """Open the bits to both primaries (1 round, n bits each way)."""
        return reveal_bits(self)


# -- packing -------------------------------------------------------------------------------
def pack(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate bit arrays and pack them eight to a byte."""
    if not arrays:
        return np.zeros(0, np.uint8)
    return np.packbits(np.concatenate([a.reshape(-1) for a in arrays]))


def unpack(packed: np.ndarray, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Inverse of :func:`pack` given the shapes that went in."""
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    flat = np.unpackbits(packed, count=sum(sizes))
    out, at = [], 0
    for s, n in zip(shapes, sizes):
        out.append(flat[at : at + n].reshape(s))
        at += n
    return out


def packed_len(shapes: Sequence[tuple[int, ...]]) -> int:
    return (sum(int(np.prod(s, dtype=np.int64)) for s in shapes) + 7) // 8


def exchange_bits(ctx: PartyContext, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Send bit arrays to the other primary packed in one message; receive its same shapes."""
    shapes = [a.shape for a in arrays]
    ctx.send(ctx.other, pack(arrays))
    (theirs,) = ctx.recv(ctx.other, expect=[((packed_len(shapes),), np.uint8)])
    return unpack(theirs, shapes)


def deal_bits(ctx: PartyContext, values: Sequence[np.ndarray] | None, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray] | None:
    """XOR-share helper-computed bits: P0's halves from the P0-P2 PRG, P1's sent (offline)."""
    packed = deal_packed(ctx, values, shapes)
    return None if packed is None else unpack(packed, shapes)


def deal_packed(ctx: PartyContext, values: Sequence[np.ndarray] | None, shapes: Sequence[tuple[int, ...]]) -> np.ndarray | None:
    """:func:`deal_bits` with this primary's halves left packed (``pack`` order): P0's are
    PRG bytes (one AES byte per eight bits), P1's arrive offline; None on the helper."""
    n = packed_len(shapes)
    if ctx.party == 0:
        return ctx.prg(2).uint8(n)
    if ctx.party == 1:
        (packed,) = ctx.recv(2, expect=[((n,), np.uint8)])
        return packed
    assert values is not None
    ctx.send(1, pack(values) ^ ctx.prg(0).uint8(n), offline=True)
    return None


@protocol("reveal_bits")
def reveal_bits(x: BitTensor) -> np.ndarray | None:
    ctx = x.ctx
    if ctx.is_helper:
        return None
    (other,) = exchange_bits(ctx, [x.mine])
    return x.share ^ other


# -- AND gates -----------------------------------------------------------------------------
@protocol("band")
def band(x: BitTensor, y: BitTensor) -> BitTensor:
    """x AND y with one helper triple per bit: 1 round, 4 bits online + 1 offline per bit."""
    (z,) = _and_fanout(x, [(Ellipsis, y)])
    return z


@protocol("band_fanout")
def band_fanout(x: BitTensor, ys: Sequence[tuple[Index, BitTensor]]) -> list[BitTensor]:
    """``[x[idx_k] & y_k for (idx_k, y_k) in ys]`` in one round, opening ``x`` only once.

    A triple bit ``a`` masks x once; each product gets its own ``b_k`` and
    ``c_k = a[idx_k] & b_k``. Online: 2 bits per bit of x plus 2 per bit of each y_k
    (both directions); offline: 1 bit per product.
    """
    return _and_fanout(x, ys)


def _and_fanout(x: BitTensor, ys: Sequence[tuple[Index, BitTensor]]) -> list[BitTensor]:
    ctx = x.ctx
    out_shapes = [y.shape for _, y in ys]
    if ctx.is_helper:
        g0, g1 = ctx.prg(0), ctx.prg(1)
        a = g0.bits(x.shape) ^ g1.bits(x.shape)
        cs = []
        for (idx, y) in ys:
            b = g0.bits(y.shape) ^ g1.bits(y.shape)
            cs.append(np.broadcast_to(a[idx], y.shape) & b)
        deal_bits(ctx, cs, out_shapes)
        return [BitTensor(ctx, None, s) for s in out_shapes]
    g = ctx.prg(2)
    a = g.bits(x.shape)
    bs = [g.bits(y.shape) for _, y in ys]
    d_mine = x.share ^ a
    e_mine = [y.share ^ b for (_, y), b in zip(ys, bs)]
    d_other, *e_other = exchange_bits(ctx, [d_mine, *e_mine])
    d = d_mine ^ d_other
    cs = held(deal_bits(ctx, None, out_shapes))
    outs = []
    for (idx, _), b, em, eo, c in zip(ys, bs, e_mine, e_other, cs):
        e = em ^ eo
        di, ai = d[idx], a[idx]
        z = c ^ (di & b) ^ (e & ai)
        if ctx.party == 0:
            z = z ^ (di & e)
        outs.append(BitTensor(ctx, z))
    return outs


@protocol("and_private")
def and_private(
    ctx: PartyContext,
    xs: np.ndarray | None,
    ys: np.ndarray | None,
    pairs: tuple[np.ndarray, np.ndarray],
    batch_shape: tuple[int, ...],
    n_x: int,
    n_y: int,
) -> BitTensor:
    """Products of bits known to P0 with bits known to P1, XOR-shared, in one round.

    P0 holds ``xs`` of shape ``batch_shape + (n_x,)``, P1 holds ``ys`` of shape
    ``batch_shape + (n_y,)``; ``pairs = (i, j)`` index arrays of length K select the products
    ``xs[..., i_k] & ys[..., j_k]``. P0 sends ``xs ^ u`` and P1 sends ``ys ^ v`` (pads u, v
    from their PRG with the helper); the helper deals ``u_i & v_j`` per product (offline).
    Cost: 1 round; n_x + n_y bits online, K bits offline, per batch element.
    """
    pi, pj = pairs
    k_shape = batch_shape + (len(pi),)
    if ctx.is_helper:
        u = ctx.prg(0).bits(batch_shape + (n_x,))
        v = ctx.prg(1).bits(batch_shape + (n_y,))
        deal_bits(ctx, [u[..., pi] & v[..., pj]], [k_shape])
        return BitTensor(ctx, None, k_shape)
    pad = ctx.prg(2).bits(batch_shape + ((n_x,) if ctx.party == 0 else (n_y,)))
    mine = xs if ctx.party == 0 else ys
    other_len = n_y if ctx.party == 0 else n_x
    ctx.send(ctx.other, pack([mine ^ pad]))
    (packed,) = ctx.recv(ctx.other, expect=[((packed_len([batch_shape + (other_len,)]),), np.uint8)])
    (masked_other,) = unpack(packed, [batch_shape + (other_len,)])
    (w,) = held(deal_bits(ctx, None, [k_shape]))
    if ctx.party == 0:  # x & (y ^ v) ^ w0
        z = (held(xs)[..., pi] & masked_other[..., pj]) ^ w
    else:  # (x ^ u) & v ^ w1
        z = (masked_other[..., pi] & pad[..., pj]) ^ w
    return BitTensor(ctx, z)


# -- bits into the ring --------------------------------------------------------------------
class InjectedBits:
    """XOR-shared bits b, opened as z = b ^ r against helper bits r whose ring shares R the
    helper dealt. Then b = z + (1 - 2z) r is linear in R (:meth:`ring`), and a product
    b * x costs one opening of x - a and helper shares of r * a (:func:`bits_mul`).

    z is public to P0 and P1 (uniform: r is a fresh helper bit neither knows alone); P2
    keeps r (its own randomness) to deal later products; it never sees z.
    """

    __slots__ = ("R", "ctx", "r", "shape", "z")

    def __init__(
        self,
        ctx: PartyContext,
        shape: tuple[int, ...],
        z: np.ndarray | None = None,
        R: np.ndarray | None = None,
        r: np.ndarray | None = None,
    ) -> None:
        self.ctx, self.shape, self.z, self.R, self.r = ctx, tuple(shape), z, R, r

    def __repr__(self) -> str:
        return f"InjectedBits(party={self.ctx.name}, shape={self.shape})"

    def ring(self) -> SharedTensor:
        """Arithmetic shares of the bits as the plain integers 0/1 (local)."""
        if self.ctx.is_helper:
            return SharedTensor(self.ctx, None, self.shape)
        z = held(self.z).astype(DTYPE)
        share = (np.uint64(1) - z - z) * held(self.R)
        return SharedTensor(self.ctx, share + z if self.ctx.party == 0 else share)

    def mul(self, *xs: SharedTensor) -> list[SharedTensor]:
        """``[b * x for x in xs]`` (numpy broadcasting) in one round; see :func:`bits_mul`."""
        return bits_mul(self, *xs)


def _deal_products(
    ctx: PartyContext,
    r: np.ndarray | None,
    shape: tuple[int, ...],
    xs: Sequence[SharedTensor],
    with_ring: bool,
    ands: Sequence[tuple[Index, BitTensor]] = (),
    r_shares: np.ndarray | None = None,
    at: Index = Ellipsis,
) -> tuple[list[np.ndarray], np.ndarray | None, list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """The helper's dealing for :func:`inject_bits` / :func:`bits_mul`, in one offline message.

    Masks a_k for each x_k, ring shares R of the bits r (if ``with_ring``), ring shares of
    r * a_k, and for each AND operand y_m a mask bit u_m with XOR shares of r[idx_m] & u_m.
    P0 draws its shares from the P0-P2 PRG; P2 sends P1's. Returns (a_k, R, C_k, u_m, w_m)
    shares on P0/P1 (empty/None on P2). Products use the bits ``r[at]`` only.
    """
    bshape = np.broadcast_to(np.zeros((), np.uint8), shape)[at].shape
    pshapes = [np.broadcast_shapes(bshape, x.shape) for x in xs]
    ashapes = [y.shape for _, y in ands]
    if ctx.is_helper:
        r = held(r)
        g0, g1 = ctx.prg(0), ctx.prg(1)
        masks = [g0.uint64(x.shape) + g1.uint64(x.shape) for x in xs]
        us = [g0.bits(sh) ^ g1.bits(sh) for sh in ashapes]
        rr = r.astype(DTYPE)
        out = [rr - g0.uint64(shape)] if with_ring else []
        out += [rr[at] * a - g0.uint64(ps) for a, ps in zip(masks, pshapes)]
        if ands:
            ws = [np.broadcast_to(r[idx], sh) & u ^ g0.bits(sh) for (idx, _), u, sh in zip(ands, us, ashapes)]
            out.append(pack(ws))
        ctx.send(1, *out, offline=True)
        return [], None, [], [], []
    g = ctx.prg(2)
    masks = [g.uint64(x.shape) for x in xs]
    us = [g.bits(sh) for sh in ashapes]
    if ctx.party == 0:
        R = g.uint64(shape) if with_ring else None
        cs = [g.uint64(ps) for ps in pshapes]
        ws = [g.bits(sh) for sh in ashapes]
        return masks, R, cs, us, ws
    expect: list[tuple[tuple[int, ...], Any]] = ([(shape, DTYPE)] if with_ring else []) + [(ps, DTYPE) for ps in pshapes]
    if ands:
        expect.append(((packed_len(ashapes),), np.uint8))
    got = ctx.recv(2, expect=expect)
    R = got.pop(0) if with_ring else None
    ws = unpack(got.pop(), ashapes) if ands else []
    return masks, R, got, us, ws


def _products(ctx: PartyContext, z: np.ndarray, R: np.ndarray, masks, es, cs) -> list[SharedTensor]:
    """Shares of b * x = z e + z a + (1 - 2z)(r e + r a) for opened z and e = x - a."""
    zr = z.astype(DTYPE)
    one_minus_2z = np.uint64(1) - zr - zr
    outs = []
    for a, e, c in zip(masks, es, cs):
        p = one_minus_2z * (R * e + c) + zr * a
        outs.append(SharedTensor(ctx, p + zr * e if ctx.party == 0 else p))
    return outs


def _inject(
    bits: BitTensor, xs: Sequence[SharedTensor], ands: Sequence[tuple[Index, BitTensor]]
) -> tuple[InjectedBits, list[SharedTensor], list[BitTensor]]:
    ctx, shape = bits.ctx, bits.shape
    if ctx.is_helper:
        g0, g1 = ctx.prg(0), ctx.prg(1)
        r = g0.bits(shape) ^ g1.bits(shape)
        _deal_products(ctx, r, shape, xs, True, ands)
        outs = [SharedTensor(ctx, None, np.broadcast_shapes(shape, x.shape)) for x in xs]
        return InjectedBits(ctx, shape, r=r), outs, [BitTensor(ctx, None, y.shape) for _, y in ands]
    r = ctx.prg(2).bits(shape)  # this primary's XOR share of the helper bit
    masks, R, cs, us, ws = _deal_products(ctx, None, shape, xs, True, ands)
    z_mine = bits.share ^ r
    es_mine = [x.share - a for x, a in zip(xs, masks)]
    f_mine = [y.share ^ u for (_, y), u in zip(ands, us)]
    bit_shapes = [shape] + [y.shape for _, y in ands]
    ctx.send(ctx.other, pack([z_mine, *f_mine]), *es_mine)
    got = ctx.recv(ctx.other, expect=[((packed_len(bit_shapes),), np.uint8)] + [(x.shape, DTYPE) for x in xs])
    z_other, *f_other = unpack(got[0], bit_shapes)
    z = z_mine ^ z_other
    es = [m + o for m, o in zip(es_mine, got[1:])]
    anded = []
    for (idx, y), u, w, fm, fo in zip(ands, us, ws, f_mine, f_other):
        # b & y = (z ^ r) & (f ^ u) = z f ^ z u ^ r f ^ (r & u), with r & u dealt as w
        zi, ri, f = np.broadcast_to(z[idx], y.shape), np.broadcast_to(r[idx], y.shape), fm ^ fo
        v = (zi & u) ^ (ri & f) ^ w
        anded.append(BitTensor(ctx, v ^ (zi & f) if ctx.party == 0 else v))
    return InjectedBits(ctx, shape, z=z, R=R), _products(ctx, z, held(R), masks, es, cs), anded


@protocol("inject_bits")
def inject_bits(bits: BitTensor, xs: Sequence[SharedTensor] = ()) -> tuple[InjectedBits, list[SharedTensor]]:
    """Bring XOR-shared bits into the ring and multiply them by shared values, in one round.

    Returns the :class:`InjectedBits` (``.ring()`` gives arithmetic 0/1 shares) and
    ``[bits * x for x in xs]`` (numpy broadcasting, exact integer products: no truncation).
    Cost: 1 round; each way n_bits bits (packed) + 8 B per element of each x; offline
    (P2->P1) 8 B per bit + 8 B per element of each product.
    """
    injected, prods, _ = _inject(bits, xs, ())
    return injected, prods


@protocol("inject_bits_and")
def inject_bits_and(
    bits: BitTensor, xs: Sequence[SharedTensor], ands: Sequence[tuple[Index, BitTensor]]
) -> tuple[InjectedBits, list[SharedTensor], list[BitTensor]]:
    """:func:`inject_bits` plus ANDs ``bits[idx_m] & y_m`` of XOR-shared bits, same round.

    The helper bit r that masks ``bits`` doubles as the AND triples' first mask (z = bits ^ r
    is opened once); each y_m is opened as y_m ^ u_m with u_m a fresh helper bit. Extra cost
    per AND output bit: 1 bit each way, 1 bit offline.
    """
    return _inject(bits, xs, ands)


@protocol("inject_bits_at")
def inject_bits_at(bits: BitTensor, at: Index, xs: Sequence[SharedTensor]) -> tuple[InjectedBits, list[SharedTensor]]:
    """:func:`inject_bits` where only ``bits[at]`` multiplies the xs (the other bits are
    only brought into the ring): ``[bits[at] * x for x in xs]``. Cost: 1 round; each way
    n_bits bits (packed) + 8 B per element of each x; offline 8 B per bit + 8 B per element
    of each product (so a select plus one injected bit is 40.5 B per element, not 48.5)."""
    ctx, shape = bits.ctx, bits.shape
    if ctx.is_helper:
        g0, g1 = ctx.prg(0), ctx.prg(1)
        r = g0.bits(shape) ^ g1.bits(shape)
        _deal_products(ctx, r, shape, xs, True, at=at)
        sub = np.broadcast_to(np.zeros((), np.uint8), shape)[at].shape
        return InjectedBits(ctx, shape, r=r), [SharedTensor(ctx, None, np.broadcast_shapes(sub, x.shape)) for x in xs]
    r = ctx.prg(2).bits(shape)
    masks, R, cs, _, _ = _deal_products(ctx, None, shape, xs, True, at=at)
    z_mine = bits.mine ^ r
    es_mine = [x.mine - a for x, a in zip(xs, masks)]
    ctx.send(ctx.other, pack([z_mine]), *es_mine)
    got = ctx.recv(ctx.other, expect=[((packed_len([shape]),), np.uint8)] + [(x.shape, DTYPE) for x in xs])
    (z_other,) = unpack(got[0], [shape])
    z = z_mine ^ z_other
    es = [m + o for m, o in zip(es_mine, got[1:])]
    ring = held(R)
    return InjectedBits(ctx, shape, z=z, R=ring), _products(ctx, z[at], ring[at], masks, es, cs)


@protocol("bits_mul")
def bits_mul(bits: InjectedBits, *xs: SharedTensor) -> list[SharedTensor]:
    """``[bits * x for x in xs]`` for already injected bits: 1 round; each way 8 B per
    element of each x; offline (P2->P1) 8 B per element of each product. No bit is opened
    again; x - a is uniform (fresh mask a)."""
    ctx = bits.ctx
    if ctx.is_helper:
        _deal_products(ctx, bits.r, bits.shape, xs, with_ring=False)
        return [SharedTensor(ctx, None, np.broadcast_shapes(bits.shape, x.shape)) for x in xs]
    masks, _, cs, _, _ = _deal_products(ctx, None, bits.shape, xs, with_ring=False)
    es_mine = [x.share - a for x, a in zip(xs, masks)]
    es_other = ctx.exchange(ctx.other, *es_mine)
    es = [m + o for m, o in zip(es_mine, es_other)]
    return _products(ctx, held(bits.z), held(bits.R), masks, es, cs)


@protocol("b2a")
def b2a(b: BitTensor) -> SharedTensor:
    """Arithmetic shares of the plain integers 0/1 of XOR-shared bits.

    Open z = b ^ r for a helper bit r with dealt ring shares R; b = z + (1 - 2z) R is
    linear. 1 round; 1 bit each way (packed) online; 8 B offline (P2->P1) per bit.
    """
    injected, _ = inject_bits(b)
    return injected.ring()


@protocol("select_bits")
def select_bits(b: BitTensor, x: SharedTensor, y: SharedTensor | None = None) -> SharedTensor:
    """``b ? x : y`` (y defaults to 0; numpy broadcasting) for XOR-shared bits b, in one round.

    ``y + b (x - y)`` with one :func:`inject_bits` product; b is an integer, so there is no
    truncation. Cost with b and x - y of the same shape: 1 bit + 8 B each way, 16 B
    offline, i.e. 32.25 B per element; a bit shared by many values is opened once.
    """
    w = x if y is None else x - y
    _, (bw,) = inject_bits(b, [w])
    return bw if y is None else bw + y


# -- carry trees -------------------------------------------------------------------------
def carry_tree(G: BitTensor, P: BitTensor) -> BitTensor:
    """Reduce generate/propagate bits (G, P) over the last axis (low group first) to the
    carry out: ceil(log2 m) rounds of :func:`band_fanout` (P_hi opened once for both ANDs;
    the P of the lowest group is never used). Each way 3k - 1 bits and offline 2k - 1 bits
    per level of k pairs."""
    m = G.shape[-1]
    while m > 1:
        k = m // 2
        g_lo, g_hi = G[..., 0 : 2 * k : 2], G[..., 1 : 2 * k : 2]
        p_lo, p_hi = P[..., 0 : 2 * k : 2], P[..., 1 : 2 * k : 2]
        t_g, t_p = band_fanout(p_hi, [(Ellipsis, g_lo), ((Ellipsis, slice(1, None)), p_lo[..., 1:])])
        new_g = g_hi ^ t_g
        zero = BitTensor.local(G.ctx, np.zeros(t_p.shape[:-1] + (1,), np.uint8), t_p.shape[:-1] + (1,))
        new_p = BitTensor.concatenate([zero, t_p], axis=-1)
        if m % 2:
            new_g = BitTensor.concatenate([new_g, G[..., m - 1 : m]], axis=-1)
            new_p = BitTensor.concatenate([new_p, P[..., m - 1 : m]], axis=-1)
        G, P, m = new_g, new_p, k + m % 2
    return G[..., 0]


# -- addition of two privately held numbers, bit by bit ----------------------------------
@protocol("add_private")
def add_private(ctx: PartyContext, a: np.ndarray | None, b: np.ndarray | None, shape: tuple[int, ...], nbits: int) -> BitTensor:
    """XOR shares of the low ``nbits`` bits of a + b, where P0 holds a and P1 holds b (uint64).

    Generate/propagate bits (one round of private ANDs), then a Sklansky parallel prefix
    (ceil(log2 nbits) rounds, the propagate bit opened once per node for both ANDs), then
    ``s_i = p_i ^ c_i``. Used to decompose small shared integers into bits.
    """
    bshape = shape + (nbits,)
    shifts = np.arange(nbits, dtype=DTYPE)
    own = a if ctx.party == 0 else b
    bits = None if ctx.is_helper else ((held(own)[..., None] >> shifts) & np.uint64(1)).astype(np.uint8)
    eye = np.arange(nbits)
    g = and_private(ctx, bits if ctx.party == 0 else None, bits if ctx.party == 1 else None, (eye, eye), shape, nbits, nbits)
    p = BitTensor.local(ctx, bits, bshape)
    G, P = g, p
    level = 1
    while level < nbits:
        idx = np.array([i for i in range(nbits) if (i // level) % 2 == 1])
        src = (idx // level) * level - 1
        t_g, t_p = band_fanout(P[..., idx], [(Ellipsis, G[..., src]), (Ellipsis, P[..., src])])
        if not ctx.is_helper:
            g_new, p_new = G.mine.copy(), P.mine.copy()
            g_new[..., idx] ^= t_g.share
            p_new[..., idx] = t_p.share
            G, P = BitTensor(ctx, g_new), BitTensor(ctx, p_new)
        level *= 2
    if ctx.is_helper:
        return BitTensor(ctx, None, bshape)
    carries = np.concatenate([np.zeros(shape + (1,), np.uint8), G.mine[..., :-1]], axis=-1)
    return BitTensor(ctx, p.share ^ carries)
