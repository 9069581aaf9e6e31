"""A program a job may run: its SPMD body, required inputs and a pre-flight check.

The registry of programs is :mod:`.programs`; program modules elsewhere (``nn.jobs``) import
only this module, so they never import the registry that imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.context import PartyContext
from ..tensor import SharedTensor

Inputs = Mapping[str, SharedTensor]
Params = Mapping[str, Any]
Outputs = Mapping[str, SharedTensor | np.ndarray]
Shapes = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class Program:
    """One runnable program: its SPMD body, required inputs and a pre-flight check."""

    name: str
    run: Callable[[PartyContext, Inputs, Params], Outputs]
    inputs: tuple[str, ...] | None = None  # required input names; None: any
    check: Callable[[Params, Shapes], None] | None = None  # raise ValueError on bad jobs
    description: str = ""

    def validate(self, params: Params, shapes: Shapes) -> None:
        if self.inputs is not None and set(shapes) != set(self.inputs):
            raise ValueError(
                f"program {self.name!r} takes inputs {list(self.inputs)}, got {sorted(shapes)}"
            )
        if self.check is not None:
            self.check(params, shapes)
