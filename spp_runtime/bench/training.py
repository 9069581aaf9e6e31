"""Where a secure training step's time, bytes and rounds go: train a model for a few batches
over three ZeroMQ party processes and break the engine's counters down by protocol.

``spp bench --training MODEL --batches N`` and ``scripts/profile_training.py`` both call
:func:`profile_training`, which returns one JSON record per model run: totals, per-batch
figures (``seconds_per_batch``, ``bytes_per_batch``, ``rounds_per_batch``) and the
per-protocol breakdown of the calls the training loop makes directly. With
``reuse_openings=False`` the layers fall back to one Beaver product per matrix product (each
product opens both its operands), which is how training ran before masked operands: the two
modes side by side show what opening each matrix once per step saves.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..data.mnist import default_mnist_dir, load_mnist
from ..engine.context import PartyContext
from ..engine.stats import ProtocolStats, totals_by_name
from ..launch.parties import ZmqParties
from ..netem.costmodel import predict
from ..nn.model import Model
from ..nn.ops import SecureOps
from ..nn.runner import Hyper
from ..nn.train import fit, onehot
from ..tensor import share_input
from .lan import net_shape

MNIST_INPUTS, MNIST_CLASSES = 784, 10
EPOCH_ROWS = 60000  # an MNIST training epoch, for the per-epoch predictions
MODEL_NETS = ("lan-1g", "paper-lan")


def training_program(
    ctx: PartyContext,
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    params0: dict[str, np.ndarray],
    hyper: Hyper,
    reuse_openings: bool = True,
) -> None:
    """Every party's program: P0 shares (x, one-hot y, initial weights) with no traffic, then
    all three train one epoch on shares, recorded as the call ``train``. Nothing is revealed."""
    ops = SecureOps(ctx, reuse_openings=reuse_openings)

    def share(a: np.ndarray) -> Any:
        return share_input(ctx, a if ctx.party == 0 else None, 0, a.shape)

    with ctx.record("share_inputs"):
        xs, ys = share(x), share(y)
        params = {k: share(v) for k, v in params0.items()}
    with ctx.record("train"):
        fit(ops, model, params, xs, ys, **hyper.kwargs())


def training_data(model: Model, rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """(x, one-hot y, source): the first ``rows`` MNIST training images for a 784-input,
    10-class model, else uniform data of the model's shape (costs do not depend on values)."""
    if model.inputs == MNIST_INPUTS and model.outputs == MNIST_CLASSES:
        tr = load_mnist(default_mnist_dir(), "train", limit=rows)
        return tr.images.reshape(rows, -1), onehot(tr.labels, MNIST_CLASSES), "mnist"
    rng = np.random.default_rng(seed)  # benchmark data only, never secrets
    x = rng.uniform(0.0, 1.0, (rows, model.inputs))
    return x, onehot(rng.integers(0, model.outputs, rows), model.outputs), "synthetic"


