"""What a benchmark case is: inputs, the secure program, and its float64 reference.

A case names a protocol (``"matmul"``, ``"sigmoid"``...). For a shape such as ``(128, 128)`` it
draws plaintext inputs, the harness secret-shares them to P0/P1, every party runs
``program(ctx, inputs, variant)`` inside one recorded call, the output is opened to the
client, and ``reference(**plain_inputs)`` (float64 numpy) gives the error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..engine.context import PartyContext
from ..tensor import SharedTensor

Shape = tuple[int, ...]
InputMaker = Callable[[Shape, np.random.Generator], dict[str, np.ndarray]]
SecureProgram = Callable[[PartyContext, Mapping[str, SharedTensor], str], SharedTensor]
Reference = Callable[..., np.ndarray]


@dataclass(frozen=True)
class BenchCase:
    """One benchmarkable protocol."""

    name: str
    make_inputs: InputMaker
    program: SecureProgram
    reference: Reference
    variants: tuple[str, ...] = ("default",)
    description: str = ""
    error_kind: str = "abs"  # "abs" or "rel": how max error is reported
    tolerance: float = 1e-3  # the accuracy bar the default variant must meet on make_inputs
    tags: frozenset[str] = field(default_factory=frozenset)


def uniform_inputs(*names: str, low: float = -1.0, high: float = 1.0) -> InputMaker:
    """Inputs drawn uniformly in [low, high) with the bench shape (benchmark data only)."""

    def make(shape: Shape, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {n: rng.uniform(low, high, size=shape) for n in names}

    return make
