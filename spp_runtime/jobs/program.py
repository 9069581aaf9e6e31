"""A program a job may run: its SPMD body, required inputs and a pre-flight check.

A program runs on all three parties with a fresh PartyContext (seeds set up, counters
zeroed). It gets the job's inputs as SharedTensors (the helper's hold only shapes), its public
parameters and this party's :class:`~.services.JobServices`, and returns named outputs: a
SharedTensor goes back to the client as the two primaries' shares, a numpy array as a public
value. ``check`` validates parameters and input shapes on every server before anything runs,
so a bad job fails the same way on all three with a clear message and costs no traffic.
``size`` gives, from parameters and shapes alone (arithmetic only, never allocating), the
elements of the largest tensor the program computes: its outputs and intermediates, and the
stored inputs it reads whole. The servers refuse a job above ``limits.max_job_elements``
(:mod:`.limits`); a program without ``size`` is taken to compute nothing larger than its
largest uploaded input. ``label_classes`` names the inputs that hold integer class labels
and how many classes the program expects for each, so that a server can refuse a stored
dataset whose manifest records labels beyond them.

Applications export their programs as a table (:func:`programs_table`); the server command
joins the tables with :func:`compose`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from ..engine.context import PartyContext
from ..tensor import SharedTensor
from .services import JobServices

Inputs = Mapping[str, SharedTensor]
Params = Mapping[str, Any]
Outputs = Mapping[str, SharedTensor | np.ndarray]
Shapes = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class Program:
    """One runnable program: its SPMD body, required inputs and a pre-flight check."""

    name: str
    run: Callable[[PartyContext, Inputs, Params, JobServices], Outputs]
    inputs: tuple[str, ...] | None = None  # required input names; None: any
    check: Callable[[Params, Shapes], None] | None = None  # raise ValueError on bad jobs
    description: str = ""
    size: Callable[[Params, Shapes], int] | None = None  # elements of its largest tensor
    # inputs holding integer labels -> the classes the program expects (labels in [0, classes))
    label_classes: Callable[[Params], Mapping[str, int]] | None = None

    def validate(self, params: Params, shapes: Shapes) -> None:
        if self.inputs is not None and set(shapes) != set(self.inputs):
            raise ValueError(
                f"program {self.name!r} takes inputs {list(self.inputs)}, got {sorted(shapes)}"
            )
        if self.check is not None:
            self.check(params, shapes)


def programs_table(*programs: Program) -> Mapping[str, Program]:
    """A read-only table of ``programs`` by name; a name given twice is an error."""
    return compose(*({p.name: p} for p in programs))


def compose(*tables: Mapping[str, Program]) -> Mapping[str, Program]:
    """One read-only table holding every program of ``tables``; a name given twice is an error."""
    out: dict[str, Program] = {}
    for table in tables:
        for name, program in table.items():
            if name in out:
                raise ValueError(f"program {name!r} is defined twice")
            out[name] = program
    return MappingProxyType(out)