def profile_training(
    model: Model,
    batches: int,
    *,
    reuse_openings: bool = True,
    source: str | None = None,
    parties: ZmqParties | None = None,
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Train ``model`` for ``batches`` batches (its configured batch size) over three ZeroMQ
    processes (``parties``, or fresh ones) and return the profile record."""
    if batches < 1:
        raise ValueError("batches must be at least 1")
    hyper = Hyper.of(model, epochs=1)
    rows = batches * hyper.batch_size
    x, y, data = training_data(model, rows)
    args = (model, x, y, model.init_params(hyper.seed), hyper, reuse_openings)
    t0 = time.perf_counter()
    if parties is None:
        with ZmqParties() as fresh:
            run = fresh.run(training_program, *args, timeout=timeout)
    else:
        run = parties.run(training_program, *args, timeout=timeout)
    wall = time.perf_counter() - t0
    return training_record(run.stats, model, batches, hyper.batch_size, reuse_openings, source, data, wall)


def training_record(
    stats: Iterable[ProtocolStats],
    model: Model,
    batches: int,
    batch_size: int,
    reuse_openings: bool,
    source: str | None,
    data: str,
    wall_s: float,
) -> dict[str, Any]:
    """The JSON record of one training profile from the run's merged statistics."""
    stats = list(stats)
    start = next(i for i, s in enumerate(stats) if s.name == "train")
    train = stats[start]
    inside: list[ProtocolStats] = []  # the calls made inside ``train`` (records are in call order)
    for s in stats[start + 1 :]:
        if s.depth <= train.depth:
            break
        inside.append(s)
    parts = totals_by_name(inside, depth=train.depth + 1)
    if not parts:  # the training loop's protocols sit deeper when ops wrap them
        parts = totals_by_name(inside, depth=train.depth + 2)
    total_time = max(train.time_s, 1e-12)
    total_bytes = max(train.bytes_total, 1)
    protocols = [
        {
            "name": name,
            "calls": r["calls"],
            "time_s": r["time_s"],
            "time_fraction": r["time_s"] / total_time,
            "bytes": r["bytes"],
            "bytes_fraction": r["bytes"] / total_bytes,
            "rounds": r["rounds"],
            "rounds_per_batch": r["rounds"] / batches,
            "bytes_per_batch": r["bytes"] / batches,
        }
        for name, r in sorted(parts.items(), key=lambda kv: -kv[1]["time_s"])
    ]
    return {
        "kind": "training",
        "model": model.name,
        "source": source,
        "data": data,
        "openings": "once_per_step" if reuse_openings else "per_product",
        "batches": batches,
        "batch_size": batch_size,
        "seconds": train.time_s,
        "bytes": train.bytes_total,
        "offline_bytes": train.offline_bytes,
        "rounds": train.rounds,
        "seconds_per_batch": train.time_s / batches,
        "bytes_per_batch": train.bytes_total / batches,
        "offline_bytes_per_batch": train.offline_bytes / batches,
        "rounds_per_batch": train.rounds / batches,
        "bytes_per_link_per_batch": {k: v / batches for k, v in train.bytes_per_link.items()},
        "protocol_calls": len(inside),
        "wall_s": wall_s,
        "protocols": protocols,
        "predicted": predictions(train, batches, batch_size),
    }


def predictions(train: ProtocolStats, batches: int, batch_size: int) -> dict[str, dict[str, float]]:
    """The cost model's time per batch and per MNIST epoch on the emulated LANs: rounds x
    one-way delay + the slowest host's transfer + this run's loopback time as compute."""
    out = {}
    epoch_batches = -(-EPOCH_ROWS // batch_size)
    wire = {k: round(v / batches) for k, v in train.wire_per_link.items()}
    for net in MODEL_NETS:
        shape = net_shape(net)
        if shape is None:  # loopback: nothing to predict
            continue
        p = predict(round(train.rounds / batches), wire, shape, train.time_s / batches)
        out[net] = {"seconds_per_batch": p.total_s, "latency_s": p.latency_s, "transfer_s": p.transfer_s,
                    "compute_s": p.compute_s, "seconds_per_epoch": p.total_s * epoch_batches}
    return out


def format_training(rec: dict[str, Any]) -> str:
    """The profile as text: a summary line and one row per protocol."""
    lines = [
        (f"{rec['model']} ({rec['openings']}): {rec['batches']} batches of {rec['batch_size']}; train "
        f"{rec['seconds']:.2f} s, {rec['bytes'] / 1e6:.1f} MB, {rec['rounds']} rounds; per batch "
        f"{rec['seconds_per_batch'] * 1000:.0f} ms, {rec['bytes_per_batch'] / 1e6:.2f} MB, "
        f"{rec['rounds_per_batch']:g} rounds"),
        f"{'protocol':24s} {'calls':>6s} {'time s':>8s} {'time %':>7s} {'MB':>9s} {'MB %':>6s} {'rounds':>7s}",
    ]
    for r in rec["protocols"]:
        lines.append(
            f"{r['name']:24s} {r['calls']:6d} {r['time_s']:8.2f} {100 * r['time_fraction']:6.1f}% "
            f"{r['bytes'] / 1e6:9.1f} {100 * r['bytes_fraction']:5.1f}% {r['rounds']:7d}"
        )
    lines.append("(time: the slowest party's time inside each call; the rest of 100% is local work between calls)")
    for net, p in rec.get("predicted", {}).items():
        lines.append(f"cost model on {net}: {p['seconds_per_batch'] * 1000:.0f} ms per batch "
                     f"(latency {p['latency_s'] * 1000:.0f} + transfer {p['transfer_s'] * 1000:.0f} + compute "
                     f"{p['compute_s'] * 1000:.0f}), {p['seconds_per_epoch']:.0f} s per {EPOCH_ROWS}-row epoch")
    return "\n".join(lines)
