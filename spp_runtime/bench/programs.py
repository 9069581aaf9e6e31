"""The ``bench`` server program: one benchmark case (params: ``case``, ``variant``), recorded
as the call ``bench`` so that the runner reads its cost apart from the job's setup."""

from __future__ import annotations

from collections.abc import Mapping

from ..engine.context import PartyContext
from ..jobs import Inputs, JobServices, Outputs, Params, Program, Shapes, programs_table
from .registry import ALL_CASES


def _bench(ctx: PartyContext, t: Inputs, params: Params, services: JobServices) -> Outputs:
    case = ALL_CASES[params["case"]]
    with ctx.record("bench"):
        out = case.program(ctx, t, params.get("variant", "default"))
    return {"out": out}


def _check_bench(params: Params, shapes: Shapes) -> None:
    name = params.get("case")
    if name not in ALL_CASES:
        raise ValueError(f"unknown benchmark case {name!r}; known: {', '.join(sorted(ALL_CASES))}")
    variant = params.get("variant", "default")
    if variant not in ALL_CASES[name].variants:
        raise ValueError(f"case {name!r} has no variant {variant!r}; known: {', '.join(ALL_CASES[name].variants)}")


PROGRAMS: Mapping[str, Program] = programs_table(
    Program("bench", _bench, None, _check_bench,
            "one benchmark case (params: case, variant), recorded as the call 'bench'"),
)
