"""Exponentiation: ours ("default"), exp on (-inf, 0] for softmax, and the paper's ("spp",
:mod:`.baselines.spp_paper`, whose Algorithm 1 ``taylor_exp`` lives there too).

Default ``exp``: one masked opening ``M = x + R`` (:func:`~.opened_compare.open_masked`)
serves both the range tests and the value. The tests ``x < 16`` and ``x < -16`` are
:func:`~.ring_compare.less_than_public_exact` on M (three full 64-bit carries, exact for
every ring element); the value is :func:`~.exp_lookup.exp_lookup`: e^x = sum_j v_j c_j(M)
with 8 helper-dealt values v_j = [r_h == j] e^(-rho) and public coefficients, exact up to
fixed-point rounding on the window [-16, 16). One injection then returns e^x inside, e^16
at or above 16 and 0 below -16: ``out = [inside] e^x + [above] e^16``
(:func:`~.boolean.inject_bits_at`, one product).

Range and accuracy (16 fractional bits; the same text is in docs/SPP.md): relative error
<= 1e-4 on [-1, 16) and <= 1e-3 on [-3.7, 16); absolute error <= 6e-5 for every x < 0
(measured over 2,000,000 inputs on [-16, 16) with ``scripts/measure_spp_accuracy.py``:
6.8e-5, 6.2e-4 and 4.6e-5; the error is an absolute ~4e-5 of rounding, so the relative
error grows as e^-x below -1: 1.0e-4 at -1.67, 9.9e-4 at -4.2); exactly e^16 (8,886,110.52) for x >= 16 and 0 for x < -16, for every ring
element (no silent wrap, tested at both ends of the ring): the plaintext specification is
:func:`spp_runtime.reference.approximations.exp_reference`.

Cost per element: 16 (opening) + 30 (dealt monomials) + 3 x 13.5 (full carries) + 64 (dealt
values) + 40.5 (injection of [inside] and [above], one product) = 191 B, 6 rounds (1 + 4 +
1). Before: 183.25 B, 7 rounds, with ``msb(x - t)`` comparisons that wrapped within 16 of
either end of the ring (e^16 or 2 e^16 there instead of 0); before that, (e^(x/16))^16 with
a 6-harmonic series, four squarings and two full comparisons: 497.6 B, 20 rounds.

``exp_nonpositive`` (softmax's, inputs <= 0 after the row max is subtracted): the same
with one test (z < -16 + 2^-16) and a 4-value table on the window [-16 + 2^-16, 0]:
16 + 18.5 + 18.125 + 32 + 32.25 (select) = 116.875 B, 7 rounds; absolute error <= 3e-5.
Inputs above 0 are outside the contract.

Security: the opening is uniform to each primary, the dealt shares are uniform to P1, the
trees and the select open only values masked by fresh helper randomness; P2 receives
nothing (see :mod:`.opened_compare`, :mod:`.exp_lookup`, :mod:`.boolean`).
"""

from __future__ import annotations

import math

from ..engine.context import protocol
from ..reference import approximations as ap
from ..reference.approximations import exp_nonpositive_limit
from ..tensor import SharedTensor
from .baselines import spp_paper
from .boolean import BitTensor, inject_bits_at, select_bits
from .exp_lookup import exp_lookup
from .opened_compare import less_than_public
from .ring_compare import less_than_public_exact
from .variants import DEFAULT, SPP, check_variant

EXP_MAX = math.exp(ap.EXP_LIMIT)
# Window [-16, 16) = [0, 32) after the offset: 3 real bits (rho in [0, 8)) and a 3-bit digit.
EXP_LO_BITS, EXP_HI_BITS = 3, 3
# Softmax's window [-16 + 2^-16, 0] = [0, 16) after the offset 16 - 2^-16: a 2-bit digit.
EXP_NEG_LO_BITS, EXP_NEG_HI_BITS = 3, 2


@protocol("exp")
def exp(x: SharedTensor, variant: str = DEFAULT) -> SharedTensor:
    """e^x (see the module docstring for range, accuracy and cost)."""
    check_variant("exp", variant)
    if variant == SPP:
        return spp_paper.exp(x)
    limit = ap.EXP_LIMIT
    opened, below = less_than_public_exact(x, [limit, -limit])  # [x < 16], [x < -16], whole ring
    core = exp_lookup(opened, limit, EXP_LO_BITS, EXP_HI_BITS)
    inside, above = below[0] ^ below[1], ~below[0]
    injected, (picked,) = inject_bits_at(BitTensor.concatenate([inside[None], above[None]], axis=0), 0, [core])
    e_max = round(EXP_MAX * 2.0**x.ctx.fxp.frac_bits)
    return picked + injected.ring()[1].mul_int(e_max)


@protocol("exp_nonpositive")
def exp_nonpositive(z: SharedTensor) -> SharedTensor:
    """e^z for z <= 0 (absolute error <= 3e-5); 0 for z < -16 + 2^-16. Inputs above 0 are
    outside the contract (softmax subtracts the row maximum first)."""
    low = exp_nonpositive_limit(z.ctx.fxp.frac_bits)
    opened, below = less_than_public(z, [low])
    core = exp_lookup(opened, -low, EXP_NEG_LO_BITS, EXP_NEG_HI_BITS)
    return select_bits(~below[0], core)
