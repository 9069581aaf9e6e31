"""Division and reciprocal of shared fixed-point values, by name.

``"securenn"`` (faithful): SecureNN's long division (:func:`long_division`), one quotient
bit per DReLU + SelectShare, exact (floor of a / b at f fractional bits). ``divide`` needs
0 <= a < b (the paper's range); ``reciprocal`` computes 1/b for b in [2^lo, 2^(30+lo))
with 1 - lo integer quotient bits. Per element: 704 B and 9 rounds per quotient bit (the
paper's 10 per bit is a sequential sum; see :mod:`.baselines.securenn`).

``"default"`` (ours): normalise b by a secret power of two, Newton-Raphson on [1, 2), undo.

1. Octave: all comparisons ``b >= 2^j`` for j = lo+1 .. hi from one masked opening of b
   (:func:`~.opened_compare.less_than_public`, 6 rounds), and the one-hot octave ``o_j = ge_j ^ ge_(j+1)`` (local; ge_lo = 1,
   ge_(hi+1) = 0). The octave is clamped: b < 2^lo counts as octave lo, b >= 2^(hi+1) as hi.
2. :func:`~.boolean.inject_bits` (1 round) gives the exact integer products ``o_j b`` (and
   ``o_j a``); ``bn = sum_j 2^-j (o_j b)`` in [1, 2) and ``an = sum_j 2^-j (o_j a)`` by local
   shifts (a left shift is exact; a right shift is a local truncation of a small value).
3. ``y0 = 24/17 - 8/17 bn`` (local) has ``|e| <= 1/17`` for ``e = 1 - bn y0``. Three rounds
   of products (e; y0 e and e^2; y1 e^2) give ``y2 = y0 (1 + e)(1 + e^2) = (1 - e^4) / bn``: relative error
   ``<= 17^-4 = 1.2e-5``. ``divide`` carries ``t = an y`` along instead of y (its first
   round computes bn y0 and an y0 together), so it needs no step 4.
4. ``reciprocal``: ``1/b = sum_j 2^-j (o_j y2)`` with :func:`~.boolean.bits_mul` (1 round):
   the power of two is applied as an exact shift of an exact product, never as a secret
   factor, so no value above 2 is ever truncated (local truncation failure < 2^-30).

Cost per element in bytes, with J = hi - lo + 1 octaves (J - 1 comparisons; bits are packed,
so these are exact when the number of elements is a multiple of 8):

==========  ======  ===================================  ==================================
protocol    rounds  P0->P1 and P1->P0, each              P2->P1 (offline)
==========  ======  ===================================  ==================================
reciprocal  11      (55 (J-1) + J) / 8 + 80              (148 + 35 (J-1)) / 8 + 24 J + 32
divide      10      (55 (J-1) + J) / 8 + 88              (148 + 35 (J-1)) / 8 + 24 J + 40
==========  ======  ===================================  ==================================

(the opening 8 B each way; dealt monomials 148 bits; per threshold a tree of 55 bits each
way and 35 offline; inject_bits 1 bit each way + 8 B per operand each way, 8 B per bit and
per product offline; Beaver products 16 B each way + 8 B offline per product; bits_mul 8 B
each way, 8 J B offline.) With the default J = 24 (lo = -8, hi = 15): reciprocal
1,209.375 B and 11 rounds, divide 1,233.375 B and 10 rounds (2,411.125 and 2,435.125 B
with J - 1 separate comparisons of 71.875 B before the shared opening), against
SecureNN's 11,264 B (16 quotient bits, a < b) and 17,600 B (25 bits, for 1/b down to
b = 2^-8) with 144 and 225 rounds.

Accuracy and range (tested at the edges) for b in [2^lo, 2^(hi+1)) (default [2^-8, 2^16)),
against the exact quotient of the fixed-point inputs (ulp = 2^-f): ``reciprocal`` |error|
<= 1 ulp + 1e-4 |1/b|; ``divide`` |error| <= 3 ulp + 1e-4 |a/b| for any sign of a and
**|a/b| < 2^15** (measured: 5.4e-5 and 3.5e-5 relative beyond the ulps). So the relative
error is below 1e-3 wherever the result is at least 2^-5. In that range, as for any product
in this ring, the bound fails with a small probability per element: ``divide`` carries
t = a 2^-j through three Beaver products, and the local truncation of a product of about
|a/b| 2^32 ring units wraps with probability about |a/b| 2^-32 (below 2^-17 for
|a/b| < 2^15), giving a gross error. Outside the range the same law continues and is not
detected: measured over 4,000 pairs each, 0.1 % of elements fail for |a/b| in
[2^21, 2^22), 0.35 % in [2^23, 2^24), 1.25 % in [2^25, 2^26) (tested). Outside
[2^lo, 2^(hi+1)) the result is wrong (the octave is clamped): the caller picks lo and hi
(softmax picks them from the row length). b <= 0 is not supported.

Security: only comparisons, inject_bits/bits_mul and Beaver products are used, each with
uniform openings and nothing sent to P2 online; composed on shares, nothing is revealed.
"""

