"""Train a model securely from plaintext arrays, and the plaintext references beside it.

:func:`secure_train_program` is the SPMD program (every party runs it): P0 stands in for the
data owner and shares the inputs (no traffic: P1's share comes from their common PRG), then
all three train on shares. The server job ``train`` runs the same :func:`~.train.fit` on
uploaded datasets instead; this entry point serves tests, studies and the local API
(:func:`train_secure_local`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..encoding import FixedPoint
from ..engine.context import PartyContext
from ..engine.local import run_local
from ..tensor import SharedTensor, share_input
from .model import Model, check_train_settings
from .ops import FixedOps, FloatOps, SecureOps
from .train import EpochResult, fit


@dataclass(frozen=True)
class Hyper:
    lr: float
    momentum: float
    batch_size: int
    epochs: int
    seed: int
    clip: float = 0.0

    def __post_init__(self) -> None:
        check_train_settings(self.lr, self.momentum, self.batch_size, self.epochs, self.seed, self.clip)

    @classmethod
    def of(cls, model: Model, **overrides: Any) -> Hyper:
        d = model.train
        base: dict[str, Any] = {
            "lr": d.lr, "momentum": d.momentum, "batch_size": d.batch_size, "epochs": d.epochs, "seed": d.seed,
            "clip": d.clip,
        }
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    def kwargs(self) -> dict[str, Any]:
        out = {"lr": self.lr, "momentum": self.momentum, "batch_size": self.batch_size, "epochs": self.epochs, "seed": self.seed}
        return out | ({"clip": self.clip} if self.clip else {})


@dataclass
class TrainRun:
    """What a training run produced: float64 parameters and per-epoch results."""

    params: dict[str, np.ndarray]
    epochs: list[EpochResult]
    stats: list[Any] = field(default_factory=list)  # secure runs: per-call ProtocolStats


def _share(ctx: PartyContext, value: np.ndarray | None, shape: tuple[int, ...]):
    return share_input(ctx, value if ctx.party == 0 else None, 0, shape)


def secure_train_program(
    ctx: PartyContext,
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    params0: dict[str, np.ndarray],
    hyper: Hyper,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    epoch_log: str | None = None,
    checkpoint_dir: str | None = None,
    resume_epoch: int = 0,
) -> tuple[dict[str, np.ndarray] | None, list[EpochResult]]:
    """Every party's program: share (x, one-hot y, initial weights) from P0, train, reveal the
    final weights to P0 only. Returns (weights on P0 else None, epoch results).

    ``epoch_log``: P0 appends one JSON line per epoch (epoch, seconds, test accuracy, the
    bytes P0 has sent so far): public results only, for watching long runs.

    ``checkpoint_dir``: after every epoch each party writes its own shares of the weights
    and momentum (``party<p>_epoch<e>.npz``; P2 holds none and writes nothing but its
    accounting line), and with ``resume_epoch`` = e > 0 the parties start from those files
    instead of ``params0`` and train epochs e+1.. ``epochs``. Every party also appends its
    own sent bytes and round clock per epoch to ``<epoch_log>.p<party>`` when ``epoch_log``
    is given (the sum over parties is the epoch's traffic)."""
    ops = SecureOps(ctx)
    if x is None or y is None:
        raise ValueError("every party needs x and y (the others use only their shapes)")
    with ctx.record("share_inputs"):
        X = _share(ctx, x, x.shape)
        Y = _share(ctx, y, y.shape)
        T = (_share(ctx, test[0], test[0].shape), _share(ctx, test[1], test[1].shape)) if test is not None else None
        params = {k: _share(ctx, v, v.shape) for k, v in params0.items()}
    state = None
    if resume_epoch and checkpoint_dir:
        params, state = _load_shares(ctx, checkpoint_dir, resume_epoch, params0)
    with ctx.record("train"):
        log = _epoch_logger(ctx, epoch_log) if epoch_log and ctx.party == 0 else None
        if checkpoint_dir or epoch_log:
            log = _checkpointer(ctx, checkpoint_dir, epoch_log, log)
        params, _, results = fit(ops, model, params, X, Y, test=T, on_epoch=log, state=state,
                                 start_epoch=resume_epoch, **hyper.kwargs())
    with ctx.record("reveal_model"):
        out = {k: v.reveal(to=0) for k, v in params.items()}
    return (out if ctx.party == 0 else None), results


def _epoch_logger(ctx: PartyContext, path: str) -> Callable[[EpochResult, Any, Any], None]:
    import json

    def log(res: EpochResult, params: Any, state: Any) -> None:
        sent = sum(c.payload for c in ctx.totals.values())
        with open(path, "a") as f:
            f.write(json.dumps({"epoch": res.epoch, "seconds": round(res.seconds, 2),
                                "test_accuracy": res.test_accuracy, "p0_sent_bytes": sent}) + "\n")

    return log


def _checkpointer(ctx: PartyContext, directory: str | None, epoch_log: str | None,
                  inner: Callable[[EpochResult, Any, Any], None] | None) -> Callable[[EpochResult, Any, Any], None]:
    def save(res: EpochResult, params: Any, state: Any) -> None:
        if inner is not None:
            inner(res, params, state)
        if epoch_log:
            sent = sum(c.payload for c in ctx.totals.values())
            with open(f"{epoch_log}.p{ctx.party}", "a") as f:
                f.write(json.dumps({"epoch": res.epoch, "seconds": round(res.seconds, 2), "sent_bytes": sent,
                                    "round_clock": ctx._clock}) + "\n")
        if directory and not ctx.is_helper:
            arrays = {f"param.{k}": v.share for k, v in params.items()} | {f"state.{k}": v.share for k, v in state.items()}
            Path(directory).mkdir(parents=True, exist_ok=True)
            path = Path(directory) / f"party{ctx.party}_epoch{res.epoch}.npz"
            np.savez(str(path) + ".tmp.npz", **arrays)
            Path(str(path) + ".tmp.npz").replace(path)

    return save


def _load_shares(ctx: PartyContext, directory: str, epoch: int, params0: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    """This party's shares of the weights and momentum after ``epoch`` (P2: shapes only)."""
    if ctx.is_helper:
        params = {k: SharedTensor(ctx, None, v.shape) for k, v in params0.items()}
        return params, {k: SharedTensor(ctx, None, v.shape) for k, v in params0.items()}
    with np.load(Path(directory) / f"party{ctx.party}_epoch{epoch}.npz") as z:
        params = {k: SharedTensor(ctx, z[f"param.{k}"]) for k in params0}
        state = {k: SharedTensor(ctx, z[f"state.{k}"]) for k in params0 if f"state.{k}" in z.files}
    return params, state


def train_secure_local(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    params0: dict[str, np.ndarray],
    hyper: Hyper,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    runner: Callable[..., Any] | None = None,
    timeout: float = 120.0,
) -> TrainRun:
    """Secure training on three parties (in-process threads by default, or any runner with
    ``run_local``'s contract, e.g. ZeroMQ processes). Data and labels (one-hot) in float64."""
    def program(ctx: PartyContext):
        return secure_train_program(ctx, model, x, y, params0, hyper, test)

    run = (runner or run_local)(program, timeout=timeout)
    params, results = run.outputs[0]
    return TrainRun(params, results, run.stats)


def train_plain(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    params0: dict[str, np.ndarray],
    hyper: Hyper,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    fixed: bool = False,
    fxp: FixedPoint | None = None,
    on_epoch: Callable[[EpochResult], None] | None = None,
) -> TrainRun:
    """The plaintext references: float64 (``fixed=False``) or the fixed-point emulation of the
    secure computation (``fixed=True``), from the same initial weights and batch order."""
    if not fixed:
        ops: Any = FloatOps()
        enc = dec = lambda a: a
    else:
        ops = FixedOps(fxp)
        enc, dec = ops.encode, ops.decode
    t = (enc(test[0]), enc(test[1])) if test is not None else None
    params, _, results = fit(
        ops, model, {k: enc(v) for k, v in params0.items()}, enc(x), enc(y), test=t,
        on_epoch=(lambda r, p, s: on_epoch(r)) if on_epoch else None, **hyper.kwargs(),
    )
    return TrainRun({k: dec(v) for k, v in params.items()}, results)
