"""Benchmark cases of the S++ functions, both variants ("default" ours, "spp" the paper's).

Inputs exercise the accuracy bars: sigmoid, tanh and their derivatives on [-64, 64]
(the paper's variant on its documented range, where its error is meaningful), exp on
[-16, 16], softmax over the rows of the bench shape with logits in [-64, 64].
"""

from __future__ import annotations

import numpy as np

from ..protocols import activations, exponential, softmax
from ..protocols.baselines import spp_paper
from ..protocols.variants import DEFAULT, SPP, variants_of
from ..reference import emulate
from ..reference.approximations import exp_reference
from .case import BenchCase, Shape


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _uniform(low: float, high: float, spp_range: tuple[float, float] | None = None):
    """Inputs in [low, high); the paper's variant is measured inside its working range."""

    def make(shape: Shape, rng: np.random.Generator, variant: str = DEFAULT) -> dict[str, np.ndarray]:
        lo, hi = spp_range if (variant == SPP and spp_range) else (low, high)
        return {"x": rng.uniform(lo, hi, size=shape)}

    return make


def _softmax_ref(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


CASES = (
    BenchCase("exp", _uniform(-16, 16, spp_paper.EXP_RANGE), lambda c, t, v: exponential.exp(t["x"], v),
              lambda x: exp_reference(x), variants_of("exp"), "e^x (error relative above 1, absolute below)",
              "mixed", {DEFAULT: 1e-3, SPP: 2e-2}),
    BenchCase("taylor_exp", _uniform(-0.5, 0.5), lambda c, t, v: spp_paper.taylor_exp(t["x"]),
              lambda x: np.exp(x), variants_of("taylor_exp"), "the paper's Algorithm 1 on [-1/2, 1/2]", "abs", 3e-3),
    BenchCase("sigmoid", _uniform(-64, 64, spp_paper.SIGMOID_RANGE), lambda c, t, v: activations.sigmoid(t["x"], v),
              _sigmoid, variants_of("sigmoid"), "logistic sigmoid", "abs", {DEFAULT: 1e-3, SPP: 4e-3}),
    BenchCase("sigmoid_grad", _uniform(-64, 64, spp_paper.SIGMOID_RANGE), lambda c, t, v: activations.sigmoid_grad(t["x"], v),
              lambda x: _sigmoid(x) * (1 - _sigmoid(x)), variants_of("sigmoid_grad"), "sigma(x)(1 - sigma(x)) from x", "abs",
              {DEFAULT: 1e-3, SPP: 2e-3}),
    BenchCase("tanh", _uniform(-64, 64, spp_paper.TANH_RANGE), lambda c, t, v: activations.tanh(t["x"], v),
              lambda x: np.tanh(x), variants_of("tanh"), "hyperbolic tangent", "abs", {DEFAULT: 1e-3, SPP: 8e-3}),
    BenchCase("tanh_grad", _uniform(-64, 64, spp_paper.TANH_RANGE), lambda c, t, v: activations.tanh_grad(t["x"], v),
              lambda x: 1 - np.tanh(x) ** 2, variants_of("tanh_grad"), "1 - tanh(x)^2 from x", "abs", {DEFAULT: 1e-3, SPP: 8e-3}),
    BenchCase("softmax", _uniform(-64, 64, spp_paper.SOFTMAX_RANGE), lambda c, t, v: softmax.softmax(t["x"], -1, v),
              _softmax_ref, variants_of("softmax"), "softmax over each row", "abs", {DEFAULT: 1e-3, SPP: 5e-3}),
    BenchCase("softmax_relu", _uniform(-64, 64), lambda c, t, v: softmax.softmax_relu(t["x"], -1),
              lambda x: emulate.softmax_relu(x), variants_of("softmax_relu"), "relu(x_i) / sum_j relu(x_j) (SecureML)", "abs", 1e-3),
)
