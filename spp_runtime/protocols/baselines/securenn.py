"""SecureNN's comparison family, faithfully (Wagh, Gupta, Chandran, PoPETs 2019).

PrivateCompare on bit shares over Z_p (p = 67, one byte per element), ShareConvert from
Z_L to Z_{L-1} (L = 2^64), ComputeMSB over Z_{L-1}, DReLU = 1 - MSB(2a), SelectShare and
ReLU = SelectShare(DReLU(a), a, 0). As in the paper, the helper sends *both* shares of
everything it deals in PrivateCompare, ShareConvert and ComputeMSB (no PRG compression);
its products (MatMul) send one share, as the paper's 5l per product assumes. Every message
the helper sends is counted in the bytes, online or offline, the way the paper's Table 1
counts them. With l = 64 and log p = 8 (one byte per Z_p element), per element:

===============  ======  ===========================  =========
protocol         rounds  bits per element              bytes
===============  ======  ===========================  =========
private_compare  1       2 l log p          = 1024     128
share_convert    4       4 l log p + 6 l    = 2432     304
compute_msb      4       4 l log p + 13 l   = 2880     360
select_share     2       5 l                = 320      40
drelu            8       8 l log p + 19 l   = 5312     664
relu             9 (*)   8 l log p + 24 l   = 5632     704
===============  ======  ===========================  =========

Rounds are measured, not summed: the engine's Lamport clocks give the longest chain of
dependent messages. ``select_share`` is SecureNN's MatMul: the helper deals the product's
share first and P1 waits for it before opening, 2 rounds on its own, as in the paper.
(*) The paper's ReLU is DReLU (8) + SelectShare (2) = 10 rounds, a sequential sum; run
after DReLU, the helper's dealing message travels while P0 and P1 still finish DReLU's last
round (the helper has nothing left to wait for), so the measured chain is 9. The tests
assert both: 8 + 2 on the parts and 9 on the composition. ComputeMSB's first message (the
helper's shares of x and its bits) depends on no input and is sent offline, which is how
the paper's 4 rounds for ComputeMSB count it.

Range: DReLU/ReLU follow the paper and look at MSB(2a), so they are correct for
|a| < 2^62 ring units (|x| < 2^46 for 16 fractional bits).

Security (the paper's argument, per party). P2 receives a + r for a uniform r unknown to it
(ShareConvert), and in PrivateCompare the values s_i c_i for uniform nonzero s_i, randomly
permuted, with the comparison result XORed with a random bit beta it does not know: the
multiset is (one zero or none, the rest uniform nonzero) with the "one zero" case having
probability 1/2 whatever the inputs. P0 and P1 receive fresh shares from P2 (uniform),
the opened r = 2a + x for uniform x (uniform in Z_{L-1}), and the Beaver openings x - a,
y - b (uniform).
"""

from __future__ import annotations

import numpy as np

from ...engine.context import PartyContext, protocol
from ...ring import DTYPE
from ...tensor import SharedTensor, held, mul

P = 67
BITS = 64
M = np.uint64(2**64 - 1)  # the odd modulus L - 1
_SHIFTS_MSB_FIRST = np.arange(BITS - 1, -1, -1, dtype=DTYPE)


# -- arithmetic modulo L - 1 ---------------------------------------------------------------
def _mod_m(a: np.ndarray) -> np.ndarray:
    return np.where(a == M, np.uint64(0), a)


def add_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a + b) mod (2^64 - 1) for a, b in [0, 2^64 - 1)."""
    s = a + b
    s = s + (s < a).astype(DTYPE)  # an overflow of 2^64 is 1 modulo L - 1
    return _mod_m(s)


def neg_m(a: np.ndarray) -> np.ndarray:
    return np.where(a == 0, np.uint64(0), M - a)


def sub_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return add_m(a, neg_m(b))


def _uniform_m(ctx: PartyContext, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform in [0, 2^64 - 1) from the party's own CSPRNG-keyed PRG."""
    v = ctx.rng.uint64(shape)
    while (bad := v == M).any():
        v[bad] = ctx.rng.uint64(int(bad.sum()))
    return v


