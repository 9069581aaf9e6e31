"""Division and reciprocal of shared fixed-point values, by name.

``"securenn"`` (faithful): SecureNN's long division. For i = 1..f (+ ``int_bits``) it tests
``a - P >= b / 2^i`` with DReLU and adds the quotient bit; 0 <= a, 0 < b, a / b < 2^int_bits.
Each step costs one DReLU and one two-element product: with SecureNN's DReLU,
f * (664 + 80) = 11,904 B and f * 9 = 144 rounds per element for f = 16.

``"default"`` (ours): normalise, then Newton-Raphson.

1. Octave of b: all comparisons ``b >= 2^j`` for j in [lo, hi] at once (one msb_bits call),
   the one-hot octave ``onehot_j = ge_j XOR ge_(j+1)`` (local), converted to ring 0/1 (b2a),
   and the scale ``c = sum_j onehot_j 2^-j`` held with ``SCALE_BITS`` fractional bits (local).
2. ``bn = b c`` in [1, 2) (one product); ``1/bn`` from the linear guess 24/17 - 8/17 bn
   (error <= 1/17) and two Newton steps ``y <- y (2 - bn y)`` (error <= (1/17)^4 ~ 1.2e-5).
3. ``1/b = c / bn``; ``a / b = (a c) / bn`` (both products scaled by c in one call).

Cost per element (J = hi - lo + 1 octaves): J - 1 comparisons (~72 B each) + J b2a (~8 B)
+ 7 products (~280 B), 6 + 1 + 1 + 4 + 1 = 13 rounds (~2.1 KB for the default J = 24).
Accuracy for b in [2^lo, 2^(hi+1)) (default lo = -8, hi = 15), measured against the exact
quotient of the fixed-point inputs: |error| <= 1 ulp + 1e-4 |1/b| for ``reciprocal`` and
<= 2 ulp + 1e-4 |a/b| for ``divide`` (ulp = 2^-f), i.e. relative error <= 1e-3 wherever the
result is at least 2^-6. Outside the range the octave is clamped (b below 2^lo is treated
as if in the lowest octave), so accuracy degrades. ``divide`` needs b > 0; a may be any sign.

Security: only comparisons, b2a and Beaver products are used; each is secure on its own and
they are composed sequentially on shares, so the composition reveals nothing.
"""

from __future__ import annotations

import numpy as np

from ..engine.context import protocol
from ..ring import DTYPE
from ..tensor import SharedTensor
from . import compare
from .basic import truncate
from .beaver import mul
from .boolean import BitTensor, b2a
from .compare import msb_bits

VARIANTS = ("default", "securenn")
SCALE_BITS = 24  # fractional bits of the octave scale c = 2^-j
DEFAULT_LO, DEFAULT_HI = -8, 15
NEWTON_STEPS = 2


