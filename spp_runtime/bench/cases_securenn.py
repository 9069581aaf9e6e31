"""Benchmark cases of the SecureNN building blocks (comparison, division, pooling)."""

from __future__ import annotations

import numpy as np

from ..protocols import compare, division, maxpool
from .case import BenchCase, Shape, uniform_inputs

BOTH = ("default", "securenn")


def _fixed(bit):
    """Ring 0/1 shares as fixed-point 0.0/1.0 (a local scaling), so they open as reals."""
    return bit.mul_int(bit.ctx.fxp.scale)


def _division_inputs(shape: Shape, rng: np.random.Generator, variant: str = "default") -> dict[str, np.ndarray]:
    b = rng.uniform(1.0, 64.0, size=shape)
    return {"a": b * rng.uniform(0.0, 0.99, size=shape), "b": b}  # a < b: SecureNN's range


CASES = (
    BenchCase(
        name="drelu",
        make_inputs=uniform_inputs("x", low=-64, high=64),
        program=lambda ctx, t, v: _fixed(compare.drelu(t["x"], v)),
        reference=lambda x: (x >= 0).astype(float),
        variants=BOTH,
        tolerance=0.0,
        description="[x >= 0]",
    ),
    BenchCase(
        name="relu",
        make_inputs=uniform_inputs("x", low=-64, high=64),
        program=lambda ctx, t, v: compare.relu(t["x"], v),
        reference=lambda x: np.maximum(x, 0),
        variants=BOTH,
        tolerance=2**-16,
        description="max(x, 0)",
    ),
    BenchCase(
        name="division",
        make_inputs=_division_inputs,
        program=lambda ctx, t, v: division.divide(t["a"], t["b"], v),
        reference=lambda a, b: a / b,
        variants=BOTH,
        tolerance=2e-3,
        description="a / b with 0 <= a < b (SecureNN long division vs normalised Newton)",
    ),
    BenchCase(
        name="reciprocal",
        make_inputs=lambda shape, rng, variant="default": {"b": np.exp(rng.uniform(np.log(0.01), np.log(64), size=shape))},
        program=lambda ctx, t, v: division.reciprocal(t["b"], v),
        reference=lambda b: 1 / b,
        tolerance=1e-2,
        error_kind="rel",
        description="1 / b for b in [0.01, 64]",
    ),
    BenchCase(
        name="maxpool",
        make_inputs=uniform_inputs("x", low=-8, high=8),
        program=lambda ctx, t, v: maxpool.maxpool(t["x"], (2, 2))[0],
        reference=lambda x: x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).max(axis=(1, 3)),
        tolerance=2**-16,
        description="2x2 max pooling with the argmax one-hot for the derivative",
    ),
    BenchCase(
        name="rowmax",
        make_inputs=uniform_inputs("x", low=-64, high=64),
        program=lambda ctx, t, v: maxpool.rowmax(t["x"], axis=-1),
        reference=lambda x: x.max(axis=-1),
        tolerance=2**-16,
        description="maximum of each row",
    ),
)