def _wrap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 where a + b overflows 2^64."""
    return ((a + b) < a).astype(DTYPE)


def _bits_msb_first(v: np.ndarray) -> np.ndarray:
    return ((v[..., None] >> _SHIFTS_MSB_FIRST) & np.uint64(1)).astype(np.int64)


def _share_zp(ctx: PartyContext, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s0 = ctx.rng.integers(P, values.shape).astype(np.int64)
    return s0.astype(np.uint8), ((values - s0) % P).astype(np.uint8)


def _share_m(ctx: PartyContext, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s0 = _uniform_m(ctx, values.shape)
    return s0, sub_m(_mod_m(values.astype(DTYPE)), s0)


def _share_l(ctx: PartyContext, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s0 = ctx.rng.uint64(values.shape)
    return s0, values.astype(DTYPE) - s0


# -- PrivateCompare ------------------------------------------------------------------------
@protocol("private_compare")
def private_compare(
    ctx: PartyContext, x_bits: np.ndarray | None, r: np.ndarray | None, beta: np.ndarray | None, shape: tuple[int, ...]
) -> np.ndarray | None:
    """P2 learns ``beta ^ (x > r)``; P0/P1 hold Z_p shares of the 64 bits of x (MSB first),
    the public r and a common random bit beta. 1 round; 64 B from each primary to P2."""
    long_shape = shape + (BITS,)
    if ctx.is_helper:
        d0, d1 = (ctx.recv(p, expect=[(long_shape, np.uint8)])[0] for p in (0, 1))
        d = (d0.astype(np.int64) + d1) % P
        return (d == 0).any(axis=-1).astype(np.uint8)
    g = ctx.prg(ctx.other)  # common randomness of P0 and P1
    u = g.integers(P, long_shape).astype(np.int64)
    s = g.integers(P - 1, long_shape).astype(np.int64) + 1
    perm = np.argsort(g.uint64(long_shape), axis=-1)
    j = ctx.party
    x, r, beta = held(x_bits).astype(np.int64), held(r), held(beta)
    max_r = r == np.uint64(2**64 - 1)
    t = np.where((beta == 1) & ~max_r, r + np.uint64(1), r)
    tb = _bits_msb_first(t)
    w = x + (tb if j == 0 else 0) - 2 * tb * x  # shares of x_k XOR t_k
    higher = np.cumsum(w, axis=-1) - w  # sum over more significant bits
    b = beta[..., None].astype(np.int64)
    if j == 0:
        c = np.where(b == 0, tb + 1 - x, 1 - tb + x) + higher
    else:
        c = np.where(b == 0, -x, x) + higher
    special = ((beta == 1) & max_r)[..., None]
    k_nonzero = (np.arange(BITS) != 0).astype(np.int64)
    c_special = (k_nonzero - u) if j == 0 else u
    c = np.where(special, c_special, c)
    d = (c % P) * s % P
    d = np.take_along_axis(d, perm, axis=-1)
    ctx.send(2, d.astype(np.uint8))
    return None


# -- ShareConvert --------------------------------------------------------------------------
@protocol("share_convert")
def share_convert(a: SharedTensor) -> np.ndarray | None:
    """Shares of a over Z_{L-1} from shares over Z_L (a != L - 1). 4 rounds, 304 B/element."""
    ctx, shape = a.ctx, a.shape
    if ctx.is_helper:
        t0, t1 = (ctx.recv(p, expect=[(shape, DTYPE)])[0] for p in (0, 1))
        x = t0 + t1
        delta = _wrap(t0, t1)
        bits0, bits1 = _share_zp(ctx, _bits_msb_first(x))
        del0, del1 = _share_m(ctx, delta)
        ctx.send(0, bits0, del0)
        ctx.send(1, bits1, del1)
        eta_p = private_compare(ctx, None, None, None, shape)
        e0, e1 = _share_m(ctx, held(eta_p))
        ctx.send(0, e0)
        ctx.send(1, e1)
        return None
    g = ctx.prg(ctx.other)
    r0, r1 = g.uint64(shape), g.uint64(shape)
    eta_dp = g.bits(shape)
    r = r0 + r1
    alpha = _wrap(r0, r1)
    rj = r0 if ctx.party == 0 else r1
    a_tilde = a.mine + rj
    beta_j = _wrap(a.mine, rj)
    ctx.send(2, a_tilde)
    bits, delta_j = ctx.recv(2, expect=[(shape + (BITS,), np.uint8), (shape, DTYPE)])
    private_compare(ctx, bits, r - np.uint64(1), eta_dp, shape)
    (eta_p_j,) = ctx.recv(2, expect=[(shape, DTYPE)])
    # [x > r - 1] = eta' XOR eta''; eta = [x < r] = 1 - that.
    xor = np.where(eta_dp == 1, sub_m(_one_m(ctx, shape), eta_p_j), eta_p_j)
    eta_j = sub_m(_one_m(ctx, shape), xor)
    theta = add_m(_mod_m(beta_j), delta_j)
    theta = sub_m(theta, eta_j)
    if ctx.party == 0:
        theta = sub_m(theta, alpha)
    return sub_m(_mod_m(a.mine), theta)


def _one_m(ctx: PartyContext, shape: tuple[int, ...]) -> np.ndarray:
    """P0's share of the constant 1 (P1's is 0)."""
    return np.full(shape, 1 if ctx.party == 0 else 0, dtype=DTYPE)


# -- ComputeMSB ----------------------------------------------------------------------------
@protocol("compute_msb")
def compute_msb(ctx: PartyContext, y: np.ndarray | None, shape: tuple[int, ...]) -> SharedTensor:
    """Shares over Z_L of MSB(y) for y shared over Z_{L-1}. 4 rounds, 360 B/element."""
    if ctx.is_helper:
        x = _uniform_m(ctx, shape)
        x0, x1 = _share_m(ctx, x)
        b0, b1 = _share_zp(ctx, _bits_msb_first(x))
        l0, l1 = _share_l(ctx, x & np.uint64(1))
        ctx.send(0, x0, b0, l0, offline=True)
        ctx.send(1, x1, b1, l1, offline=True)
        gamma_p = private_compare(ctx, None, None, None, shape)
        g0, g1 = _share_l(ctx, held(gamma_p))
        ctx.send(0, g0)
        ctx.send(1, g1)
        z = SharedTensor(ctx, None, shape)
        mul(z, z, truncate=False)
        return z
    x_j, bits, lsb_j = ctx.recv(2, expect=[(shape, DTYPE), (shape + (BITS,), np.uint8), (shape, DTYPE)])
    y = held(y)
    c_mine = add_m(add_m(y, y), x_j)
    (c_other,) = ctx.exchange(ctx.other, c_mine)
    r = add_m(c_mine, c_other)
    beta = ctx.prg(ctx.other).bits(shape)
    private_compare(ctx, bits, r, beta, shape)
    (gamma_p,) = ctx.recv(2, expect=[(shape, DTYPE)])
    one = np.uint64(1) if ctx.party == 0 else np.uint64(0)
    gamma = np.where(beta == 1, one - gamma_p, gamma_p)
    r0 = (r & np.uint64(1)) == 1
    delta = np.where(r0, one - lsb_j, lsb_j)
    g, d = SharedTensor(ctx, gamma), SharedTensor(ctx, delta)
    prod = mul(g, d, truncate=False)
    return g + d - prod.mul_int(2)


# -- SelectShare (SecureNN's MatMul with the dealer's message first) ------------------------
def _product_dealt_first(x: SharedTensor, y: SharedTensor) -> SharedTensor:
    """x * y (no truncation) as SecureNN's MatMul: P2 deals the triple, then P0 and P1 open.

    a, b and P0's share of c come from the PRGs each primary shares with P2; P2 sends P1 its
    share of c (8 B, online) and P1 opens only after receiving it. Then the primaries
    exchange x - a and y - b (16 B each way). 2 rounds, 40 B per element.
    """
    ctx = x.ctx
    shape = np.broadcast_shapes(x.shape, y.shape)
    if ctx.is_helper:
        g0, g1 = ctx.prg(0), ctx.prg(1)
        a = g0.uint64(x.shape) + g1.uint64(x.shape)
        b = g0.uint64(y.shape) + g1.uint64(y.shape)
        ctx.send(1, a * b - g0.uint64(shape))
        return SharedTensor(ctx, None, shape)
    g = ctx.prg(2)
    a, b = g.uint64(x.shape), g.uint64(y.shape)
    if ctx.party == 0:
        c = g.uint64(shape)
    else:
        (c,) = ctx.recv(2, expect=[(shape, DTYPE)])
    e_mine, f_mine = x.share - a, y.share - b
    e_other, f_other = ctx.exchange(ctx.other, e_mine, f_mine)
    e, f = e_mine + e_other, f_mine + f_other
    z = e * b + a * f + c + (e * f if ctx.party == 0 else np.uint64(0))
    return SharedTensor(ctx, z)


@protocol("select_share")
def select_share(bit: SharedTensor, x: SharedTensor, y: SharedTensor | None = None) -> SharedTensor:
    """SecureNN's SelectShare: ``bit ? x : y`` (y defaults to 0) for ring 0/1 shares of bit.

    ``y + bit * (x - y)`` with one product dealt as in the paper's MatMul: 2 rounds, 5 l bits
    = 40 B per element (P2->P1 8, P0->P1 16, P1->P0 16). The product's openings are uniform
    (Beaver masks); P2 receives nothing.
    """
    w = x if y is None else x - y
    out = _product_dealt_first(bit, w)
    return out if y is None else out + y


# -- DReLU and ReLU ------------------------------------------------------------------------
def msb(x: SharedTensor) -> SharedTensor:
    """Shares over Z_L of MSB(2x) (= MSB(x) for |x| < 2^62): ShareConvert then ComputeMSB."""
    two_x = x.mul_int(2)
    y = share_convert(two_x)
    return compute_msb(x.ctx, y, x.shape)


@protocol("drelu_securenn")
def drelu(x: SharedTensor) -> SharedTensor:
    """[x >= 0] as ring 0/1 shares: 1 - MSB(2x). 8 rounds, 664 B per element."""
    m = msb(x)
    return (-m).add_ring(np.ones(x.shape, dtype=DTYPE))


@protocol("relu_securenn")
def relu(x: SharedTensor) -> SharedTensor:
    """SelectShare(DReLU(x), x, 0): 704 B per element; 9 measured rounds (paper: 8 + 2)."""
    return select_share(drelu(x), x)
