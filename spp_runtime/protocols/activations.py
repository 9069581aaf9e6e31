"""Sigmoid, tanh and their derivatives: ours ("default") and the S++ paper's ("spp").

Default sigmoid. ``sigma(x) = 1/2 + F(x)`` for |x| < 8, 1 above, 0 below, where F is a
6-harmonic sine series, minimax on [-8, 8] (:mod:`spp_runtime.reference.approximations`). One masked opening
``M = x + R`` (:func:`~.opened_compare.open_masked`) serves everything: the saturation tests
``x < 8`` and ``x < -8``, exact for every ring element
(:func:`~.ring_compare.less_than_public_exact`: three full 64-bit carries, helper-dealt
leaves) and the series, whose sin/cos correlations the helper deals for the low bits of the
same R (:func:`~.fourier.trig_series_opened`). One injection of the bits [inside] and
[above] that multiplies only [inside] applies both saturations:
``out = [inside] (F + 1/2) + [above]``. Tanh is the same with its own series, 7 harmonics
of period 16 on [-4.25, 4.25] (``out = [inside] (F + 1) + 2 [above] - 1``).

Cost per element (64-bit ring, 16 fractional bits):

=========================  ======  ==================================================
protocol                   rounds  bytes
=========================  ======  ==================================================
sigmoid                    6       86.5 (opening, dealt monomials, three carries) + 96
                                   (6 harmonics, dealt) + 40.5 (injection and one
                                   product) = 223 B (S++ paper: ~2,520 B)
tanh                       6       as sigmoid with 7 harmonics: 239 B
sigmoid_grad / tanh_grad   7       sigmoid/tanh + one square (24 B): 247 / 263 B
*_grad_from_output         1       24 B (s - s^2, 1 - t^2 from the forward output)
=========================  ======  ==================================================

(Before the minimax fits, projections of reflected functions needing 7 and 14 harmonics
(tanh on [-8, 8]): 239 / 351 B in 6 rounds. Before the exact comparisons: ``msb(x - t)``,
wrong within 8 of either end of the ring, and two selects: 247.25 / 359.25 B in 7 rounds;
before the shared opening, 328.25 / 440.25 B in 8.)

Why not less: the fixed part (opening 16, comparisons 70.5, saturation 40.5 = 127 B) is
near its floor for exact whole-ring saturation with helper-dealt carries, and each harmonic
costs two dealt ring elements (16 B) because its shares must be in Z_2^64 (a smaller ring
needs a wrap-bit comparison to lift back, which costs more than it saves); a minimax fit
needs 6 harmonics for sigmoid (5 reach only 9.6e-4 before rounding) and 7 for tanh (whose
derivative 1 - t^2 needs saturation at 4.25 or beyond).

Accuracy (against float64, for every ring element: tested on dense runs at both ends of
the ring, around every threshold and on uniform ring elements, ``tests/test_ring_ends.py``):
sigmoid max error 3.4e-4 (the saturation at |x| = 8; 2.9e-4 inside), tanh 4.1e-4 (the
series; the saturation at 4.25 adds 2.0e-4), sigmoid' 3.5e-4 and tanh' 8.2e-4 (1 - t^2 at
the saturation); exact 0/1 (-1/1) beyond +-8 (+-4.25).
Security: the opening is uniform to each primary, the dealt values are uniform to P1, the
comparison trees and the injection open only values masked by fresh helper randomness, and
P2 receives nothing (see their modules); the composition is on shares only.
"""

from __future__ import annotations

from ..engine.context import protocol
from ..reference import approximations as ap
from ..reference.fourier import TrigSeries
from ..tensor import SharedTensor
from .baselines import spp_paper
from .boolean import BitTensor, inject_bits_at
from .fourier import trig_series_opened
from .ring_compare import less_than_public_exact
from .variants import DEFAULT, SPP, check_variant


def saturate(lt: BitTensor, core: SharedTensor, low: float, high: float) -> SharedTensor:
    """``core`` inside, ``high`` at or above the upper limit, ``low`` below the lower one,
    given ``lt`` = ([x < upper], [x < lower]) stacked (exact on the whole ring): one
    injection of [inside] and [above] that multiplies only [inside], 40.5 B per element:
    ``out = [inside] (core - low) + [above] (high - low) + low``."""
    ctx = core.ctx
    inside, above = lt[0] ^ lt[1], ~lt[0]
    bits = BitTensor.concatenate([inside[None], above[None]], axis=0)
    injected, (picked,) = inject_bits_at(bits, 0, [core - low])
    span = round((high - low) * 2.0**ctx.fxp.frac_bits)
    return picked + injected.ring()[1].mul_int(span) + low


def _saturated_series(x: SharedTensor, series: TrigSeries, offset: float, limit: float, low: float, high: float) -> SharedTensor:
    opened, lt = less_than_public_exact(x, [limit, -limit])
    core = trig_series_opened(opened, series)
    if offset:
        core = core + offset
    return saturate(lt, core, low, high)


@protocol("sigmoid")
def sigmoid(x: SharedTensor, variant: str = DEFAULT) -> SharedTensor:
    """Logistic sigmoid 1 / (1 + e^-x)."""
    check_variant("sigmoid", variant)
    if variant == SPP:
        return spp_paper.sigmoid(x)
    return _saturated_series(x, ap.sigmoid_series(), 0.5, ap.SIGMOID_LIMIT, 0.0, 1.0)


@protocol("tanh")
def tanh(x: SharedTensor, variant: str = DEFAULT) -> SharedTensor:
    """Hyperbolic tangent."""
    check_variant("tanh", variant)
    if variant == SPP:
        return spp_paper.tanh(x)
    return _saturated_series(x, ap.tanh_series(), 0.0, ap.TANH_LIMIT, -1.0, 1.0)


@protocol("sigmoid_grad_from_output")
def sigmoid_grad_from_output(s: SharedTensor) -> SharedTensor:
    """sigma'(x) = s (1 - s) = s - s^2 given s = sigma(x): one square, 24 B, 1 round."""
    return s - s.square()


@protocol("tanh_grad_from_output")
def tanh_grad_from_output(t: SharedTensor) -> SharedTensor:
    """tanh'(x) = 1 - t^2 given t = tanh(x): one square, 24 B, 1 round."""
    return 1.0 - t.square()


@protocol("sigmoid_grad")
def sigmoid_grad(x: SharedTensor, variant: str = DEFAULT) -> SharedTensor:
    """sigma'(x) = sigma(x)(1 - sigma(x)) (the paper's Algorithm 4 for ``spp``)."""
    check_variant("sigmoid_grad", variant)
    s = sigmoid(x, variant)
    if variant == SPP:
        return spp_paper.sigmoid_grad_from_output(s)
    return sigmoid_grad_from_output(s)


@protocol("tanh_grad")
def tanh_grad(x: SharedTensor, variant: str = DEFAULT) -> SharedTensor:
    """tanh'(x) = 1 - tanh(x)^2 (the paper's Algorithm 6 for ``spp``)."""
    check_variant("tanh_grad", variant)
    t = tanh(x, variant)
    if variant == SPP:
        return spp_paper.tanh_grad_from_output(t)
    return tanh_grad_from_output(t)
