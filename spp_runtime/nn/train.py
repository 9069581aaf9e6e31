"""The training loop, written once for every back end (secure, float64, fixed-point emulation).

The batch order is public (a permutation drawn from the seed and the epoch number): which
rows form a batch says nothing about their contents. Everything else (data, labels, weights,
gradients, velocities) stays in the back end's values; in the secure back end only the
per-epoch count of correct test predictions is opened, and only when asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..protocols.compare import equal
from .model import Model
from .ops import Ops
from .optim import SGD

EVAL_BATCH = 2000


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # 1-based
    seconds: float
    test_correct: int | None = None
    test_total: int = 0

    @property
    def test_accuracy(self) -> float | None:
        return None if self.test_correct is None or not self.test_total else self.test_correct / self.test_total


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The public row indices of each batch of ``epoch`` (0-based); the last may be short."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]


def train_step(ops: Ops, model: Model, opt: SGD, params: dict[str, Any], state: dict[str, Any], xb: Any, yb: Any) -> None:
    """One SGD step on a batch: forward, p - y at the scores, backward, update."""
    scores, caches = model.forward(ops, params, xb)
    dz = model.output_for_gradient(ops, scores) - yb
    opt.step(ops, params, model.backward(ops, params, caches, dz, opt.step_size(xb.shape[0])), state)


def count_correct(ops: Ops, model: Model, params: dict[str, Any], x: Any, y: Any, batch: int = EVAL_BATCH) -> int | None:
    """Correct predictions on (x, one-hot y); argmax of the scores, which softmax keeps, or of
    the replacement's output for ``relu_output``. The batches' counts are added unopened and
    only the total is opened (so nothing per batch is revealed). None where the back end
    opens nothing."""
    wrong: Any = None
    for i in range(0, x.shape[0], batch):
        scores, _ = model.forward(ops, params, x[i : i + batch], keep=False)
        if model.output == "relu_output":
            scores = model.predict(ops, scores)
        w = ops.count_wrong(scores, y[i : i + batch])
        wrong = w if wrong is None else wrong + w
    if wrong is None:
        return 0
    opened = ops.open_count(wrong)
    return None if opened is None else x.shape[0] - opened


def fit(
    ops: Ops,
    model: Model,
    params: dict[str, Any],
    x: Any,
    y: Any,
    *,
    lr: float,
    momentum: float,
    batch_size: int,
    epochs: int,
    seed: int,
    clip: float = 0.0,
    state: dict[str, Any] | None = None,
    start_epoch: int = 0,
    test: tuple[Any, Any] | None = None,
    on_batch: Callable[[int, int, int], None] | None = None,
    on_epoch: Callable[[EpochResult, dict[str, Any], dict[str, Any]], None] | None = None,
    eval_batch: int = EVAL_BATCH,
) -> tuple[dict[str, Any], dict[str, Any], list[EpochResult]]:
    """Train epochs ``start_epoch .. epochs-1``; returns (params, optimiser state, results).

    ``on_batch(epoch, done, total)`` after each batch; ``on_epoch(result, params, state)``
    after each epoch (checkpointing hooks in here). ``clip`` > 0: gradient clipping by value
    (:class:`~.optim.SGD`). ``test`` = (x, one-hot y) to count correct predictions after
    every epoch, ``eval_batch`` rows at a time (convolutional models hold every window's
    comparisons of a batch at once: keep it small for them).
    """
    opt = SGD(lr, momentum, clip)
    params = dict(params)
    state = dict(state) if state is not None else opt.init_state(ops, params)
    results = []
    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        order = batch_order(x.shape[0], batch_size, seed, epoch)
        for j, idx in enumerate(order):
            train_step(ops, model, opt, params, state, x[idx], y[idx])
            if on_batch is not None:
                on_batch(epoch, j + 1, len(order))
        correct = count_correct(ops, model, params, *test, batch=eval_batch) if test is not None else None
        res = EpochResult(epoch + 1, time.perf_counter() - t0, correct, test[0].shape[0] if test is not None else 0)
        results.append(res)
        if on_epoch is not None:
            on_epoch(res, params, state)
    return params, state, results


def onehot(labels: np.ndarray, classes: int) -> np.ndarray:
    """float64 one-hot rows of integer labels (plaintext side)."""
    lab = np.asarray(labels).astype(np.int64).reshape(-1)
    if lab.size and (lab.min() < 0 or lab.max() >= classes):
        raise ValueError(f"labels must be integers in [0, {classes}), found {lab.min()}..{lab.max()}")
    return np.eye(classes)[lab]


def secure_onehot(labels: Any, classes: int) -> Any:
    """Fixed-point one-hot shares of shared integer labels (N,): one batched equality test
    against the public classes (7 rounds, ~48 B per class and row); a no-op for (N, classes)."""
    if labels.ndim == 2:
        return labels
    ctx = labels.ctx
    lab = labels.reshape(labels.shape[0], 1).broadcast_to((labels.shape[0], classes))
    hits = equal(lab, np.arange(classes, dtype=np.float64))  # ring integers 0/1
    return hits.mul_int(ctx.fxp.scale)
