"""Benchmark cases of the SecureNN building blocks: comparison, ReLU, division, pooling, row max.

Every case runs our default variant and SecureNN's faithful one ("securenn") on the same
inputs, inside the range where both are specified: |x| < 64 for DReLU/ReLU, 0 <= a < b with
b in [1, 64] for division (SecureNN's long division needs a < b), b in [0.01, 64] for the
reciprocal. Comparison results are ring 0/1 integers; the DReLU case scales them locally to
fixed-point 0.0/1.0 so that they open as reals.
"""

from __future__ import annotations

import numpy as np

from ..protocols import compare, division, maxpool
from ..protocols.variants import DEFAULT, SECURENN, variants_of
from ..tensor import SharedTensor
from .case import BenchCase, Shape, uniform_inputs


def _fixed(bit: SharedTensor) -> SharedTensor:
    """Ring 0/1 shares as fixed-point 0.0/1.0 (a local scaling), so they open as reals."""
    return bit.mul_int(bit.ctx.fxp.scale)


def _division_inputs(shape: Shape, rng: np.random.Generator, variant: str = DEFAULT) -> dict[str, np.ndarray]:
    b = rng.uniform(1.0, 64.0, size=shape)
    return {"a": b * rng.uniform(0.0, 0.99, size=shape), "b": b}


def _reciprocal_inputs(shape: Shape, rng: np.random.Generator, variant: str = DEFAULT) -> dict[str, np.ndarray]:
    return {"b": np.exp(rng.uniform(np.log(0.01), np.log(64.0), size=shape))}


def _pool_ref(x: np.ndarray) -> np.ndarray:
    *lead, h, w = x.shape
    return x.reshape(*lead, h // 2, 2, w // 2, 2).max(axis=(-3, -1))


CASES = (
    BenchCase(
        name="drelu",
        make_inputs=uniform_inputs("x", low=-64, high=64),
        program=lambda ctx, t, v: _fixed(compare.drelu(t["x"], v)),
        reference=lambda x: (x >= 0).astype(float),
        variants=variants_of("drelu"),
        tolerance=0.0,
        description="[x >= 0] (default: 4 rounds, 72.375 B; SecureNN: 8 rounds, 664 B)",
    ),
    BenchCase(
        name="relu",
        make_inputs=uniform_inputs("x", low=-64, high=64),
        program=lambda ctx, t, v: compare.relu(t["x"], v),
        reference=lambda x: np.maximum(x, 0),
        variants=variants_of("relu"),
        tolerance=2**-17,
        description="max(x, 0) (default: 4 rounds, 80.375 B; SecureNN: 9 (paper 10) rounds, 704 B)",
    ),
    BenchCase(
        name="division",
        make_inputs=_division_inputs,
        program=lambda ctx, t, v: division.divide(t["a"], t["b"], v),
        reference=lambda a, b: a / b,
        variants=variants_of("divide"),
        tolerance=1e-3,
        error_kind="mixed",
        description="a / b, 0 <= a < b (normalised Newton vs SecureNN's exact long division)",
    ),
    BenchCase(
        name="reciprocal",
        make_inputs=_reciprocal_inputs,
        program=lambda ctx, t, v: division.reciprocal(t["b"], v),
        reference=lambda b: 1 / b,
        variants=variants_of("reciprocal"),
        tolerance={DEFAULT: 2e-3, SECURENN: 2e-3},
        error_kind="rel",
        description="1 / b for b in [0.01, 64] (relative error; the inputs' own rounding included)",
    ),
    BenchCase(
        name="maxpool",
        make_inputs=uniform_inputs("x", low=-8, high=8),
        program=lambda ctx, t, v: maxpool.maxpool(t["x"], (2, 2), v)[0],
        reference=_pool_ref,
        variants=variants_of("maxpool"),
        tolerance=2**-17,
        description="2x2 max pooling with the argmax for the derivative (tree vs SecureNN's scan)",
    ),
    BenchCase(
        name="rowmax",
        make_inputs=uniform_inputs("x", low=-64, high=64),
        program=lambda ctx, t, v: maxpool.rowmax(t["x"], axis=-1),
        reference=lambda x: x.max(axis=-1),
        tolerance=2**-17,
        description="maximum of each row (tree of comparisons, one batched level at a time)",
    ),
)
