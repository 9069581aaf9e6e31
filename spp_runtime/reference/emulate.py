"""Plaintext (float64) emulations of what the default protocols compute.

Each function applies the same approximation the protocol does (the same fitted series,
saturation thresholds, squarings and guards) without the secret sharing, so a plaintext
reference trainer can reproduce the secure computation's approximation error; the
remaining gap to the secure result is fixed-point rounding only.
"""

from __future__ import annotations

import numpy as np

from . import approximations as ap
from .approximations import exp_nonpositive_limit, exp_reference


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _saturated(x: np.ndarray, core: np.ndarray, limit: float, low: float, high: float) -> np.ndarray:
    return np.where(x >= limit, high, np.where(x < -limit, low, core))


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return _saturated(x, 0.5 + ap.sigmoid_series().evaluate(x), ap.SIGMOID_LIMIT, 0.0, 1.0)


def tanh(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return _saturated(x, ap.tanh_series().evaluate(x), ap.TANH_LIMIT, -1.0, 1.0)


def sigmoid_grad_from_output(s: np.ndarray) -> np.ndarray:
    return s - s * s


def tanh_grad_from_output(t: np.ndarray) -> np.ndarray:
    return 1.0 - t * t


def exp(x: np.ndarray) -> np.ndarray:
    """The default exp is exact up to rounding: its specification is the emulation."""
    return exp_reference(x)


def exp_nonpositive(z: np.ndarray, frac_bits: int = 16) -> np.ndarray:
    """e^z from :func:`~.approximations.exp_nonpositive_limit` up (exact up to rounding), 0
    below."""
    z = np.asarray(z, dtype=np.float64)
    low = exp_nonpositive_limit(frac_bits)
    return np.where(z < low, 0.0, np.exp(np.maximum(z, low)))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = exp_nonpositive(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_relu(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    r = np.maximum(x, 0.0)
    s = r.sum(axis=axis, keepdims=True)
    n = x.shape[axis]
    zero = s <= 0
    return np.where(zero, 1.0 / n, r / np.where(zero, 1.0, s))
