"""The S++ paper's protocols, as described (Algorithms 1-7): the ``spp`` variant.

1. Taylor exponentiation of a fractional value: 1 + x + x^2/2 + x^3/6
   (:func:`taylor_exp`).
2. exp, SCALE-MAMBA style: y = x log2 e; its sign by (SecureNN) DReLU; |y| split into an
   integer part k (by truncation) and a fraction phi; 2^k from the 5 bits of k (decomposed
   with a bitwise adder) as the product of (1 + b_j (2^(2^j) - 1)); 2^phi = e^(phi ln 2) by
   Algorithm 1; for negative y the result is 1 / 2^|y| by SecureNN's long division.
3. sigmoid = e^x / (1 + e^x) with SecureNN's long division.
4. sigmoid' = s (1 - s).  5. tanh = 2 sigma(2x) - 1.  6. tanh' = 1 - t^2.
7. softmax = e^(x_i) / sum_j e^(x_j) with SecureNN's long division, no max subtraction.

Where it works (measured by the tests, 16 fractional bits): see ``EXP_RANGE`` etc.: the
4-term Taylor series of 2^phi is off by up to ~0.5% at |phi| near 1, and the products
forming 2^k reach the top of the ring for k > 14 (x > ~10), where they overflow or fail to
truncate; k wraps for |y| >= 32. Sigmoid and tanh inherit this (and the long division's
16-bit quotient). Softmax, with no max subtraction, overflows once a logit exceeds ~10.
Even inside the ranges below, products of that size make SecureNN's local truncation fail
now and then: about 1 element in 10^4 with |x| > 10 comes out wrong by 0.2 to 1 (measured:
0 to 3 of 16,384 sigmoid inputs on [-14, 14] per run), which the benchmark's 128x128 and
576x20 shapes reveal and the tests' smaller samples rarely do.
Costs are dominated by SecureNN's long division (17 DReLUs at 664 B): ~13-14 KB per exp.
"""

from __future__ import annotations

import math

import numpy as np

from ...engine.context import protocol
from ...tensor import SharedTensor, truncate
from ..boolean import BitTensor, add_private, b2a
from ..compare import drelu, select
from ..division import long_division
from ..variants import SECURENN

K_BITS = 5  # bits of the integer part k of |y|
# Documented working ranges (tests check them; measured on 16,384 inputs each): exp within
# 2% relative for x in [-5, 14] and 2e-3 absolute on [-10, -5]; sigmoid within 4e-3 on
# [-14, 14] (3.5e-3 measured); tanh within 8e-3 on [-7, 7] (6.7e-3); softmax within 5e-3
# for logits in [-5, 5] (its exp is ~1% off). Plus the rare truncation failures above.
EXP_RANGE = (-10.0, 14.0)
SIGMOID_RANGE = (-14.0, 14.0)
TANH_RANGE = (-7.0, 7.0)
SOFTMAX_RANGE = (-5.0, 5.0)


@protocol("taylor_exp")
def taylor_exp(x: SharedTensor) -> SharedTensor:
    """The paper's Algorithm 1: 1 + x + x^2/2 + x^3/6 for a fractional x (|x| < 1).

    2 rounds (x^2, then x^3 = x x^2), 64 B per element. Error <= e/24 x^4: 1.6e-3 at |x| = 0.5,
    0.11 at |x| = 1; useless beyond.
    """
    x2 = x.square()
    x3 = x * x2
    return 1.0 + x + x2 * 0.5 + x3 * (1.0 / 6.0)


def _integer_bits(k: SharedTensor) -> BitTensor:
    """The low K_BITS bits of the shared integer k (shares of an integer, not fixed point)."""
    ctx = k.ctx
    mask = np.uint64((1 << K_BITS) - 1)
    low = None if ctx.is_helper else k.mine & mask
    return add_private(ctx, low if ctx.party == 0 else None, low if ctx.party == 1 else None, k.shape, K_BITS)


@protocol("exp_spp")
def exp(x: SharedTensor) -> SharedTensor:
    """Algorithm 2 (see the module docstring for its range)."""
    ctx = x.ctx
    f = ctx.fxp.frac_bits
    y = x * math.log2(math.e)
    nonneg = drelu(y, SECURENN)  # 0/1 integers
    ay = select(nonneg, y, -y)
    k = truncate(ay, f)  # integer shares of floor(|y|) (or one more)
    phi = ay - k.mul_int(1 << f)  # in (-1, 1)
    ring_bits = b2a(_integer_bits(k))
    factors = [ring_bits[..., j].mul_int(ctx.fxp.scale * ((1 << (1 << j)) - 1)) + 1.0 for j in range(K_BITS)]
    while len(factors) > 1:  # product tree
        paired = [factors[i] * factors[i + 1] for i in range(0, len(factors) - 1, 2)]
        factors = paired + ([factors[-1]] if len(factors) % 2 else [])
    r = factors[0] * taylor_exp(phi * math.log(2.0))
    one = SharedTensor.public(ctx, np.ones(x.shape))
    inv = long_division(one, r, int_bits=1)
    return select(nonneg, r, inv)


@protocol("sigmoid_spp")
def sigmoid(x: SharedTensor) -> SharedTensor:
    """Algorithm 3: e^x / (1 + e^x) with SecureNN's long division."""
    e = exp(x)
    return long_division(e, e + 1.0)


@protocol("sigmoid_grad_spp")
def sigmoid_grad_from_output(s: SharedTensor) -> SharedTensor:
    """Algorithm 4: s (1 - s)."""
    return s * (1.0 - s)


@protocol("tanh_spp")
def tanh(x: SharedTensor) -> SharedTensor:
    """Algorithm 5: 2 sigma(2x) - 1."""
    return sigmoid(x.mul_int(2)).mul_int(2) - 1.0


@protocol("tanh_grad_spp")
def tanh_grad_from_output(t: SharedTensor) -> SharedTensor:
    """Algorithm 6: 1 - t^2."""
    return 1.0 - t * t


@protocol("softmax_spp")
def softmax(x: SharedTensor, axis: int = -1) -> SharedTensor:
    """Algorithm 7: e^(x_i) / sum_j e^(x_j), one long division per element."""
    axis = axis % x.ndim
    e = exp(x)
    total = e.sum(axis=axis, keepdims=True).broadcast_to(e.shape).copy()
    return long_division(e, total)

