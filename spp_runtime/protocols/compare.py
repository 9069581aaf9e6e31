"""Sign, comparison, ReLU and selection: our default protocols and SecureNN's, by name.

Variants: ``"default"`` (ours, below) and ``"securenn"`` (Wagh, Gupta, Chandran 2018,
in :mod:`spp_runtime.protocols.securenn`). Comparison results are arithmetic shares of the
plain integers 0/1 (not fixed-point encoded) unless a function says it returns a BitTensor.

Default MSB. For x = x0 + x1 mod 2^64, ``msb(x) = msb(x0) ^ msb(x1) ^ carry``, where carry is
the carry out of adding the low 63 bits of x0 (P0 knows them) and of x1 (P1 knows them): a
comparison of two *privately held* numbers, so no bit decomposition of a shared value is
needed. The carry is a generate/propagate tree on XOR-shared bits:

* round 1: for 2-bit groups, G = g_hi ^ p_hi g_lo and P = p_hi p_lo expand into XORs of
  products of a P0 monomial and a P1 monomial (``a_hi a_lo & b_lo``, ``a_lo & b_hi b_lo``,
  ...), all computed at once with :func:`~.boolean.and_private` (31 groups of 2 bits + the
  top bit 62: 94 opened bits per side, 154 helper bits);
* rounds 2-6: a binary tree over the 32 groups, each node ``G = G_hi ^ (P_hi & G_lo)``,
  ``P = P_hi & P_lo`` with ``P_hi`` opened once for both ANDs (the P of the group holding
  bit 0 is never needed): 88 opened bits per side and 57 helper bits over the 5 levels.

Costs per element (p0<->p1 online bits both directions; p2->p1 offline bits):

============  ======  ===============================================  ============
protocol      rounds  bytes (online + offline)                         SecureNN
============  ======  ===============================================  ============
msb_bits      6       575 bits = 71.875 B (364 online, 211 offline)    --
drelu         7       msb_bits + b2a: 641 bits = 80.125 B              8, 664 B
relu          7       msb_bits + select_bits: 833 bits = 104.125 B     10, 704 B
============  ======  ===============================================  ============

Exact for every ring element (no range assumption: the true MSB of x0 + x1 is computed).
Security: every opened bit is XOR-masked by helper-PRG bits the receiver does not know
(:mod:`.boolean`); the helper receives nothing online. So each party's view is uniform and
independent of x.
"""

from __future__ import annotations

import numpy as np

from ..engine.context import protocol
from ..ring import DTYPE
from ..tensor import SharedTensor
from .boolean import BitTensor, and_private, b2a, band_fanout, select_bits

VARIANTS = ("default", "securenn")

# Monomials per 2-bit group: P0 knows (a_lo, a_hi, a_hi a_lo), P1 knows (b_lo, b_hi, b_hi b_lo).
_LO, _HI, _BOTH = 0, 1, 2
# Products per group: three for G, two cross terms for P.
_G_PRODUCTS = ((_HI, _HI), (_BOTH, _LO), (_LO, _BOTH))
_P_PRODUCTS = ((_HI, _LO), (_LO, _HI))
N_GROUPS = 31  # bits 0..61 in pairs; bit 62 is a group of its own


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")


def _bits_of(share: np.ndarray, n: int) -> np.ndarray:
    """The low n bits of each element, LSB first, as uint8 of shape (..., n)."""
    shifts = np.arange(n, dtype=DTYPE)
    return ((share[..., None] >> shifts) & np.uint64(1)).astype(np.uint8)


def _monomials(bits63: np.ndarray) -> np.ndarray:
    """Per element: [lo, hi, hi&lo] for each of the 31 groups, then bit 62: shape (..., 94)."""
    lo, hi = bits63[..., 0:62:2], bits63[..., 1:62:2]
    mono = np.stack([lo, hi, hi & lo], axis=-1).reshape(*bits63.shape[:-1], 3 * N_GROUPS)
    return np.concatenate([mono, bits63[..., 62:63]], axis=-1)


def _product_index() -> tuple[np.ndarray, np.ndarray, int, int]:
    """Index pairs into the monomial vectors; returns (i, j, n_g, n_p) where the first n_g
    products feed the groups' G and the next n_p their P cross terms (groups 1..30)."""
    gi, gj, pi, pj = [], [], [], []
    for g in range(N_GROUPS):
        for s, t in _G_PRODUCTS:
            gi.append(3 * g + s)
            gj.append(3 * g + t)
        if g > 0:
            for s, t in _P_PRODUCTS:
                pi.append(3 * g + s)
                pj.append(3 * g + t)
    top = 3 * N_GROUPS
    gi.append(top)
    gj.append(top)
    return np.array(gi + pi), np.array(gj + pj), len(gi), len(pi)


_PI, _PJ, _NG, _NP = _product_index()


def carry_out(x: SharedTensor) -> BitTensor:
    """XOR shares of the carry out of (x0 mod 2^63) + (x1 mod 2^63). 6 rounds."""
    return carry_and_top(x, with_top=False)[0]