from __future__ import annotations

import numpy as np

from ..engine.context import protocol
from ..ring import DTYPE
from ..tensor import SharedTensor, mul
from .baselines import securenn
from .boolean import BitTensor, InjectedBits, inject_bits, select_bits
from .compare import msb_bits
from .opened_compare import less_than_public, open_masked, ring_offsets
from .variants import DEFAULT, SECURENN, check_variant
from .wide_compare import msb_wide

SCALE_BITS = 24  # the finest output format reciprocal_fine offers (softmax's 1/sum)
DEFAULT_LO, DEFAULT_HI = -8, 15
GUESS = (24.0 / 17.0, 8.0 / 17.0)  # y0 = GUESS[0] - GUESS[1] bn: |1 - bn y0| <= 1/17 on [1, 2]


def _check_octaves(lo: int, hi: int, frac_bits: int) -> None:
    if not -frac_bits <= lo <= hi <= 62 - 2 * frac_bits:
        raise ValueError(f"octaves must satisfy {-frac_bits} <= lo <= hi <= {62 - 2 * frac_bits}")


@protocol("octave_onehot")
def octave_onehot(b: SharedTensor, lo: int = DEFAULT_LO, hi: int = DEFAULT_HI, wide: bool = False) -> BitTensor:
    """XOR-shared one-hot of the octave 2^j <= b < 2^(j+1), j = lo..hi (clamped), on a new
    last axis of length hi - lo + 1. One opening of b and hi - lo thresholds: 6 rounds and
    34.5 + 18.125 (hi - lo) B per element, or with ``wide`` 3 rounds and 45.125 + 19 (hi - lo)
    B (:func:`~.wide_compare.msb_wide`; for one value per row, as softmax's row sum)."""
    ctx = b.ctx
    _check_octaves(lo, hi, ctx.fxp.frac_bits)
    n = hi - lo + 1
    shape = b.shape + (n,)
    if n == 1:
        return BitTensor.public(ctx, np.ones(shape, np.uint8)) if not ctx.is_helper else BitTensor(ctx, None, shape)
    thresholds = [2.0**j for j in range(lo + 1, hi + 1)]
    if wide:
        below = msb_wide(open_masked(b), ring_offsets(ctx, thresholds))
    else:
        _, below = less_than_public(b, thresholds)  # shape (n - 1,) + b.shape
    if ctx.is_helper:
        return BitTensor(ctx, None, shape)
    ge = np.moveaxis(below.mine, 0, -1) ^ np.uint8(1 if ctx.party == 0 else 0)  # [b >= 2^j], j = lo+1..hi
    first = np.full(b.shape + (1,), 1 if ctx.party == 0 else 0, np.uint8)  # ge_lo = 1
    last = np.zeros(b.shape + (1,), np.uint8)  # ge_(hi+1) = 0
    ext = np.concatenate([first, ge, last], axis=-1)
    return BitTensor(ctx, ext[..., :-1] ^ ext[..., 1:])


