"""The fitted series behind the default S++ functions, computed once and cached.

Every approximation is a trigonometric series evaluated in one round by
:func:`.fourier.trig_series`; the fits are deterministic (FFT of a reflected function, or a
weighted least-squares fit), so all parties derive the same coefficients.

============  =========================  ==========  =========  ======================
name          function on the interval   period      harmonics  float64 max error
============  =========================  ==========  =========  ======================
sigmoid       sigma(x) - 1/2 on [-8, 8]  32 (p = 5)  7 odd      1.0e-4
tanh          tanh(x) on [-8, 8]         32 (p = 5)  14 odd     2.2e-4
exp_core      e^u on [-1, 1]             4 (p = 2)   6          2.0e-5 relative
exp_neg_core  e^v on [-2, 0]             8 (p = 3)   4          2.0e-5

tanh saturates at 8 rather than 4 (where 1 - tanh(4) is already 6.7e-4) so that its
derivative 1 - t^2 also stays within 1e-3; that needs twice the harmonics of sigmoid.
============  =========================  ==========  =========  ======================
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .fourier import TrigSeries, fit_interval, fit_odd_reflected

SIGMOID_LIMIT = 8.0  # sigma saturates to within 3.4e-4 of 0/1 beyond
TANH_LIMIT = 8.0  # tanh saturates to within 2.3e-7 of -1/1 beyond
EXP_SCALE_BITS = 4  # default exp: e^x = (e^(x / 16))^16
EXP_LIMIT = 16.0  # default exp saturates at e^16 above, is 0 below -16
EXP_NEG_SCALE_BITS = 3  # exp on (-inf, 0]: e^z = (e^(z / 8))^8
EXP_NEG_LIMIT = 16.0  # below -16, e^z is 0 (less than half a unit of 2^-16)


def sigmoid_np(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


@lru_cache(maxsize=None)
def sigmoid_series() -> TrigSeries:
    return fit_odd_reflected(lambda t: sigmoid_np(t) - 0.5, SIGMOID_LIMIT, 7, 5)


@lru_cache(maxsize=None)
def tanh_series() -> TrigSeries:
    return fit_odd_reflected(np.tanh, TANH_LIMIT, 14, 5)


@lru_cache(maxsize=None)
def exp_core_series() -> TrigSeries:
    half = EXP_LIMIT / 2**EXP_SCALE_BITS
    return fit_interval(np.exp, -half, half, 6, 2, relative=True)


@lru_cache(maxsize=None)
def exp_neg_core_series() -> TrigSeries:
    return fit_interval(np.exp, -EXP_NEG_LIMIT / 2**EXP_NEG_SCALE_BITS, 0.0, 4, 3)