def carry_and_top(x: SharedTensor, with_top: bool) -> tuple[BitTensor, BitTensor | None]:
    """The carry out of the low 63 bits and, if asked, ``g63 = a63 & b63`` (the AND of the
    two shares' top bits) from the same first round. 6 rounds."""
    ctx = x.ctx
    shape = x.shape
    if ctx.is_helper:
        mono_x = mono_y = None
    else:
        bits = _bits_of(x.share, 64)
        mono = _monomials(bits[..., :63])
        if with_top:
            mono = np.concatenate([mono, bits[..., 63:64]], axis=-1)
        mono_x, mono_y = (mono, None) if ctx.party == 0 else (None, mono)
    n_mono = 3 * N_GROUPS + 1 + int(with_top)
    pi, pj = (_PI, _PJ) if not with_top else (np.append(_PI, n_mono - 1), np.append(_PJ, n_mono - 1))
    prods = and_private(ctx, mono_x, mono_y, (pi, pj), shape, n_mono, n_mono)
    top = prods[..., -1] if with_top else None
    if with_top:
        prods = prods[..., :-1]
    # G of each group: XOR of its three G products (bit 62: its single product).
    g_prod = prods[..., : 3 * N_GROUPS]
    if ctx.is_helper:
        G = BitTensor(ctx, None, shape + (N_GROUPS + 1,))
        P = BitTensor(ctx, None, shape + (N_GROUPS + 1,))
    else:
        gp = g_prod.share.reshape(*shape, N_GROUPS, 3)
        G_groups = gp[..., 0] ^ gp[..., 1] ^ gp[..., 2]
        G_top = prods.share[..., 3 * N_GROUPS : _NG]
        cross = prods.share[..., _NG:].reshape(*shape, N_GROUPS - 1, 2)
        local_both = mono[..., 2 : 3 * N_GROUPS : 3]  # a_hi a_lo (P0) or b_hi b_lo (P1)
        P_groups = local_both.copy()
        P_groups[..., 1:] ^= cross[..., 0] ^ cross[..., 1]
        P_groups[..., 0] = 0  # the P of the group holding bit 0 is never used
        P_top = mono[..., 3 * N_GROUPS :]  # a62 (P0) or b62 (P1): p62 = a62 ^ b62
        P_top = P_top[..., :1]
        G = BitTensor(ctx, np.concatenate([G_groups, G_top], axis=-1))
        P = BitTensor(ctx, np.concatenate([P_groups, P_top], axis=-1))
    return _carry_tree(G, P), top


def _carry_tree(G: BitTensor, P: BitTensor) -> BitTensor:
    """Reduce (G, P) over the last axis (low group first) to the carry out; log2 rounds."""
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


@protocol("msb_bits")
def msb_bits(x: SharedTensor) -> BitTensor:
    """XOR shares of the most significant (sign) bit of x. 6 rounds, ~71.9 B per element."""
    carry = carry_out(x)
    if x.ctx.is_helper:
        return carry
    top = (x.share >> np.uint64(63)).astype(np.uint8)
    return BitTensor(x.ctx, carry.share ^ top)


@protocol("msb")
def msb(x: SharedTensor, variant: str = "default") -> SharedTensor:
    """Arithmetic shares of MSB(x) in {0, 1}."""
    check_variant(variant)
    if variant == "securenn":
        from . import securenn

        return securenn.msb(x)
    return b2a(msb_bits(x))


@protocol("drelu")
def drelu(x: SharedTensor, variant: str = "default") -> SharedTensor:
    """Arithmetic shares of [x >= 0] in {0, 1}. Default: 7 rounds, ~80 B per element."""
    check_variant(variant)
    if variant == "securenn":
        from . import securenn

        return securenn.drelu(x)
    return b2a(~msb_bits(x))


@protocol("relu")
def relu(x: SharedTensor, variant: str = "default") -> SharedTensor:
    """max(x, 0). Default: 7 rounds, ~104 B per element; SecureNN: 10 rounds, 704 B."""
    check_variant(variant)
    if variant == "securenn":
        from . import securenn

        return securenn.relu(x)
    return select_bits(~msb_bits(x), x)


def select(bit: SharedTensor | BitTensor, x: SharedTensor, y: SharedTensor | None = None) -> SharedTensor:
    """``bit ? x : y`` (y defaults to 0) for a bit given as a BitTensor or as ring 0/1 shares."""
    if isinstance(bit, BitTensor):
        return select_bits(bit, x, y)
    from .beaver import mul

    w = x if y is None else x - y
    out = mul(bit, w, truncate=False)
    return out if y is None else out + y


@protocol("less_than")
def less_than_bits(x: SharedTensor, y: SharedTensor | float) -> BitTensor:
    """XOR shares of [x < y] (exact while |x - y| < 2^63 in ring units)."""
    d = x - y
    return msb_bits(d)


def less_than(x: SharedTensor, y: SharedTensor | float) -> SharedTensor:
    """Arithmetic 0/1 shares of [x < y]."""
    return b2a(less_than_bits(x, y))


def maximum(x: SharedTensor, y: SharedTensor) -> SharedTensor:
    """Elementwise max(x, y): one comparison and one select (7 rounds)."""
    return select_bits(less_than_bits(x, y), y, x)
