"""Benchmark cases of the S++ functions, both variants ("default" ours, "spp" the paper's).

Inputs exercise the accuracy bars: sigmoid, tanh and their derivatives on [-64, 64]
(the paper's variant on its documented range, where its error is meaningful), exp on
[-16, 16], softmax over the rows of the bench shape with logits in [-64, 64].
"""

from __future__ import annotations

import numpy as np

from ..protocols import activations, emulate, exponential, softmax
from ..protocols import spp_paper
from .case import BenchCase, Shape

BOTH = ("default", "spp")


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _uniform(low: float, high: float, spp_range: tuple[float, float] | None = None):
    """Inputs in [low, high); the paper's variant is measured inside its working range."""

    def make(shape: Shape, rng: np.random.Generator, variant: str = "default") -> dict[str, np.ndarray]:
        lo, hi = spp_range if (variant == "spp" and spp_range) else (low, high)
        return {"x": rng.uniform(lo, hi, size=shape)}

    return make


def _softmax_ref(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


CASES = (
    BenchCase("exp", _uniform(-16, 16, spp_paper.EXP_RANGE), lambda c, t, v: exponential.exp(t["x"], v),
              lambda x: exponential.exp_reference(x), BOTH, "e^x (error relative above 1, absolute below)",
              "mixed", {"default": 1e-3, "spp": 2e-2}),
    BenchCase("taylor_exp", _uniform(-0.5, 0.5), lambda c, t, v: exponential.taylor_exp(t["x"]),
              lambda x: np.exp(x), ("spp",), "the paper's Algorithm 1 on [-1/2, 1/2]", "abs", 3e-3),
    BenchCase("sigmoid", _uniform(-64, 64, spp_paper.SIGMOID_RANGE), lambda c, t, v: activations.sigmoid(t["x"], v),
              _sigmoid, BOTH, "logistic sigmoid", "abs", {"default": 1e-3, "spp": 4e-3}),
    BenchCase("sigmoid_grad", _uniform(-64, 64, spp_paper.SIGMOID_RANGE), lambda c, t, v: activations.sigmoid_grad(t["x"], v),
              lambda x: _sigmoid(x) * (1 - _sigmoid(x)), BOTH, "sigma(x)(1 - sigma(x)) from x", "abs",
              {"default": 1e-3, "spp": 2e-3}),
    BenchCase("tanh", _uniform(-64, 64, spp_paper.TANH_RANGE), lambda c, t, v: activations.tanh(t["x"], v),
              lambda x: np.tanh(x), BOTH, "hyperbolic tangent", "abs", {"default": 1e-3, "spp": 8e-3}),
    BenchCase("tanh_grad", _uniform(-64, 64, spp_paper.TANH_RANGE), lambda c, t, v: activations.tanh_grad(t["x"], v),
              lambda x: 1 - np.tanh(x) ** 2, BOTH, "1 - tanh(x)^2 from x", "abs", {"default": 1e-3, "spp": 8e-3}),
    BenchCase("softmax", _uniform(-64, 64, spp_paper.SOFTMAX_RANGE), lambda c, t, v: softmax.softmax(t["x"], -1, v),
              _softmax_ref, BOTH, "softmax over each row", "abs", {"default": 1e-3, "spp": 5e-3}),
    BenchCase("softmax_relu", _uniform(-64, 64), lambda c, t, v: softmax.softmax_relu(t["x"], -1),
              lambda x: emulate.softmax_relu(x), ("default",), "relu(x_i) / sum_j relu(x_j) (SecureML)", "abs", 1e-3),
)
