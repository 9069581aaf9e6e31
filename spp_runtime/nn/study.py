"""The softmax study: softmax vs the ReLU replacement (as output, or for the gradient only).

For each model and output rule it trains the same initial weights with the same batch order
securely (three ZeroMQ processes) and in float64, and records test accuracy after every
epoch plus, for the secure runs, seconds and MB (all links) per epoch. The report is a
markdown table and a PNG of accuracy against epoch (Keller and Sun's comparison).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from .model import OUTPUTS, Model
from .runner import Hyper, secure_train_program, train_plain

MB = 1e6


@dataclass
class StudyRow:
    model: str
    output: str
    secure_acc: list[float]
    float_acc: list[float]
    seconds_per_epoch: float
    mb_per_epoch: float


def run_softmax_study(
    models: Sequence[Model],
    data: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    epochs: int,
    outputs: Sequence[str] = OUTPUTS,
    log: Callable[[str], None] = print,
) -> list[StudyRow]:
    """Train every (model, output rule) pair securely and in float64; one row each."""
    from ..launch.parties import ZmqParties

    rows = []
    with ZmqParties() as parties:
        for base in models:
            for output in outputs:
                model = dataclasses.replace(base, output=output)
                hyper = Hyper.of(model, epochs=epochs)
                p0 = model.init_params(hyper.seed)
                flt = train_plain(model, *data, p0, hyper, test)
                run = parties.run(secure_train_program, model, *data, p0, hyper, test, timeout=6 * 3600.0)
                _, results = run.outputs[0]
                train = next(s for s in run.stats if s.name == "train")
                row = StudyRow(
                    model.name, output,
                    # a test set is always given, so every epoch has an accuracy
                    cast(list[float], [r.test_accuracy for r in results]),
                    cast(list[float], [r.test_accuracy for r in flt.epochs]),
                    float(np.mean([r.seconds for r in results])), train.bytes_total / epochs / MB,
                )
                log(f"{row.model} {row.output}: secure {row.secure_acc[-1]:.4f} float64 {row.float_acc[-1]:.4f} "
                    f"{row.seconds_per_epoch:.1f} s/epoch {row.mb_per_epoch:.0f} MB/epoch")
                rows.append(row)
    return rows


def markdown(rows: Sequence[StudyRow]) -> str:
    """One line per (model, output rule): accuracy after each epoch, secure (float64), cost."""
    n = max(len(r.secure_acc) for r in rows)
    head = "| model | output | " + " | ".join(f"epoch {i + 1}" for i in range(n)) + " | s/epoch | MB/epoch |"
    lines = [head, "|" + "---|" * (n + 4)]
    for r in rows:
        cells = [f"{s * 100:.2f} ({f * 100:.2f})" for s, f in zip(r.secure_acc, r.float_acc)]
        lines.append(f"| {r.model} | {r.output} | " + " | ".join(cells) + f" | {r.seconds_per_epoch:.1f} | {r.mb_per_epoch:.0f} |")
    lines.append("")
    lines.append("Test accuracy (%) after each epoch: secure (float64 with the same weights and batches).")
    return "\n".join(lines)


def plot(rows: Sequence[StudyRow], path: Path) -> None:
    """Accuracy against epoch, one panel per model; solid secure, dashed float64."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r.model for r in rows})
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for i, r in enumerate(r for r in rows if r.model == name):
            ep = np.arange(1, len(r.secure_acc) + 1)
            ax.plot(ep, np.array(r.secure_acc) * 100, "-o", color=f"C{i}", label=f"{r.output} (secure)")
            ax.plot(ep, np.array(r.float_acc) * 100, "--", color=f"C{i}", alpha=0.6, label=f"{r.output} (float64)")
        ax.set(title=name, xlabel="epoch", ylabel="test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(rows: Sequence[StudyRow], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, png = out_dir / "softmax_study.md", out_dir / "softmax_study.png"
    md.write_text(markdown(rows) + "\n")
    (out_dir / "softmax_study.json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    plot(rows, png)
    return md, png
