"""What a job may run: SPMD programs by name. Adding a program is one entry in ``PROGRAMS``.

A program runs on all three parties with a fresh PartyContext (seeds set up, counters
zeroed). It gets the job's inputs as SharedTensors (the helper's hold only shapes) and its
public parameters, and returns named outputs: a SharedTensor goes back to the client as the
two primaries' shares, a numpy array as a public value. ``check`` validates parameters and
input shapes on every server before anything runs, so a bad job fails the same way on all
three with a clear message and costs no traffic.
"""

from __future__ import annotations

import numpy as np

from ..bench.registry import ALL_CASES
from ..engine.context import PartyContext
from ..protocols import compare

from .program import Inputs, Outputs, Params, Program, Shapes  # noqa: F401 - re-exported


# -- linear algebra ------------------------------------------------------------------------------
def _check_matmul(params: Params, shapes: Shapes) -> None:
    x, y = shapes["x"], shapes["y"]
    if len(x) != 2 or len(y) != 2 or x[1] != y[0]:
        raise ValueError(f"matmul needs (m, k) and (k, n) inputs, got {list(x)} and {list(y)}")


def _check_mul(params: Params, shapes: Shapes) -> None:
    try:
        np.broadcast_shapes(shapes["x"], shapes["y"])
    except ValueError:
        raise ValueError(f"mul inputs {list(shapes['x'])} and {list(shapes['y'])} do not broadcast") from None


# -- the demo: one dense layer with ReLU ----------------------------------------------------------
def _demo(ctx: PartyContext, t: Inputs, params: Params) -> Outputs:
    return {"scores": compare.relu(t["x"] @ t["w"] + t["b"])}


def _check_demo(params: Params, shapes: Shapes) -> None:
    x, w, b = shapes["x"], shapes["w"], shapes["b"]
    if len(x) != 2 or len(w) != 2 or x[1] != w[0] or tuple(b) != (w[1],):
        raise ValueError(f"demo needs x (n, d), w (d, k), b (k,), got {list(x)}, {list(w)}, {list(b)}")


# -- benchmark cases ----------------------------------------------------------------------------------
def _bench(ctx: PartyContext, t: Inputs, params: Params) -> Outputs:
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


PROGRAMS: dict[str, Program] = {
    p.name: p
    for p in (
        Program("matmul", lambda ctx, t, p: {"out": t["x"] @ t["y"]}, ("x", "y"), _check_matmul,
                "secure matrix product x @ y"),
        Program("mul", lambda ctx, t, p: {"out": t["x"] * t["y"]}, ("x", "y"), _check_mul,
                "secure elementwise product x * y"),
        Program("demo", _demo, ("x", "w", "b"), _check_demo,
                "a dense layer with ReLU: relu(x @ w + b)"),
        Program("bench", _bench, None, _check_bench,
                "one benchmark case (params: case, variant), recorded as the call 'bench'"),
    )
}


from .programs_storage import STORAGE_PROGRAMS

PROGRAMS.update(STORAGE_PROGRAMS)

from ..nn.jobs import NN_PROGRAMS  # noqa: E402 - training and inference of networks

PROGRAMS.update(NN_PROGRAMS)


def get_program(name: str) -> Program:
    try:
        return PROGRAMS[name]
    except KeyError:
        raise ValueError(f"unknown program {name!r}; known: {', '.join(sorted(PROGRAMS))}") from None