def _shift_sum(products: SharedTensor, exponents: np.ndarray) -> SharedTensor:
    """sum_j 2^exponents[j] products[..., j]: exact left shifts, local truncation for right."""
    left = np.maximum(exponents, 0)
    right = np.maximum(-exponents, 0)
    out = products.mul_int(np.left_shift(np.ones_like(left), left))
    if products.share is not None and right.any():
        out = SharedTensor(out.ctx, _shift_right(out.mine, right, out.ctx.party))
    return out.sum(axis=-1)


def _shift_right(share: np.ndarray, bits: np.ndarray, party: int) -> np.ndarray:
    """Per-position local truncation (SecureNN's: P0 shifts, P1 negates, shifts, negates)."""
    b = bits.astype(DTYPE)
    return share >> b if party == 0 else -((-share) >> b)


def _normalise(b: SharedTensor, a: SharedTensor | None, lo: int, hi: int, wide: bool = False):
    """(injected one-hot, bn = b 2^-j, an = a 2^-j or None): octave + one inject round."""
    onehot = octave_onehot(b, lo, hi, wide)
    xs = [b.reshape(*b.shape, 1)] + ([a.reshape(*a.shape, 1)] if a is not None else [])
    injected, prods = inject_bits(onehot, xs)
    neg_j = -np.arange(lo, hi + 1)
    bn = _shift_sum(prods[0], neg_j)
    an = _shift_sum(prods[1], neg_j) if a is not None else None
    return injected, bn, an


def _newton(bn: SharedTensor, t: SharedTensor | None) -> SharedTensor:
    """y2 = y0 (1 + e)(1 + e^2) ~ 1/bn (or t y2 when t is given), 3 rounds (2 with t: the
    first product round computes e and t y0 together)."""
    y0 = bn * (-GUESS[1]) + GUESS[0]
    if t is None:
        e = 1.0 - mul(bn, y0)
        y = y0
    else:
        both = mul(SharedTensor.stack([bn, t]), y0.reshape(1, *y0.shape))
        e, y = 1.0 - both[0], both[1]
    prods = mul(SharedTensor.stack([y, e]), e.reshape(1, *e.shape))  # y e, e^2
    y1, e2 = y + prods[0], prods[1]
    return y1 + mul(y1, e2)


@protocol("reciprocal")
def reciprocal(b: SharedTensor, variant: str = DEFAULT, lo: int = DEFAULT_LO, hi: int = DEFAULT_HI) -> SharedTensor:
    """1/b for b in [2^lo, 2^(hi+1)) (see the module docstring for ranges and costs)."""
    check_variant("reciprocal", variant)
    if variant == SECURENN:
        one = SharedTensor.public(b.ctx, np.ones(b.shape))
        return long_division(one, b, int_bits=max(0, 1 - lo))
    return reciprocal_fine(b, b.ctx.fxp.frac_bits, lo, hi)


@protocol("reciprocal_fine")
def reciprocal_fine(
    b: SharedTensor, out_bits: int, lo: int = DEFAULT_LO, hi: int = DEFAULT_HI, wide: bool = False
) -> SharedTensor:
    """1/b with ``out_bits`` fractional bits (f .. SCALE_BITS), for callers that multiply the
    result on and want to keep its precision (softmax's 1/sum). Default variant only;
    ``wide`` takes the octave in 3 rounds instead of 6 (see :func:`octave_onehot`)."""
    f = b.ctx.fxp.frac_bits
    if not f <= out_bits <= SCALE_BITS:
        raise ValueError(f"out_bits must be in [{f}, {SCALE_BITS}]")
    injected, bn, _ = _normalise(b, None, lo, hi, wide)
    y = _newton(bn, None)
    (oy,) = bits_mul_last(injected, y)
    return _shift_sum(oy, out_bits - f - np.arange(lo, hi + 1))


