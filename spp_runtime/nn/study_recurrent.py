"""The recurrent study: tanh-RNN vs ReLU-RNN vs LSTM vs GRU on row-sequential MNIST.

The S++ paper argues that ReLU's unbounded output makes recurrent training explode and that
tanh gives more consistent results. For each model this trains the same initial weights with
the same batch order and the same budget in float64 and in the fixed-point emulation of the
secure computation, recording after every SGD step the norm of the mean gradient (all
parameters, before any clipping) and the training loss, and test accuracy after every
epoch; then a short secure run per model (three ZeroMQ processes) gives the cost of a step
and the accuracy of its weights. No gradient clipping (``clip`` is set to 0), so an
explosion shows.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..launch.parties import ZmqParties
from .model import Model
from .ops import FixedOps, FloatOps
from .optim import SGD
from .runner import Hyper, secure_train_program
from .train import batch_order, count_correct

MB = 1e6


@dataclass
class Curve:
    """One model on one back end: per step gradient norm and loss, per epoch test accuracy."""

    backend: str
    grad_norm: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)


@dataclass
class RecurrentRow:
    model: str
    curves: list[Curve]
    secure_batches: int = 0
    secure_s_per_batch: float = float("nan")
    secure_mb_per_batch: float = float("nan")
    secure_acc: float = float("nan")  # float64 inference of the secure-trained weights
    emulated_acc_same_budget: float = float("nan")


def _train_curve(model: Model, backend: str, p0: dict[str, np.ndarray], data: tuple[np.ndarray, np.ndarray],
                 test: tuple[np.ndarray, np.ndarray], hyper: Hyper) -> Curve:
    """fit's loop with the gradient norm and loss recorded at every step."""
    ops: Any = FloatOps() if backend == "float64" else FixedOps()
    enc = (lambda a: a) if backend == "float64" else ops.encode
    dec = (lambda a: np.asarray(a, np.float64)) if backend == "float64" else ops.decode
    opt = SGD(hyper.lr, hyper.momentum)
    params = {k: enc(v) for k, v in p0.items()}
    state = opt.init_state(ops, params)
    x, y = enc(data[0]), enc(data[1])
    curve = Curve(backend)
    with np.errstate(all="ignore"):
        for epoch in range(hyper.epochs):
            for idx in batch_order(len(data[0]), hyper.batch_size, hyper.seed, epoch):
                scores, caches = model.forward(ops, params, x[idx])
                p = model.output_for_gradient(ops, scores)
                pf = dec(p)
                curve.loss.append(float(-np.mean(np.sum(data[1][idx] * np.log(np.clip(pf, 1e-12, None)), axis=1))))
                updates = model.backward(ops, params, caches, p - y[idx], opt.step_size(len(idx)))
                curve.grad_norm.append(float(np.sqrt(sum(np.sum(dec(u) ** 2) for u in updates.values()))) / hyper.lr)
                opt.step(ops, params, updates, state)
            c = count_correct(ops, model, params, enc(test[0]), enc(test[1]))
            curve.test_acc.append(float(c) / len(test[0]) if c is not None else float("nan"))
    return curve


