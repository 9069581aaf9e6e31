"""Long secure training runs that checkpoint every epoch and resume (scripts/secure_mnist.py).

:func:`secure_train_checkpointed` is an SPMD program like :func:`.runner.secure_train_program`
(P0 stands in for the data owner and shares the inputs), with three differences: each epoch
is recorded as its own ``epoch`` call (rounds and bytes per link per epoch); after each
epoch each primary writes *its own shares* of the weights and velocities to
``CKPT/epochNNN_p{0,1}.npz`` (the helper writes an empty marker, so a checkpoint counts only
when all three finished the epoch); and a run started on a directory with checkpoints
continues after the last complete one. Shares are valid under fresh PRG seeds, so a resumed
run needs nothing else from the old one. (Both primaries' files together are the model in
the clear: in a deployment each server keeps its own on its own disk.)
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..encoding import FixedPoint
from ..engine.context import PartyContext
from ..tensor import SharedTensor, share_input
from .model import Model
from .ops import FloatOps, SecureOps
from .runner import Hyper
from .train import EpochResult, count_correct, fit

_NAME = re.compile(r"epoch(\d{3})_p([012])\.npz$")


def last_complete_epoch(ckpt: Path) -> int:
    """The last epoch (1-based) all three parties checkpointed, 0 if none."""
    done: dict[int, set[int]] = {}
    for f in ckpt.glob("epoch*_p*.npz") if ckpt.is_dir() else []:
        m = _NAME.search(f.name)
        if m:
            done.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    full = [e for e, parties in done.items() if parties == {0, 1, 2}]
    return max(full, default=0)


def _save(ctx: PartyContext, ckpt: Path, epoch: int, params: dict[str, Any], state: dict[str, Any]) -> None:
    arrays: dict[str, np.ndarray] = {}
    if not ctx.is_helper:
        arrays.update({f"param:{k}": v.share for k, v in params.items()})
        arrays.update({f"state:{k}": v.share for k, v in state.items()})
    tmp = ckpt / f".epoch{epoch:03d}_p{ctx.party}.tmp.npz"
    savez: Any = np.savez  # numpy's stub reads ** entries as its allow_pickle flag
    savez(tmp, **arrays)
    tmp.rename(ckpt / f"epoch{epoch:03d}_p{ctx.party}.npz")


def _load(ctx: PartyContext, ckpt: Path, epoch: int, shapes: dict[str, tuple[int, ...]], momentum: bool):
    def tensor(kind: str, k: str, z: Any) -> SharedTensor:
        return SharedTensor.like(ctx, None if z is None else z[f"{kind}:{k}"], shapes[k])

    if ctx.is_helper:
        z = None
        params = {k: tensor("param", k, z) for k in shapes}
        state = {k: tensor("state", k, z) for k in shapes} if momentum else {}
        return params, state
    with np.load(ckpt / f"epoch{epoch:03d}_p{ctx.party}.npz") as z:
        params = {k: tensor("param", k, z) for k in shapes}
        state = {k: tensor("state", k, z) for k in shapes} if momentum else {}
    return params, state


def _share(ctx: PartyContext, value: np.ndarray | None, shape: tuple[int, ...]) -> SharedTensor:
    return share_input(ctx, value if ctx.party == 0 else None, 0, shape)


def secure_train_checkpointed(
    ctx: PartyContext,
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    params0: dict[str, np.ndarray],
    hyper: Hyper,
    test: tuple[np.ndarray, np.ndarray] | None,
    out_dir: str,
    eval_batch: int = 500,
) -> tuple[dict[str, np.ndarray] | None, list[EpochResult], int]:
    """Train from the last complete checkpoint in ``OUT/checkpoints`` (or from ``params0``);
    P0 appends one JSON line per epoch to ``OUT/epochs.jsonl``. Returns (final weights on P0
    else None, this run's epoch results, the epoch it started after)."""
    ops = SecureOps(ctx)
    ckpt = Path(out_dir) / "checkpoints"
    if ctx.party == 0:
        ckpt.mkdir(parents=True, exist_ok=True)
    start = last_complete_epoch(ckpt)
    shapes = {k: tuple(v.shape) for k, v in params0.items()}
    with ctx.record("share_inputs"):
        X, Y = _share(ctx, x, x.shape), _share(ctx, y, y.shape)
        T = (_share(ctx, test[0], test[0].shape), _share(ctx, test[1], test[1].shape)) if test is not None else None
        if start:
            params, state = _load(ctx, ckpt, start, shapes, bool(hyper.momentum))
        else:
            params, state = {k: _share(ctx, v, v.shape) for k, v in params0.items()}, None
    kw = hyper.kwargs()
    results: list[EpochResult] = []
    for epoch in range(start, hyper.epochs):
        kw["epochs"] = epoch + 1
        with ctx.record("epoch"):
            params, state, res = fit(ops, model, params, X, Y, test=T, state=state, start_epoch=epoch,
                                     eval_batch=eval_batch, **kw)
        results += res
        ckpt.mkdir(parents=True, exist_ok=True)
        _save(ctx, ckpt, epoch + 1, params, state)
        if ctx.party == 0:
            sent = sum(c.payload for c in ctx.totals.values())
            with open(Path(out_dir) / "epochs.jsonl", "a") as f:
                f.write(json.dumps({"epoch": epoch + 1, "seconds": round(res[0].seconds, 2),
                                    "test_accuracy": res[0].test_accuracy, "p0_sent_bytes": sent,
                                    "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
    with ctx.record("reveal_model"):
        out = {k: v.reveal(to=0) for k, v in params.items()}
    return (out if ctx.party == 0 else None), results, start


def checkpoint_weights(ckpt: Path, epoch: int, fxp: FixedPoint | None = None) -> dict[str, np.ndarray]:
    """The float64 weights after ``epoch``: both primaries' shares added and decoded (what
    revealing the model would give; for evaluating long runs in plaintext)."""
    fxp = fxp or FixedPoint()
    with np.load(ckpt / f"epoch{epoch:03d}_p0.npz") as z0, np.load(ckpt / f"epoch{epoch:03d}_p1.npz") as z1:
        return {k[len("param:"):]: fxp.decode(z0[k] + z1[k]) for k in z0.files if k.startswith("param:")}


def float_test_accuracy(model: Model, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of weights in float64 (argmax of the scores)."""
    correct = count_correct(FloatOps(), model, params, x, y)
    return float(correct or 0) / len(x)
