"""Benchmark cases of the linear protocols (Beaver products)."""

from __future__ import annotations

import numpy as np

from ..protocols.variants import DEFAULT
from .case import BenchCase, Shape, uniform_inputs


def _matmul_inputs(shape: Shape, rng: np.random.Generator, variant: str = DEFAULT) -> dict[str, np.ndarray]:
    """``MxN`` benchmarks an (M x N) by (N x M) product, so both operands have M*N elements."""
    m, n = shape
    return {"x": rng.uniform(-1, 1, size=(m, n)), "y": rng.uniform(-1, 1, size=(n, m))}


CASES = (
    BenchCase(
        name="matmul",
        make_inputs=_matmul_inputs,
        program=lambda ctx, t, variant: t["x"] @ t["y"],
        reference=lambda x, y: x @ y,
        description="(M x N) @ (N x M) with a helper-dealt matrix triple",
        tolerance=2e-3,
    ),
    BenchCase(
        name="mul",
        make_inputs=uniform_inputs("x", "y", low=-4, high=4),
        program=lambda ctx, t, variant: t["x"] * t["y"],
        reference=lambda x, y: x * y,
        description="elementwise product with a helper-dealt triple",
    ),
)
