"""The fitted series behind the default sigmoid and tanh, computed once and cached, and the
limits and plaintext specification of the default exponential.

Every approximation is a trigonometric series evaluated without a round of its own by
:func:`spp_runtime.protocols.fourier.trig_series_opened`; the fits are deterministic (FFT of a
reflected function, or a weighted least-squares fit), so all parties derive the same
coefficients.

============  ============================  ==========  =========  =================
name          function on the interval      period      harmonics  float64 max error
============  ============================  ==========  =========  =================
sigmoid       sigma(x) - 1/2 on [-8, 8]     32 (p = 5)  6 odd      2.9e-4
tanh          tanh(x) on [-4.25, 4.25]      16 (p = 4)  7 odd      4.1e-4
============  ============================  ==========  =========  =================

Both are minimax fits on the interval only (:func:`~.fourier.fit_odd_minimax`); before, the
projections of reflected functions (:func:`~.fourier.fit_odd_reflected`) needed 7 harmonics
for sigmoid (1.0e-4) and 14 for tanh on [-8, 8] (2.2e-4). tanh saturates at 4.25, not 4
(where 1 - tanh(4) is 6.7e-4), so that its derivative 1 - t^2 stays within 1e-3 too
(1 - tanh(4.25)^2 = 8.1e-4; measured max error of 1 - t^2: 8.1e-4). Past a quarter period
(4) the odd harmonics mirror the series about 4, which the fit accounts for.
The exponential needs no series: :mod:`spp_runtime.protocols.exp_lookup` computes it exactly up
to rounding, so its specification is :func:`exp_reference`.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .fourier import TrigSeries, fit_odd_minimax

SIGMOID_LIMIT = 8.0  # sigma saturates to within 3.4e-4 of 0/1 beyond
TANH_LIMIT = 4.25  # tanh saturates to within 4.1e-4 of -1/1 beyond (tanh' within 8.1e-4)
EXP_LIMIT = 16.0  # default exp saturates at e^16 above, is 0 below -16
EXP_NEG_LIMIT = 16.0  # below -16, e^z is 0 (less than half a unit of 2^-16)


def sigmoid_np(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


@cache
def sigmoid_series() -> TrigSeries:
    return fit_odd_minimax(lambda t: sigmoid_np(t) - 0.5, SIGMOID_LIMIT, 6, 5)


@cache
def tanh_series() -> TrigSeries:
    return fit_odd_minimax(np.tanh, TANH_LIMIT, 7, 4)


def exp_reference(x: np.ndarray) -> np.ndarray:
    """What the default exp is specified to return: e^x clipped to the saturation range."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < -EXP_LIMIT, 0.0, np.exp(np.minimum(x, EXP_LIMIT)))


def exp_nonpositive_limit(frac_bits: int) -> float:
    """The smallest z whose e^z ``exp_nonpositive`` computes (below it returns 0)."""
    return -EXP_NEG_LIMIT + 2.0**-frac_bits
