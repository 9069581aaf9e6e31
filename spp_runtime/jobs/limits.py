"""Pre-flight sizes of a job: shapes and element counts from arithmetic alone, never allocation.

A server checks every job against ``limits.max_job_elements`` before any party runs it: the
job's uploaded inputs, and the largest tensor its program says it will compute
(:attr:`~.program.Program.size`: outputs and intermediates, such as the (N, N) product of a
(N, 1) by (1, N) ``mul`` that the helper would otherwise allocate as a triple). Everything
here works on Python integers, so no product of client-chosen dimensions can overflow, and
refusals name the limit and the number that broke it.

Stored inputs are read from disk in the batches a program asks for; they count only where a
program's ``size`` says it computes on them whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .program import Params, Program, Shapes


class LimitExceeded(ValueError):
    """A job asks for more than a configured limit allows (the message names the limit)."""


def elements(shape: Sequence[int]) -> int:
    """Elements of an array of ``shape`` (exact, any size)."""
    return math.prod(int(d) for d in shape)


def broadcast(*shapes: Sequence[int]) -> tuple[int, ...]:
    """numpy's broadcast shape of ``shapes``; ValueError when they do not broadcast."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(-ndim, 0):
        dims = {s[axis] for s in shapes if len(s) >= -axis} - {1}
        if len(dims) > 1:
            raise ValueError(f"shapes {[list(s) for s in shapes]} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def matmul_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """The shape of ``a @ b`` for 2-d operands; ValueError when they do not fit."""
    if len(a) != 2 or len(b) != 2 or a[1] != b[0]:
        raise ValueError(f"cannot multiply {list(a)} by {list(b)}")
    return (a[0], b[1])


def largest(shapes: Iterable[Sequence[int]]) -> int:
    """Elements of the largest of ``shapes`` (0 if none)."""
    return max((elements(s) for s in shapes), default=0)


def check_job(program: Program, params: Params, shapes: Shapes, uploaded: Iterable[str], *,
              max_elements: int, model: Mapping[str, Any] | None = None) -> int:
    """Refuse a job whose uploaded inputs or computed tensors exceed ``max_elements``;
    returns the size checked (elements of the largest tensor). ``model``: the public record of
    the stored model the job runs (``Program.model_size`` then gives the size).

    Call after ``program.validate`` (the size functions may assume valid shapes)."""
    uploaded = list(uploaded)
    for name in uploaded:
        for d in shapes[name]:
            if d > max_elements:  # also for empty arrays: no dimension beyond the limit
                raise LimitExceeded(f"input {name!r} has a dimension of {d}; limits.max_job_elements "
                                    f"is {max_elements}")
    up = largest(shapes[k] for k in uploaded)
    if up > max_elements:
        raise LimitExceeded(f"an uploaded input has {up} elements; limits.max_job_elements is {max_elements}")
    if model is not None and program.model_size is not None:
        size = program.model_size(params, shapes, model)
    else:
        size = program.size(params, shapes) if program.size is not None else up
    if size > max_elements:
        raise LimitExceeded(
            f"program {program.name!r} would compute a tensor of {size} elements from these inputs and "
            f"parameters; limits.max_job_elements is {max_elements}"
        )
    return max(size, up)
