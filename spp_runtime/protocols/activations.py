"""Sigmoid, tanh and their derivatives: ours ("default") and the S++ paper's ("spp").

Default sigmoid. ``sigma(x) = 1/2 + F(x)`` for |x| < 8, 1 above, 0 below, where F is a
7-harmonic sine series (:mod:`.approximations`) evaluated in one round with helper-dealt
sin/cos correlations (:mod:`.fourier`). The two saturation tests ``x >= 8`` and ``x < -8``
are one batched :func:`~.compare.msb_bits` call, and both saturations are applied with one
batched select: ``out = F + [x >= 8](1 - F) - [x < -8] F``. Tanh is the same with its own
series on [-4, 4].

Cost per element (64-bit ring, 16 fractional bits):

=========================  ======  ==================================================
protocol                   rounds  bytes
=========================  ======  ==================================================
sigmoid                    8       2 x 71.875 (comparisons) + 120 (7-harmonic series)
                                   + 2 x 32.25 (selects) = 328.25 B (S++ paper: ~2,520 B)
tanh                       8       as sigmoid with a 14-harmonic series: 440.25 B
sigmoid_grad / tanh_grad   9       sigmoid/tanh + one square (24 B): 352.25 / 464.25 B
*_grad_from_output         1       24 B (s - s^2, 1 - t^2 from the forward output)
=========================  ======  ==================================================

Accuracy (against float64, any input in the ring): sigmoid max error 3.4e-4 (the saturation
at |x| = 8; 1.2e-4 inside), tanh 6.7e-4 (saturation at |x| = 4), derivatives within 1e-3.
Security: the comparisons, the series and the selects each give every party a uniformly
distributed view (see their modules); the composition is on shares only.
"""

from __future__ import annotations

import numpy as np

from ..engine.context import protocol
from ..tensor import SharedTensor
from . import approximations as ap
from .boolean import BitTensor, select_bits
from .compare import msb_bits
from .fourier import TrigSeries, trig_series

VARIANTS = ("default", "spp")


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")


def saturate(x: SharedTensor, core: SharedTensor, limit: float, low: float, high: float) -> SharedTensor:
    """``core`` where -limit <= x < limit, ``high`` at or above, ``low`` below; one batched
    comparison (x - limit, x + limit) and one batched select."""
    both = SharedTensor.stack([x - limit, x + limit])
    below = msb_bits(both)  # [x < limit], [x < -limit]
    ctx = x.ctx
    if ctx.is_helper:
        bits = BitTensor(ctx, None, both.shape)
    else:
        flip = np.zeros(both.shape, np.uint8)
        if ctx.party == 0:
            flip[0] = 1  # [x >= limit] = NOT [x < limit]
        bits = BitTensor(ctx, below.share ^ flip)
    picked = select_bits(bits, SharedTensor.stack([high - core, core - low]))
    return core + picked[0] - picked[1]


def _saturated_series(x: SharedTensor, series: TrigSeries, offset: float, limit: float, low: float, high: float) -> SharedTensor:
    core = trig_series(x, series)
    if offset:
        core = core + offset
    return saturate(x, core, limit, low, high)


@protocol("sigmoid")
def sigmoid(x: SharedTensor, variant: str = "default") -> SharedTensor:
    """Logistic sigmoid 1 / (1 + e^-x)."""
    check_variant(variant)
    if variant == "spp":
        from . import spp_paper

        return spp_paper.sigmoid(x)
    return _saturated_series(x, ap.sigmoid_series(), 0.5, ap.SIGMOID_LIMIT, 0.0, 1.0)


@protocol("tanh")
def tanh(x: SharedTensor, variant: str = "default") -> SharedTensor:
    """Hyperbolic tangent."""
    check_variant(variant)
    if variant == "spp":
        from . import spp_paper

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
def sigmoid_grad(x: SharedTensor, variant: str = "default") -> SharedTensor:
    """sigma'(x) = sigma(x)(1 - sigma(x)) (the paper's Algorithm 4 for ``spp``)."""
    check_variant(variant)
    s = sigmoid(x, variant)
    if variant == "spp":
        from . import spp_paper

        return spp_paper.sigmoid_grad_from_output(s)
    return sigmoid_grad_from_output(s)


@protocol("tanh_grad")
def tanh_grad(x: SharedTensor, variant: str = "default") -> SharedTensor:
    """tanh'(x) = 1 - tanh(x)^2 (the paper's Algorithm 6 for ``spp``)."""
    check_variant(variant)
    t = tanh(x, variant)
    if variant == "spp":
        from . import spp_paper

        return spp_paper.tanh_grad_from_output(t)
    return tanh_grad_from_output(t)