def _check(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown division variant {variant!r}; known: {', '.join(VARIANTS)}")


@protocol("octave_scale")
def octave_scale(b: SharedTensor, lo: int = DEFAULT_LO, hi: int = DEFAULT_HI) -> SharedTensor:
    """Shares of c = 2^-j (SCALE_BITS fractional bits, as a raw ring integer) for the octave
    2^j <= b < 2^(j+1), j clamped to [lo, hi]."""
    ctx = b.ctx
    js = np.arange(lo + 1, hi + 1)  # thresholds 2^j above the lowest octave
    fxp = ctx.fxp
    thresholds = np.array([2.0**j for j in js])
    stacked = b.reshape(*b.shape, 1).broadcast_to(b.shape + (len(js),)) - thresholds
    below = msb_bits(stacked)  # [b < 2^j] for each threshold
    ge = ~below  # [b >= 2^j]
    if ctx.is_helper:
        onehot = BitTensor(ctx, None, b.shape + (len(js) + 1,))
    else:
        g = ge.share
        ones = np.ones(b.shape + (1,), np.uint8) if ctx.party == 0 else np.zeros(b.shape + (1,), np.uint8)
        zeros = np.zeros(b.shape + (1,), np.uint8)
        ge_ext = np.concatenate([ones, g, zeros], axis=-1)  # ge_lo = 1, ge_(hi+1) = 0
        onehot = BitTensor(ctx, ge_ext[..., :-1] ^ ge_ext[..., 1:])
    oh = b2a(onehot)  # ring 0/1, one per octave lo..hi
    weights = np.array([1 << (SCALE_BITS - j) for j in range(lo, hi + 1)], dtype=np.int64)
    if fxp.frac_bits > SCALE_BITS:
        raise ValueError("SCALE_BITS must be at least the fractional bits")
    return (oh.mul_int(weights)).sum(axis=-1)


def _scaled_product(x: SharedTensor, c: SharedTensor) -> SharedTensor:
    """x * c where c carries SCALE_BITS fractional bits; result in x's format."""
    return truncate(mul(x, c, truncate=False), SCALE_BITS)


def _newton_reciprocal(bn: SharedTensor) -> SharedTensor:
    """1/bn for bn in [1, 2): linear guess then NEWTON_STEPS Newton-Raphson steps."""
    y = (bn * (-8.0 / 17.0)) + 24.0 / 17.0
    for _ in range(NEWTON_STEPS):
        y = y * (2.0 - bn * y)
    return y


@protocol("reciprocal")
def reciprocal(b: SharedTensor, variant: str = "default", lo: int = DEFAULT_LO, hi: int = DEFAULT_HI) -> SharedTensor:
    """1/b for b > 0 (see the module docstring for ranges and costs)."""
    _check(variant)
    if variant == "securenn":
        one = SharedTensor.public(b.ctx, np.ones(b.shape))
        return long_division(one, b, int_bits=max(0, -lo))
    return reciprocal_fine(b, b.ctx.fxp.frac_bits, lo, hi)


@protocol("reciprocal_fine")
def reciprocal_fine(b: SharedTensor, out_bits: int, lo: int = DEFAULT_LO, hi: int = DEFAULT_HI) -> SharedTensor:
    """1/b with ``out_bits`` fractional bits (up to SCALE_BITS), for callers that multiply
    the result on and want to keep its precision (softmax's 1/sum)."""
    if not b.ctx.fxp.frac_bits <= out_bits <= SCALE_BITS:
        raise ValueError(f"out_bits must be in [frac_bits, {SCALE_BITS}]")
    c = octave_scale(b, lo, hi)
    bn = _scaled_product(b, c)
    y = _newton_reciprocal(bn)
    return truncate(mul(y, c, truncate=False), b.ctx.fxp.frac_bits + SCALE_BITS - out_bits)


@protocol("divide")
def divide(a: SharedTensor, b: SharedTensor, variant: str = "default", lo: int = DEFAULT_LO, hi: int = DEFAULT_HI) -> SharedTensor:
    """a / b for b > 0."""
    _check(variant)
    if variant == "securenn":
        return long_division(a, b)
    c = octave_scale(b, lo, hi)
    both = SharedTensor.stack([b, a.broadcast_to(np.broadcast_shapes(a.shape, b.shape)) if a.shape != b.shape else a])
    scaled = _scaled_product(both, c.reshape(1, *c.shape))
    bn, an = scaled[0], scaled[1]
    return an * _newton_reciprocal(bn)


@protocol("long_division")
def long_division(a: SharedTensor, b: SharedTensor, int_bits: int = 0, drelu_variant: str = "securenn") -> SharedTensor:
    """SecureNN's bit-by-bit division: quotient bits 2^(int_bits-1) .. 2^-f of a/b.

    Needs a >= 0, b > 0 and a / b < 2^int_bits (int_bits = 0: a < b, as in SecureNN).
    Per bit: one DReLU and one product of two elements.
    """
    ctx = a.ctx
    f = ctx.fxp.frac_bits
    quotient = SharedTensor.zeros(ctx, a.shape)
    acc = SharedTensor.zeros(ctx, a.shape)
    for i in range(1 - int_bits, f + 1):
        b_i = b.mul_int(1 << -i) if i < 0 else truncate(b, i)
        bit = compare.drelu(a - acc - b_i, variant=drelu_variant)
        step = SharedTensor.public(ctx, np.full(a.shape, 2.0**-i))
        picked = mul(SharedTensor.stack([bit, bit]), SharedTensor.stack([b_i, step]), truncate=False)
        acc = acc + picked[0]
        quotient = quotient + picked[1]
    return quotient
