"""Benchmark cases of the recurrent cells: one LSTM or GRU step forward and one backward.

A shape ``BxH`` is a batch of B rows and H hidden units; the step's input is a 28-pixel row
(row-sequential MNIST). The program runs the layer of :mod:`spp_runtime.nn.recurrent` for
one step (initial h = c = 0, which does not change any cost: the products and activations
run on shares all the same) and its backward pass with the upstream gradient ``dy``, and
returns the output, the input gradient and the weight gradients, flattened into one
vector; the reference is the same code in float64 with exact functions. Weights are drawn
with the layers' own init (scaled up so the gates leave their linear range).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..nn.ops import FloatOps, Ops, SecureOps
from ..nn.recurrent import GRU, LSTM, RecurrentLayer
from ..protocols.variants import DEFAULT
from .case import BenchCase, Shape

STEP_INPUTS = 28


def _layer(kind: str, shape: Shape) -> RecurrentLayer:
    _, hidden = shape
    return LSTM(STEP_INPUTS, hidden, 1) if kind == "lstm" else GRU(STEP_INPUTS, hidden, 1)


def _inputs(kind: str):
    def make(shape: Shape, rng: np.random.Generator, variant: str = DEFAULT) -> dict[str, np.ndarray]:
        layer = _layer(kind, shape)
        p = layer.init(rng)
        return {"x": rng.uniform(0, 1, (shape[0], STEP_INPUTS)), "dy": rng.uniform(-1, 1, (shape[0], layer.n_out)),
                "W": 2.0 * p["W"], "b": p["b"]}

    return make


def _step(ops: Ops, layer: RecurrentLayer, t: Mapping[str, Any]) -> list[Any]:
    p = {"W": t["W"], "b": t["b"]}
    y, cache = layer.forward(ops, p, t["x"])
    dx, g = layer.backward(ops, p, cache, t["dy"], need_dx=True)
    return [v.reshape(-1) for v in (y, dx, g["W"], g["b"])]


def _program(kind: str):
    def program(ctx, t, variant):
        ops = SecureOps(ctx, variant)
        layer = _layer(kind, (t["x"].shape[0], t["dy"].shape[1]))
        return ops.concat(_step(ops, layer, t), 0)

    return program


def _reference(kind: str):
    def reference(x: np.ndarray, dy: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        layer = _layer(kind, (x.shape[0], dy.shape[1]))
        return np.concatenate(_step(FloatOps(), layer, {"x": x, "dy": dy, "W": W, "b": b}))

    return reference


CASES = (
    BenchCase("lstm_cell", _inputs("lstm"), _program("lstm"), _reference("lstm"), (DEFAULT,),
              "one LSTM step (28 inputs, BxH) forward and backward: one stacked product, one sigmoid "
              "for all four gates (tanh = 2 sigmoid(2x) - 1), tanh of the cell", "abs", 5e-3,
              frozenset({"recurrent"})),
    BenchCase("gru_cell", _inputs("gru"), _program("gru"), _reference("gru"), (DEFAULT,),
              "one GRU step (28 inputs, BxH) forward and backward: one block product, one sigmoid "
              "(r, z), one tanh", "abs", 5e-3, frozenset({"recurrent"})),
)
