"""Softmax and the ReLU-based softmax replacement (SecureML; Keller and Sun).

Default softmax, per row along ``axis`` (n entries):

1. m = row max (tree of comparisons, :func:`.maxpool.rowmax`), z = x - m <= 0;
2. e = e^z with :func:`.exponential.exp_nonpositive` (exact up to rounding, 0 for z < -16);
3. s = sum(e) in [1 - 4e-4, n] (the max term is ~1), one reciprocal per row over the
   octaves [1, 2^ceil(log2 n)) (:func:`.division.reciprocal`), and p = e * (1/s).

No input range is assumed: subtracting the max makes every exponent <= 0, so nothing
overflows. Accuracy: absolute error <= 1e-3 per output for any logits (tested on rows of 2
to 1,000 entries with spreads up to 128), rows sum to 1 within 2e-3.
Cost per element for rows of n: ~80 B (n-1)/n (row max, 4 rounds per level: a 3-round
comparison and the select on its own opening) + 117 B (exp) + ~40 B (product) + ~1,200/n B
(one reciprocal per row, its octave in 3 rounds with :func:`~.wide_compare.msb_wide`);
measured 261 B at n = 10 and 225 B at 128 (264 and 230 B with the 7-round comparisons
before; 383-436 B with the earlier series-and-squarings exp and full comparisons).
Rounds: 4 ceil(log2 n) + 16 (row max, then exp 7, reciprocal and product): 32 at n = 10
and 44 at 128 (7 ceil(log2 n) + 19 = 47 and 68 before).

``softmax_relu`` (SecureML's replacement): relu(x_i) / sum_j relu(x_j); when a row's sum is
0 (every entry <= 0) it returns the uniform 1/n, computed without branching as
(relu(x) + z) / (sum + n z) with z = [sum == 0]. Range: a row's positive sum must be below
2^(hi+1) with hi = max(6, ceil(log2(64 n))), i.e. at least 128 n (2,048 for n = 10, 16,384
for n = 128); there the error is <= 1e-3 per output (tested at the edge). Beyond it the
reciprocal's octave is clamped and the output is wrong, silently (tested: a row summing to
1.5 x 2^(hi+1) errs by more than 0.1). Cost: ~85 B (relu) + ~40 B (product) +
one comparison and one reciprocal per row: measured 250 B at n = 10, 121 B at 128, 26 rounds.

``spp`` variant: the paper's Algorithm 7 (:mod:`.baselines.spp_paper`): e^x_i with the paper's exp
and SecureNN division, no max subtraction (overflows for logits beyond ~11).

Security: composed of protocols whose views are uniform; nothing is opened.
"""

from __future__ import annotations

import math

import numpy as np

from ..engine.context import protocol
from ..tensor import SharedTensor, mul, truncate
from .baselines import spp_paper
from .boolean import b2a
from .compare import less_than_bits, relu
from .division import SCALE_BITS, reciprocal_fine
from .exponential import exp_nonpositive
from .maxpool import rowmax
from .variants import DEFAULT, SPP, check_variant


def _last(x: SharedTensor, axis: int) -> SharedTensor:
    axis = axis % x.ndim
    if axis == x.ndim - 1:
        return x
    order = [i for i in range(x.ndim) if i != axis] + [axis]
    return x.transpose(*order)


def _restore(y: SharedTensor, axis: int, ndim: int) -> SharedTensor:
    axis = axis % ndim
    if axis == ndim - 1:
        return y
    order = [i for i in range(ndim) if i != axis] + [axis]
    return y.transpose(*np.argsort(order))


@protocol("softmax")
def softmax(x: SharedTensor, axis: int = -1, variant: str = DEFAULT) -> SharedTensor:
    """exp(x_i) / sum_j exp(x_j) along ``axis``."""
    check_variant("softmax", variant)
    if variant == SPP:
        return spp_paper.softmax(x, axis)
    xt = _last(x, axis)
    n = xt.shape[-1]
    z = xt - rowmax(xt, axis=-1, keepdims=True)
    e = exp_nonpositive(z)
    total = e.sum(axis=-1, keepdims=True)
    return _restore(_normalise(e, total, lo=-1, hi=max(1, math.ceil(math.log2(n)))), axis, x.ndim)


def _normalise(num: SharedTensor, den: SharedTensor, lo: int, hi: int) -> SharedTensor:
    """num / den with 1/den held at SCALE_BITS fractional bits, so that a row of many small
    quotients keeps its sum (1/den may be only a few hundred units of 2^-16)."""
    inv = reciprocal_fine(den, SCALE_BITS, lo, hi, wide=True)  # one per row: rounds, not bytes
    return truncate(mul(num, inv, truncate=False), SCALE_BITS)


@protocol("softmax_relu")
def softmax_relu(x: SharedTensor, axis: int = -1, relu_variant: str = DEFAULT) -> SharedTensor:
    """relu(x_i) / sum_j relu(x_j) along ``axis``; uniform 1/n where the sum is 0."""
    xt = _last(x, axis)
    n = xt.shape[-1]
    r = relu(xt, relu_variant)
    total = r.sum(axis=-1, keepdims=True)
    ulp = xt.ctx.fxp.resolution
    is_zero = b2a(less_than_bits(total, ulp))  # the sum is a non-negative multiple of the ulp
    z = is_zero.mul_int(xt.ctx.fxp.scale)  # 0.0 or 1.0 in fixed point
    num = r + z
    den = total + z.mul_int(n)
    # den in [2^-16, 64 n] for logits in [-64, 64]; larger sums fall in the top octave
    hi = max(6, math.ceil(math.log2(64 * n)))
    return _restore(_normalise(num, den, lo=-xt.ctx.fxp.frac_bits, hi=hi), axis, x.ndim)
