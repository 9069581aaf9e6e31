"""The ``bench`` server program: one benchmark case (params: ``case``, ``variant``), recorded
as the call ``bench`` so that the runner reads its cost apart from the job's setup."""

from __future__ import annotations

from collections.abc import Mapping

from ..engine.context import PartyContext
from ..jobs import Inputs, JobServices, Outputs, Params, Program, Shapes, programs_table
from ..jobs.limits import broadcast, largest, matmul_shape
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
    if name == "matmul" and ({"x", "y"} - set(shapes) or len(shapes["x"]) != 2 or len(shapes["y"]) != 2
                             or shapes["x"][1] != shapes["y"][0]):
        raise ValueError(f"case 'matmul' needs inputs x (m, k) and y (k, n), got "
                         f"{ {k: list(v) for k, v in shapes.items()} }")
    try:
        broadcast(*shapes.values())
    except ValueError:
        if name != "matmul":
            raise ValueError(f"the inputs of case {name!r} do not broadcast: "
                             f"{ {k: list(v) for k, v in shapes.items()} }") from None


def _size_bench(params: Params, shapes: Shapes) -> int:
    """The inputs and the output: ``x @ y`` for the matmul case, else the inputs broadcast."""
    if params.get("case") == "matmul":
        return largest([*shapes.values(), matmul_shape(shapes["x"], shapes["y"])])
    return largest([*shapes.values(), broadcast(*shapes.values())])


PROGRAMS: Mapping[str, Program] = programs_table(
    Program("bench", _bench, None, _check_bench,
            "one benchmark case (params: case, variant), recorded as the call 'bench'", _size_bench),
)
