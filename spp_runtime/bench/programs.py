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


_CELLS = {"lstm_cell": 4, "gru_cell": 3}  # the recurrent cell cases: W's column blocks per hidden unit


def _check_cell(name: str, shapes: Shapes) -> None:
    """x (B, n_in), dy (B, H), W (n_in + H, blocks * H), b (4 H) (see ``cases_recurrent``)."""
    x, dy, w, b = (tuple(shapes.get(k, ())) for k in ("x", "dy", "W", "b"))
    ok = set(shapes) == {"x", "dy", "W", "b"} and len(x) == 2 and len(dy) == 2 and x[0] == dy[0]
    if not ok or w != (x[1] + dy[1], _CELLS[name] * dy[1]) or b != (4 * dy[1],):
        raise ValueError(f"case {name!r} needs inputs x (B, n_in), dy (B, H), W (n_in + H, {_CELLS[name]} H), "
                         f"b (4 H), got { {k: list(v) for k, v in shapes.items()} }")


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
    if name in _CELLS:
        _check_cell(name, shapes)
        return
    try:
        broadcast(*shapes.values())
    except ValueError:
        if name != "matmul":
            raise ValueError(f"the inputs of case {name!r} do not broadcast: "
                             f"{ {k: list(v) for k, v in shapes.items()} }") from None


def _size_bench(params: Params, shapes: Shapes) -> int:
    """The inputs and the output: ``x @ y`` for the matmul case, a recurrent cell's gates and
    stacked step inputs for the cell cases, else the inputs broadcast."""
    if params.get("case") in _CELLS:
        rows, hidden = shapes["dy"]
        return max(largest(shapes.values()), rows * max(shapes["x"][1] + hidden, 2 * 4 * hidden))
    if params.get("case") == "matmul":
        return largest([*shapes.values(), matmul_shape(shapes["x"], shapes["y"])])
    return largest([*shapes.values(), broadcast(*shapes.values())])


PROGRAMS: Mapping[str, Program] = programs_table(
    Program("bench", _bench, None, _check_bench,
            "one benchmark case (params: case, variant), recorded as the call 'bench'", size=_size_bench),
)
