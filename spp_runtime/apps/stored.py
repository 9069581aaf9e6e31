"""Programs over stored datasets that exercise the job services (tests and examples).

* ``dense_scores``: ``x @ w + b`` over a stored ``x`` in batches of ``params["batch"]`` rows,
  reporting progress after each batch (secure inference of one dense layer).
* ``column_sums``: adds the column sums of ``x`` to a running total kept in the job's
  checkpoint (``acc``), so each job resumes from the last one's total (no traffic but the
  checkpoint agreement).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..engine.context import PartyContext
from ..jobs import Inputs, JobServices, Outputs, Params, Program, Shapes, programs_table
from ..jobs.limits import largest
from ..tensor import SharedTensor


def _dense_scores(ctx: PartyContext, t: Inputs, params: Params, svc: JobServices) -> Outputs:
    x, w, b = t["x"], t["w"], t["b"]
    batch = int(params.get("batch", 256))
    rows, parts = x.shape[0], []
    for start in range(0, rows, batch):
        parts.append(x[start:start + batch] @ w + b)
        svc.progress(min(start + batch, rows), rows, {"batch": start // batch})
    return {"scores": SharedTensor.concatenate(parts, axis=0)}


def _check_dense(params: Params, shapes: Shapes) -> None:
    x, w, b = shapes["x"], shapes["w"], shapes["b"]
    if len(x) != 2 or len(w) != 2 or x[1] != w[0] or tuple(b) != (w[1],):
        raise ValueError(f"dense_scores needs x (n, d), w (d, k), b (k,), got {list(x)}, {list(w)}, {list(b)}")
    batch = params.get("batch", 256)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")


def _size_dense(params: Params, shapes: Shapes) -> int:
    """A batch of x, w, and the scores (batch rows, then all n rows concatenated)."""
    (n, d), (_, k) = shapes["x"], shapes["w"]
    return largest([(min(params.get("batch", 256), n), d), (d, k), (n, k)])


def _column_sums(ctx: PartyContext, t: Inputs, params: Params, svc: JobServices) -> Outputs:
    x = t["x"]
    width = (x.shape[1],)
    resumed = svc.load_checkpoint({"acc": width})
    acc = x.sum(axis=0) + (resumed.tensors["acc"] if resumed else SharedTensor.zeros(ctx, width))
    step = resumed.step + 1 if resumed else 0
    svc.save_checkpoint({"acc": acc}, step=step, info={"rows": x.shape[0]})
    svc.progress(1, 1, {"step": step})
    return {"acc": acc}


def _check_sums(params: Params, shapes: Shapes) -> None:
    if len(shapes["x"]) != 2:
        raise ValueError(f"column_sums needs a matrix x, got shape {list(shapes['x'])}")


def _size_sums(params: Params, shapes: Shapes) -> int:
    return shapes["x"][1]  # x is summed where it is stored; only the totals are new


PROGRAMS: Mapping[str, Program] = programs_table(
    Program("dense_scores", _dense_scores, ("x", "w", "b"), _check_dense,
            "x @ w + b in batches (params: batch), with progress reports", size=_size_dense),
    Program("column_sums", _column_sums, ("x",), _check_sums,
            "running column sums of x kept in the job's checkpoint", size=_size_sums),
)
