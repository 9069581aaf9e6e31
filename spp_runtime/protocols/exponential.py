"""Exponentiation: ours ("default"), exp on (-inf, 0] for softmax, and the paper's ("spp").

Default ``exp``: e^x = (e^(x/16))^16. The core e^u on u in [-1, 1] is a 6-harmonic series
(relative error 2e-5, one round) kept with 19 fractional bits; four squarings follow, each
holding as many fractional bits as its raw product allows while staying below 2^42 (where
SecureNN's local truncation fails with probability below 2^-21): 19 -> 18 -> 15 -> 16; the
last, whose product reaches 2^55, uses exact truncation (:mod:`.truncation`). Inputs
outside [-16, 16] saturate: 0 below -16, e^16 above, decided by one batched comparison and
applied by one batched select.

Range and accuracy (16 fractional bits): relative error <= 1e-3 for x in [-3, 16]
(where e^x >= 0.05; measured 7.4e-4); absolute error <= 1e-4 below -3 (measured 3.5e-5);
e^16 (= 8,886,110.5) for x >= 16 and 0 for x < -16. Cost: 2 x 71.9 (comparisons) + 104
(series) + 3 x 24 (squares) + 24 + 89.4 (last square, exact truncation) + 64.5 (selects)
= 497.6 B per element, 20 rounds (6 + 1 + 3 + 1 + 8 + 1).

``exp_nonpositive`` (softmax's, inputs <= 0 after the row max is subtracted):
e^z = (e^(z/8))^8 with a 4-harmonic core on [-2, 0] and three squarings, and 0 for z < -16.
Absolute error <= 4e-4 (relative 4e-4 near 0). Cost: 71.875 + 72 + 3 x 24 + 32.25 = 248.1 B,
11 rounds.

Security: comparisons, series, squares, exact truncation and selects only, each with a
uniformly distributed view for every party.
"""

from __future__ import annotations

import math

import numpy as np

from ..engine.context import protocol
from ..tensor import SharedTensor
from . import approximations as ap
from .activations import check_variant, saturate
from .basic import truncate
from .beaver import square
from .boolean import select_bits
from .compare import less_than_bits
from .fourier import trig_series
from .truncation import truncate_exact

EXP_MAX = math.exp(ap.EXP_LIMIT)
# Fractional bits of e^(x/16), e^(x/8), e^(x/4), e^(x/2) (maxima 2.7, 7.4, 55, 2981): each
# square's raw product stays below 2^42; the final square is truncated exactly.
EXP_SCHEDULE = (19, 18, 15, 16)


def _square_shifted(s: SharedTensor, pre_shift: int = 0) -> SharedTensor:
    """s^2 keeping the fixed-point format; drop ``pre_shift`` fractional bits first so the
    raw product stays small."""
    f = s.ctx.fxp.frac_bits
    a = truncate(s, pre_shift) if pre_shift else s
    return truncate(square(a, truncate=False), f - 2 * pre_shift)


@protocol("exp")
def exp(x: SharedTensor, variant: str = "default") -> SharedTensor:
    """e^x (see the module docstring for range, accuracy and cost)."""
    check_variant(variant)
    if variant == "spp":
        from . import spp_paper

        return spp_paper.exp(x)
    f = x.ctx.fxp.frac_bits
    u = truncate(x, ap.EXP_SCALE_BITS)  # x / 16, exact up to one unit
    bits = EXP_SCHEDULE[0]
    s = trig_series(u, ap.exp_core_series(), out_bits=bits)
    for nxt in EXP_SCHEDULE[1:]:  # s^2 from `bits` to `nxt` fractional bits
        s = truncate(square(s, truncate=False), 2 * bits - nxt)
        bits = nxt
    s = truncate_exact(square(s, truncate=False), 2 * bits - f)
    return saturate(x, s, ap.EXP_LIMIT, 0.0, EXP_MAX)


@protocol("exp_nonpositive")
def exp_nonpositive(z: SharedTensor) -> SharedTensor:
    """e^z for z <= 0 (absolute error <= 4e-4); 0 for z < -16. Inputs above 0 are outside
    the contract (softmax subtracts the row maximum first)."""
    v = truncate(z, ap.EXP_NEG_SCALE_BITS)
    s = trig_series(v, ap.exp_neg_core_series())
    for _ in range(ap.EXP_NEG_SCALE_BITS):
        s = _square_shifted(s)
    below = less_than_bits(z, -ap.EXP_NEG_LIMIT)
    return s - select_bits(below, s)


@protocol("taylor_exp")
def taylor_exp(x: SharedTensor) -> SharedTensor:
    """The paper's Algorithm 1: 1 + x + x^2/2 + x^3/6 for a fractional x (|x| < 1).

    2 rounds (x^2, then x^3 = x x^2), 64 B per element. Error <= e/24 x^4: 1.6e-3 at |x| = 0.5,
    0.11 at |x| = 1; useless beyond.
    """
    x2 = x.square()
    x3 = x * x2
    return 1.0 + x + x2 * 0.5 + x3 * (1.0 / 6.0)


def exp_reference(x: np.ndarray) -> np.ndarray:
    """What the default exp is specified to return: e^x clipped to the saturation range."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < -ap.EXP_LIMIT, 0.0, np.exp(np.minimum(x, ap.EXP_LIMIT)))