def bits_mul_last(injected: InjectedBits, x: SharedTensor) -> list[SharedTensor]:
    """``injected * x[..., None]``: x broadcast along the bits' last axis."""
    return injected.mul(x.reshape(*x.shape, 1))


@protocol("divide")
def divide(a: SharedTensor, b: SharedTensor, variant: str = DEFAULT, lo: int = DEFAULT_LO, hi: int = DEFAULT_HI) -> SharedTensor:
    """a / b for b in [2^lo, 2^(hi+1)) and |a/b| < 2^15 (default; see the module docstring for
    the failure law beyond); 0 <= a < b (``"securenn"``)."""
    check_variant("divide", variant)
    if variant == SECURENN:
        return long_division(a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    a_full = a if a.shape == shape else a.broadcast_to(shape)
    b_full = b if b.shape == shape else b.broadcast_to(shape)
    _, bn, an = _normalise(b_full, a_full, lo, hi)
    return _newton(bn, an)


@protocol("long_division")
def long_division(
    a: SharedTensor, b: SharedTensor, int_bits: int = 0, drelu_variant: str = SECURENN
) -> SharedTensor:
    """SecureNN's Division: the quotient bit by bit, from the top, exactly.

    On the ring integers A = a 2^f (a local, exact scaling) and B = b: for
    i = f + int_bits - 1 down to 0, beta_i = DReLU(A - U - B 2^i), U += beta_i B 2^i (one
    SelectShare), Q += beta_i 2^i (local). Q = floor(A / B) is the fixed-point encoding of
    a / b rounded down: no approximation error (result within one ulp below a / b).

    Needs a >= 0, b > 0, a / b < 2^int_bits (int_bits = 0: a < b, as in SecureNN), and, for
    SecureNN's DReLU (exact below 2^62 ring units), a < 2^(62 - 2f) and b < 2^(62 - 2f -
    int_bits + 1) in real terms (a < 2^30, b < 2^(31 - int_bits) for f = 16).
    Cost per quotient bit with ``drelu_variant="securenn"``: DReLU + SelectShare =
    8 l log p + 24 l bits = 704 B, 9 measured rounds (the paper's 10 is a sum, see
    :mod:`.baselines.securenn`); with ``"default"``: msb_bits + one select_bits of two values =
    35/8 + 24 B each way and 317/8 + 24 B offline, 120.375 B and 4 rounds per bit (108.875 B
    and 7 rounds with the 6-round comparison of :mod:`.opened_compare`).
    """
    ctx = a.ctx
    f = ctx.fxp.frac_bits
    if int_bits < 0:
        raise ValueError("int_bits must be >= 0")
    check_variant("drelu", drelu_variant)
    big_a = a.mul_int(1 << f)
    shape = np.broadcast_shapes(a.shape, b.shape)
    u = SharedTensor.zeros(ctx, shape)
    q = SharedTensor.zeros(ctx, shape)
    for i in range(f + int_bits - 1, -1, -1):
        b_i = b.mul_int(1 << i)
        z = big_a - u - b_i
        if drelu_variant == SECURENN:
            beta = securenn.drelu(z)
            u = u + securenn.select_share(beta, b_i)
            q = q + beta.mul_int(1 << i)
        else:
            bit = ~msb_bits(z)
            step = SharedTensor.like(ctx, np.full(shape, 1 << i, DTYPE) if ctx.party == 0 else np.zeros(shape, DTYPE), shape)
            picked = select_bits(bit.reshape(1, *shape), SharedTensor.stack([b_i.broadcast_to(shape), step]))
            u, q = u + picked[0], q + picked[1]
    return q