def run_recurrent_study(
    models: Sequence[Model],
    data: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    epochs: int,
    secure_batches: int = 2,
    lr: float | None = None,
    log: Callable[[str], None] = print,
) -> list[RecurrentRow]:
    rows = []
    parties = ZmqParties() if secure_batches else None
    try:
        if parties is not None:
            parties.__enter__()
        for model in models:
            hyper = dataclasses.replace(Hyper.of(model, epochs=epochs, lr=lr), clip=0.0)
            p0 = model.init_params(hyper.seed)
            curves = [_train_curve(model, b, p0, data, test, hyper) for b in ("float64", "emulation")]
            row = RecurrentRow(model.name, curves)
            if parties is not None:
                n = secure_batches * hyper.batch_size
                short = dataclasses.replace(hyper, epochs=1)
                run = parties.run(secure_train_program, model, data[0][:n], data[1][:n], p0, short, None,
                                  timeout=6 * 3600.0)
                weights, _ = run.outputs[0]
                assert weights is not None  # P0 reconstructs the trained weights
                train = next(s for s in run.stats if s.name == "train")
                row.secure_batches = secure_batches
                row.secure_s_per_batch = train.time_s / secure_batches
                row.secure_mb_per_batch = train.bytes_total / secure_batches / MB
                correct = count_correct(FloatOps(), model, weights, *test)
                assert correct is not None  # the float64 back end always counts
                row.secure_acc = correct / len(test[0])
                emu = _train_curve(model, "emulation", p0, (data[0][:n], data[1][:n]), test, short)
                row.emulated_acc_same_budget = emu.test_acc[-1]
            f, e = curves
            log(f"{model.name}: float64 acc {f.test_acc}, emulation acc {e.test_acc}, max grad norm "
                f"{max(f.grad_norm):.3g} / {max(e.grad_norm):.3g}; secure {row.secure_s_per_batch:.1f} s/batch "
                f"{row.secure_mb_per_batch:.0f} MB/batch acc {row.secure_acc:.4f}")
            rows.append(row)
    finally:
        if parties is not None:
            parties.__exit__(None, None, None)
    return rows


def markdown(rows: Sequence[RecurrentRow], train_rows: int) -> str:
    n = max(len(r.curves[0].test_acc) for r in rows)
    head = ("| model | " + " | ".join(f"epoch {i + 1} float64 (emul.)" for i in range(n))
            + " | grad norm median / max float64 | max emul. | loss last float64 | secure s/batch | secure MB/batch | "
            "secure acc (emul. same budget) |")
    lines = [head, "|" + "---|" * (n + 7)]
    for r in rows:
        f, e = r.curves
        cells = [f"{a * 100:.2f} ({b * 100:.2f})" for a, b in zip(f.test_acc, e.test_acc)]
        lines.append(
            f"| {r.model} | " + " | ".join(cells)
            + f" | {np.median(f.grad_norm):.3g} / {np.max(f.grad_norm):.3g} | {np.max(e.grad_norm):.3g} | {f.loss[-1]:.3f}"
            + f" | {r.secure_s_per_batch:.1f} | {r.secure_mb_per_batch:.0f} | "
            + f"{r.secure_acc * 100:.2f} ({r.emulated_acc_same_budget * 100:.2f}) |"
        )
    lines.append("")
    lines.append(f"Test accuracy (%) after each epoch on {train_rows} training images, float64 (fixed-point "
                 "emulation of the secure computation), no gradient clipping; gradient norm: L2 norm of the mean "
                 "gradient at each step. Secure: a short run of the batches stated, weights evaluated in float64.")
    return "\n".join(lines)


def plot(rows: Sequence[RecurrentRow], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(18, 4.5))
    for i, r in enumerate(rows):
        f, e = r.curves
        a1.plot(np.arange(1, len(f.test_acc) + 1), np.array(f.test_acc) * 100, "-o", color=f"C{i}", label=f"{r.model} float64")
        a1.plot(np.arange(1, len(e.test_acc) + 1), np.array(e.test_acc) * 100, "--x", color=f"C{i}", label=f"{r.model} emulation")
        a2.semilogy(f.grad_norm, "-", color=f"C{i}", label=f"{r.model} float64")
        a2.semilogy(e.grad_norm, ":", color=f"C{i}", alpha=0.7)
        a3.plot(f.loss, "-", color=f"C{i}", label=f"{r.model} float64")
        a3.plot(e.loss, ":", color=f"C{i}", alpha=0.7)
    a1.set(title="test accuracy", xlabel="epoch", ylabel="%")
    a2.set(title="gradient norm per step (solid float64, dotted emulation)", xlabel="SGD step")
    a3.set(title="training loss per step", xlabel="SGD step")
    for a in (a1, a2, a3):
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(rows: Sequence[RecurrentRow], out_dir: Path, train_rows: int) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, png = out_dir / "recurrent_study.md", out_dir / "recurrent_study.png"
    md.write_text(markdown(rows, train_rows) + "\n")
    (out_dir / "recurrent_study.json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    plot(rows, png)
    return md, png
