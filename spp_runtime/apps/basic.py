"""Generic programs: secure products and the demo layer.

* ``matmul``: ``x @ y``; ``mul``: ``x * y`` (broadcasting);
* ``demo``: one dense layer with ReLU, ``relu(x @ w + b)`` (``spp demo``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..engine.context import PartyContext
from ..jobs import Inputs, JobServices, Outputs, Params, Program, Shapes, programs_table
from ..jobs.limits import broadcast, largest, matmul_shape
from ..protocols import compare


# -- linear algebra ------------------------------------------------------------------------------
def _matmul(ctx: PartyContext, t: Inputs, params: Params, services: JobServices) -> Outputs:
    return {"out": t["x"] @ t["y"]}


def _check_matmul(params: Params, shapes: Shapes) -> None:
    x, y = shapes["x"], shapes["y"]
    if len(x) != 2 or len(y) != 2 or x[1] != y[0]:
        raise ValueError(f"matmul needs (m, k) and (k, n) inputs, got {list(x)} and {list(y)}")


def _mul(ctx: PartyContext, t: Inputs, params: Params, services: JobServices) -> Outputs:
    return {"out": t["x"] * t["y"]}


def _size_matmul(params: Params, shapes: Shapes) -> int:
    return largest([shapes["x"], shapes["y"], matmul_shape(shapes["x"], shapes["y"])])


def _check_mul(params: Params, shapes: Shapes) -> None:
    try:
        broadcast(shapes["x"], shapes["y"])
    except ValueError:
        raise ValueError(f"mul inputs {list(shapes['x'])} and {list(shapes['y'])} do not broadcast") from None


def _size_mul(params: Params, shapes: Shapes) -> int:
    """The broadcast output (the helper deals a triple of that shape): (N, 1) by (1, N) is N^2."""
    return largest([shapes["x"], shapes["y"], broadcast(shapes["x"], shapes["y"])])


# -- the demo: one dense layer with ReLU ----------------------------------------------------------
def _demo(ctx: PartyContext, t: Inputs, params: Params, services: JobServices) -> Outputs:
    return {"scores": compare.relu(t["x"] @ t["w"] + t["b"])}


def _check_demo(params: Params, shapes: Shapes) -> None:
    x, w, b = shapes["x"], shapes["w"], shapes["b"]
    if len(x) != 2 or len(w) != 2 or x[1] != w[0] or tuple(b) != (w[1],):
        raise ValueError(f"demo needs x (n, d), w (d, k), b (k,), got {list(x)}, {list(w)}, {list(b)}")


def _size_demo(params: Params, shapes: Shapes) -> int:
    return largest([shapes["x"], shapes["w"], matmul_shape(shapes["x"], shapes["w"])])


PROGRAMS: Mapping[str, Program] = programs_table(
    Program("matmul", _matmul, ("x", "y"), _check_matmul, "secure matrix product x @ y", size=_size_matmul),
    Program("mul", _mul, ("x", "y"), _check_mul, "secure elementwise product x * y", size=_size_mul),
    Program("demo", _demo, ("x", "w", "b"), _check_demo, "a dense layer with ReLU: relu(x @ w + b)",
            size=_size_demo),
)
