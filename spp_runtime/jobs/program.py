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
largest uploaded input. A program that runs a stored model gives ``model_size(params, shapes,
model)`` as well, computed from the model's public record. ``label_classes`` names the inputs that hold integer class labels
and how many classes the program expects for each, so that a server can refuse a stored
dataset whose manifest records labels beyond them.

Stored datasets: a job may name stored dataset parts as inputs. ``access(params, keeps_model)``
says which rights (``api.access``: ``train``, ``infer``, ``release-model``) the client needs on
the dataset behind each such input when it does not own it (``keeps_model``: the job keeps
its model on the servers, ``save_as``, rather than returning it); an input it does not list,
or every input of a program without ``access``, may only be a dataset the client owns. Every
primary checks this from its own grant store before the job runs (``required_rights``), so a
program states its needs once and the server checks them generically. A program that can keep
a model on the servers (``services.save_model``) says so with ``stores_model``; the servers
refuse ``save_as`` for any other.

Stored models: a program that runs a model kept on the servers (``predict``; job field
``model``) says so with ``takes_model(params, shapes, model)``: given the model's public
record (``{"config": ..., "tensors": {name: shape}}``) it checks the job (ValueError) and
returns the number of rows of predictions the job asks for, which the primaries charge
against the client's query budget. The servers refuse ``model`` for any other program, and
check the client's right to query the model (``StorageService.authorize_predict``) before it
runs; the program gets the model through ``services.stored_model``.

Applications export their programs as a table (:func:`programs_table`); the server command
joins the tables with :func:`compose`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from ..api.access import Rights
from ..engine.context import PartyContext
from ..tensor import SharedTensor
from .services import JobServices

Inputs = Mapping[str, SharedTensor]
Params = Mapping[str, Any]
Outputs = Mapping[str, SharedTensor | np.ndarray]
Shapes = Mapping[str, tuple[int, ...]]
Access = Callable[[Params, bool], Mapping[str, Rights]]
ModelCheck = Callable[[Params, Shapes, Mapping[str, Any]], int]


@dataclass(frozen=True)
class Program:
    """One runnable program: its SPMD body, required inputs and a pre-flight check."""

    name: str
    run: Callable[[PartyContext, Inputs, Params, JobServices], Outputs]
    inputs: tuple[str, ...] | None = None  # required input names; None: any
    check: Callable[[Params, Shapes], None] | None = None  # raise ValueError on bad jobs
    description: str = ""
    access: Access | None = None  # rights needed per stored input; None: own datasets only
    stores_model: bool = False  # may keep a model on the servers (job field save_as)
    takes_model: ModelCheck | None = None  # runs a stored model (job field model): check, rows asked
    size: Callable[[Params, Shapes], int] | None = None  # elements of its largest tensor
    # with a stored model (job field model): elements of its largest tensor, from the model's record
    model_size: ModelCheck | None = None
    # inputs holding integer labels -> the classes the program expects (labels in [0, classes))
    label_classes: Callable[[Params], Mapping[str, int]] | None = None

    def required_rights(self, params: Params, name: str, *, keeps_model: bool = False) -> Rights | None:
        """The rights a client needs on another owner's dataset to feed it to input ``name``
        (``keeps_model``: the job keeps its model on the servers); None when only the
        dataset's owner may (programs whose outputs are computed directly from their
        inputs). ValueError if ``params`` are malformed."""
        if self.access is None:
            return None
        try:
            needed = self.access(params, keeps_model).get(name)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"program {self.name!r}: cannot tell the rights it needs ({exc})") from None
        return frozenset(needed) if needed else None

    def validate(self, params: Params, shapes: Shapes, model: Mapping[str, Any] | None = None) -> int:
        """Check a job (ValueError); returns the rows of predictions it asks of a stored
        ``model`` (0 without one)."""
        if self.inputs is not None and set(shapes) != set(self.inputs):
            raise ValueError(
                f"program {self.name!r} takes inputs {list(self.inputs)}, got {sorted(shapes)}"
            )
        if self.check is not None:
            self.check(params, shapes)
        if model is not None and self.takes_model is not None:
            return int(self.takes_model(params, shapes, model))
        return 0


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
