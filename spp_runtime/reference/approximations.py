"""The fitted series behind the default sigmoid and tanh, computed once and cached, and the
limits and plaintext specification of the default exponential.

Every approximation is a trigonometric series evaluated without a round of its own by
:func:`spp_runtime.protocols.fourier.trig_series_opened`; the fits are deterministic (FFT of a
reflected function, or a weighted least-squares fit), so all parties derive the same
coefficients.

============  =========================  ==========  =========  ======================
name          function on the interval   period      harmonics  float64 max error
============  =========================  ==========  =========  ======================
sigmoid       sigma(x) - 1/2 on [-8, 8]  32 (p = 5)  7 odd      1.0e-4
tanh          tanh(x) on [-8, 8]         32 (p = 5)  14 odd     2.2e-4
============  =========================  ==========  =========  ======================

tanh saturates at 8 rather than 4 (where 1 - tanh(4) is already 6.7e-4) so that its
derivative 1 - t^2 also stays within 1e-3; that needs twice the harmonics of sigmoid.
The exponential needs no series: :mod:`spp_runtime.protocols.exp_lookup` computes it exactly up
to rounding, so its specification is :func:`exp_reference`.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .fourier import TrigSeries, fit_odd_reflected

SIGMOID_LIMIT = 8.0  # sigma saturates to within 3.4e-4 of 0/1 beyond
TANH_LIMIT = 8.0  # tanh saturates to within 2.3e-7 of -1/1 beyond
EXP_LIMIT = 16.0  # default exp saturates at e^16 above, is 0 below -16
EXP_NEG_LIMIT = 16.0  # below -16, e^z is 0 (less than half a unit of 2^-16)


def sigmoid_np(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


@cache
def sigmoid_series() -> TrigSeries:
    return fit_odd_reflected(lambda t: sigmoid_np(t) - 0.5, SIGMOID_LIMIT, 7, 5)


@cache
def tanh_series() -> TrigSeries:
    return fit_odd_reflected(np.tanh, TANH_LIMIT, 14, 5)


def exp_reference(x: np.ndarray) -> np.ndarray:
    """What the default exp is specified to return: e^x clipped to the saturation range."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < -EXP_LIMIT, 0.0, np.exp(np.minimum(x, EXP_LIMIT)))


def exp_nonpositive_limit(frac_bits: int) -> float:
    """The smallest z whose e^z ``exp_nonpositive`` computes (below it returns 0)."""
    return -EXP_NEG_LIMIT + 2.0**-frac_bits
