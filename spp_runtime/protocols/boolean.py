"""XOR-shared bits between P0 and P1, with helper-dealt AND triples (GMW with a dealer).

A :class:`BitTensor` holds, on P0 and P1, uint8 arrays of 0/1 whose XOR is the secret bit;
the helper P2 holds only the shape. XOR and NOT are local. On the wire bits are packed eight
to a byte (``np.packbits``), so "n bits" below costs ``ceil(n/8)`` bytes per message.

Costs per output bit (rounds, bits opened on p0->p1 + p1->p0, offline bits p2->p1):

==========================  ======  ==========  ==========================================
protocol                    rounds  online      offline (helper)
==========================  ======  ==========  ==========================================
band (x & y)                1       2 + 2       1 (share of c = a & b)
band_fanout (x & y_k)       1       2 + 2 per   1 per product; x is opened once for all
                                    x, + 2 per
                                    extra y_k
and_private (x@P0 & y@P1)   1       1 per x, 1  1 per product
                                    per y
b2a (bit -> ring 0/1)       1       1 + 1       64 (ring share of r)
select_bits (b ? x : y)     1       1+1 bits    128 (ring shares of r and a*r):
                                    + 64+64     32.25 B per element in all
==========================  ======  ==========  ==========================================

Security. In ``band`` the primaries open ``x ^ a`` and ``y ^ b`` for triple bits they do
not know (a, b come from the PRG each shares with the helper, and the other primary's half is
unknown), so the opened bits are uniform. In ``and_private`` each primary sends its bit XOR a
helper-PRG pad the other cannot compute. ``b2a`` and ``select_bits`` open ``b ^ r`` (uniform:
r is the helper's random bit) and ``w - a`` (uniform ring mask). The helper receives nothing
online in any of these; its only traffic is input-independent (offline).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..engine.context import PartyContext, protocol
from ..ring import DTYPE
from ..tensor import SharedTensor

Index = Any  # anything numpy accepts as an index on the last axes


class BitTensor:
    """An XOR-shared tensor of bits as one party sees it (P2: shape only)."""

    __slots__ = ("ctx", "share", "shape")

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

    def __repr__(self) -> str:
        return f"BitTensor(party={self.ctx.name}, shape={self.shape})"

    @classmethod
    def local(cls, ctx: PartyContext, bits: np.ndarray | None, shape: Sequence[int]) -> "BitTensor":
        """Wrap a share computed locally (None on the helper)."""
        return cls(ctx, None if ctx.is_helper else bits, shape)

    @classmethod
    def public(cls, ctx: PartyContext, bits: np.ndarray) -> "BitTensor":
        """A public bit array shared trivially (P0 holds it, P1 holds zeros)."""
        b = np.asarray(bits, dtype=np.uint8) & 1
        return cls.local(ctx, b if ctx.party == 0 else np.zeros_like(b), b.shape)

    @classmethod
    def private(cls, ctx: PartyContext, bits: np.ndarray | None, owner: int, shape: Sequence[int]) -> "BitTensor":
        """Bits known to primary ``owner``: it holds them as its share, the other holds zeros."""
        if ctx.is_helper:
            return cls(ctx, None, shape)
        if ctx.party == owner:
            return cls(ctx, bits)
        return cls(ctx, np.zeros(tuple(shape), dtype=np.uint8))

    def _map(self, fn) -> "BitTensor":
        if self.share is None:
            dummy = np.broadcast_to(np.zeros((), np.uint8), self.shape)
            return BitTensor(self.ctx, None, np.shape(fn(dummy)))
        return BitTensor(self.ctx, fn(self.share))

    def __getitem__(self, index: Index) -> "BitTensor":
        return self._map(lambda s: s[index])

    def reshape(self, *shape: Any) -> "BitTensor":
        return self._map(lambda s: s.reshape(*shape))

    def __xor__(self, other: "BitTensor | np.ndarray | int") -> "BitTensor":
        if isinstance(other, BitTensor):
            if self.share is None:
                return BitTensor(self.ctx, None, np.broadcast_shapes(self.shape, other.shape))
            return BitTensor(self.ctx, self.share ^ other.share)
        pub = np.asarray(other, dtype=np.uint8) & 1
        if self.share is None:
            return BitTensor(self.ctx, None, np.broadcast_shapes(self.shape, pub.shape))
        return BitTensor(self.ctx, self.share ^ pub if self.ctx.party == 0 else self.share ^ np.zeros_like(pub))

    def __invert__(self) -> "BitTensor":
        return self ^ 1

    @staticmethod
    def concatenate(parts: Sequence["BitTensor"], axis: int = -1) -> "BitTensor":
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
    if ctx.party == 0:
        return [ctx.prg(2).bits(s) for s in shapes]
    if ctx.party == 1:
        (packed,) = ctx.recv(2, expect=[((packed_len(shapes),), np.uint8)])
        return unpack(packed, shapes)
    assert values is not None
    halves = [ctx.prg(0).bits(s) for s in shapes]
    ctx.send(1, pack([v ^ h for v, h in zip(values, halves)]), offline=True)
    return None


@protocol("reveal_bits")
def reveal_bits(x: BitTensor) -> np.ndarray | None:
    ctx = x.ctx
    if ctx.is_helper:
        return None
    (other,) = exchange_bits(ctx, [x.share])
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
    cs = deal_bits(ctx, None, out_shapes)
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
    (w,) = deal_bits(ctx, None, [k_shape])
    if ctx.party == 0:  # x & (y ^ v) ^ w0
        z = (xs[..., pi] & masked_other[..., pj]) ^ w
    else:  # (x ^ u) & v ^ w1
        z = (masked_other[..., pi] & pad[..., pj]) ^ w
    return BitTensor(ctx, z)


# -- bits to the ring ----------------------------------------------------------------------
def _deal_bit_and_ring(ctx: PartyContext, shape: tuple[int, ...], with_mask: bool):
    """Helper-dealt random bit r (XOR shares), its ring shares R and optionally a ring mask
    a with ring shares of a*r. Returns (r_i, R_i, a_i, c_i) on P0/P1, Nones on P2."""
    if ctx.is_helper:
        g0, g1 = ctx.prg(0), ctx.prg(1)
        r = g0.bits(shape) ^ g1.bits(shape)
        a = (g0.uint64(shape) + g1.uint64(shape)) if with_mask else None
        r_ring = r.astype(DTYPE)
        R0 = g0.uint64(shape)
        send = [r_ring - R0]
        if with_mask:
            c0 = g0.uint64(shape)
            send.append(a * r_ring - c0)
        ctx.send(1, *send, offline=True)
        return None, None, None, None
    g = ctx.prg(2)
    r = g.bits(shape)
    a = g.uint64(shape) if with_mask else None
    if ctx.party == 0:
        R = g.uint64(shape)
        c = g.uint64(shape) if with_mask else None
    else:
        got = ctx.recv(2, expect=[(shape, DTYPE)] * (2 if with_mask else 1))
        R, c = got[0], (got[1] if with_mask else None)
    return r, R, a, c


@protocol("b2a")
def b2a(b: BitTensor) -> SharedTensor:
    """Arithmetic shares of the plain integer 0/1 of an XOR-shared bit.

    Open ``z = b ^ r`` for a helper bit r whose ring shares R the helper deals; then
    ``b = z + (1 - 2z) r`` is linear in R. 1 round; 1 bit each way online; 8 B offline.
    """
    ctx = b.ctx
    if ctx.is_helper:
        _deal_bit_and_ring(ctx, b.shape, with_mask=False)
        return SharedTensor(ctx, None, b.shape)
    r, R, _, _ = _deal_bit_and_ring(ctx, b.shape, with_mask=False)
    z_mine = b.share ^ r
    (z_other,) = exchange_bits(ctx, [z_mine])
    z = (z_mine ^ z_other).astype(DTYPE)
    one_minus_2z = np.uint64(1) - z - z
    share = one_minus_2z * R + (z if ctx.party == 0 else np.uint64(0))
    return SharedTensor(ctx, share)


@protocol("select_bits")
def select_bits(b: BitTensor, x: SharedTensor, y: SharedTensor | None = None) -> SharedTensor:
    """``b ? x : y`` for an XOR-shared bit b (y defaults to 0), in one round.

    With w = x - y, open ``z = b ^ r`` and ``e = w - a`` together; the helper deals ring shares
    of r and of a*r, so ``b*w = z e + z a + (1 - 2z)(r e + a r)`` is local. No truncation (b is
    an integer). Online: 1 bit + 8 B each way; offline: 16 B (per element of the output).
    """
    ctx = b.ctx
    w = x if y is None else x - y
    shape = np.broadcast_shapes(b.shape, w.shape)
    if ctx.is_helper:
        _deal_bit_and_ring(ctx, shape, with_mask=True)
        return SharedTensor(ctx, None, shape)
    r, R, a, c = _deal_bit_and_ring(ctx, shape, with_mask=True)
    z_mine = np.broadcast_to(b.share, shape) ^ r
    e_mine = np.broadcast_to(w.share, shape) - a
    ctx.send(ctx.other, pack([z_mine]), e_mine)
    zp, e_other = ctx.recv(ctx.other, expect=[((packed_len([shape]),), np.uint8), (shape, DTYPE)])
    (z_other,) = unpack(zp, [shape])
    z = (z_mine ^ z_other).astype(DTYPE)
    e = e_mine + e_other
    bw = z * a + (np.uint64(1) - z - z) * (R * e + c)
    if ctx.party == 0:
        bw = bw + z * e
    out = SharedTensor(ctx, bw)
    return out if y is None else out + y


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
    bits = None if ctx.is_helper else ((own[..., None] >> shifts) & np.uint64(1)).astype(np.uint8)
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
            g_new, p_new = G.share.copy(), P.share.copy()
            g_new[..., idx] ^= t_g.share
            p_new[..., idx] = t_p.share
            G, P = BitTensor(ctx, g_new), BitTensor(ctx, p_new)
        level *= 2
    if ctx.is_helper:
        return BitTensor(ctx, None, bshape)
    carries = np.concatenate([np.zeros(shape + (1,), np.uint8), G.share[..., :-1]], axis=-1)
    return BitTensor(ctx, p.share ^ carries)
