"""The programs a job can run: name -> SPMD function over the party context.

A program receives a :class:`JobContext` (the party context, the job's parameters, its
secret-shared inputs, the party's share store) and returns the named SharedTensors whose
shares go back to the job's receiver. Later subsystems add entries to ``PROGRAMS`` (one
line each): benchmarks, dataset jobs, training and inference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..engine.context import PartyContext
from ..tensor import SharedTensor


@dataclass
class JobContext:
    ctx: PartyContext
    params: dict[str, Any]
    inputs: dict[str, SharedTensor]
    store: Any = None  # the party's share store (primaries), None on the helper
    progress: Callable[[dict], None] = field(default=lambda info: None)

    def input(self, name: str) -> SharedTensor:
        try:
            return self.inputs[name]
        except KeyError:
            raise ValueError(f"the job has no input named {name!r}") from None


@dataclass(frozen=True)
class Program:
    name: str
    run: Callable[[JobContext], dict[str, SharedTensor]]
    description: str


def _ping(job: JobContext) -> dict[str, SharedTensor]:
    return {}


def _matmul(job: JobContext) -> dict[str, SharedTensor]:
    return {"z": job.input("x") @ job.input("y")}


def _bench(job: JobContext) -> dict[str, SharedTensor]:
    from ..bench.registry import get_case

    case = get_case(str(job.params["protocol"]))
    variant = str(job.params.get("variant", "default"))
    if variant not in case.variants:
        raise ValueError(f"protocol {case.name!r} has no variant {variant!r}; known: {', '.join(case.variants)}")
    with job.ctx.record(f"bench:{case.name}"):
        out = case.program(job.ctx, job.inputs, variant)
    return {"out": out}


def _demo(job: JobContext) -> dict[str, SharedTensor]:
    """A small end-to-end computation: a dense layer with ReLU and a softmax over it."""
    x, w = job.input("x"), job.input("w")
    h = (x @ w).relu()
    return {"hidden": h, "probs": h.softmax(axis=-1)}


PROGRAMS: dict[str, Program] = {
    p.name: p
    for p in (
        Program("ping", _ping, "no computation: checks that the three servers run jobs"),
        Program("matmul", _matmul, "z = x @ y"),
        Program("bench", _bench, "one benchmark case (params: protocol, variant)"),
        Program("demo", _demo, "relu(x @ w) and its softmax"),
    )
}


def get_program(name: str) -> Program:
    try:
        return PROGRAMS[name]
    except KeyError:
        raise ValueError(f"unknown program {name!r}; known: {', '.join(sorted(PROGRAMS))}") from None
