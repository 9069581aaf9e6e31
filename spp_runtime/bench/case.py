"""What a benchmark case is: inputs, the secure program, and its float64 reference.

A case names a protocol (``"matmul"``, ``"sigmoid"``...). For a shape such as ``(128, 128)`` and a
variant it draws plaintext inputs, the harness secret-shares them to P0/P1, every party runs
``program(ctx, inputs, variant)`` inside one recorded call, the output is opened to the
client, and ``reference(**plain_inputs)`` (float64 numpy) gives the error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..engine.context import PartyContext
from ..protocols.variants import DEFAULT
from ..tensor import SharedTensor

Shape = tuple[int, ...]
InputMaker = Callable[[Shape, np.random.Generator, str], dict[str, np.ndarray]]
SecureProgram = Callable[[PartyContext, Mapping[str, SharedTensor], str], SharedTensor]
Reference = Callable[..., np.ndarray]


@dataclass(frozen=True)
class BenchCase:
    """One benchmarkable protocol."""

    name: str
    make_inputs: InputMaker
    program: SecureProgram
    reference: Reference
    variants: tuple[str, ...] = (DEFAULT,)  # see spp_runtime.protocols.variants
    description: str = ""
    error_kind: str = "abs"  # "abs", "rel", or "mixed" (relative where |ref| >= 1, else absolute)
    tolerance: float | Mapping[str, float] = 1e-3  # accuracy bar on make_inputs, per variant
    tags: frozenset[str] = field(default_factory=frozenset)

    def tolerance_for(self, variant: str) -> float:
        if isinstance(self.tolerance, Mapping):
            return self.tolerance[variant]
        return self.tolerance

    def error(self, got: np.ndarray, want: np.ndarray) -> float:
        """The case's error measure (max over elements)."""
        err = np.abs(np.asarray(got, dtype=np.float64) - want)
        if self.error_kind == "rel":
            err = err / np.maximum(np.abs(want), 1e-300)
        elif self.error_kind == "mixed":
            err = err / np.maximum(np.abs(want), 1.0)
        return float(np.max(err)) if err.size else 0.0


def uniform_inputs(*names: str, low: float = -1.0, high: float = 1.0) -> InputMaker:
    """Inputs drawn uniformly in [low, high) with the bench shape (benchmark data only)."""

    def make(shape: Shape, rng: np.random.Generator, variant: str = DEFAULT) -> dict[str, np.ndarray]:
        return {n: rng.uniform(low, high, size=shape) for n in names}

    return make
