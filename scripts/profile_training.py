#!/usr/bin/env python3
"""Where a secure training epoch's time and bytes go: train a model for a few batches over
three ZeroMQ processes and print time, MB and rounds per protocol (the engine's counters).

    python scripts/profile_training.py --model configs/models/mnist_a.toml --batches 40
"""

from __future__ import annotations

import argparse

from spp_runtime.data.mnist import default_mnist_dir, load_mnist
from spp_runtime.engine.remote import ZmqParties
from spp_runtime.engine.stats import totals_by_name
from spp_runtime.cli.models import resolve_model
from spp_runtime.nn.runner import Hyper, secure_train_program
from spp_runtime.nn.train import onehot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batches", type=int, default=40)
    a = ap.parse_args()
    model = resolve_model(a.model)
    hyper = Hyper.of(model, epochs=1)
    rows = a.batches * hyper.batch_size
    tr = load_mnist(default_mnist_dir(), "train", limit=rows)
    x, y = tr.images.reshape(rows, -1), onehot(tr.labels, 10)
    with ZmqParties() as parties:
        run = parties.run(secure_train_program, model, x, y, model.init_params(hyper.seed), hyper, timeout=3600.0)
    train = next(s for s in run.stats if s.name == "train")
    parts = totals_by_name(run.stats, depth=train.depth + 1)
    if not parts:  # the training loop's protocols sit deeper when ops wrap them
        parts = totals_by_name(run.stats, depth=train.depth + 2)
    print(f"{model.name}: {a.batches} batches of {hyper.batch_size}; train {train.time_s:.2f} s, "
          f"{train.bytes_total / 1e6:.1f} MB, {train.rounds} rounds; per batch "
          f"{train.time_s / a.batches * 1000:.0f} ms, {train.bytes_total / a.batches / 1e6:.2f} MB")
    print(f"{'protocol':24s} {'calls':>6s} {'time s':>8s} {'time %':>7s} {'MB':>9s} {'MB %':>6s} {'rounds':>7s}")
    for name, r in sorted(parts.items(), key=lambda kv: -kv[1]["time_s"]):
        print(f"{name:24s} {r['calls']:6d} {r['time_s']:8.2f} {100 * r['time_s'] / train.time_s:6.1f}% "
              f"{r['bytes'] / 1e6:9.1f} {100 * r['bytes'] / max(train.bytes_total, 1):5.1f}% {r['rounds']:7d}")
    print("(time: the slowest party's time inside each call; the rest of 100% is local work between calls)")


if __name__ == "__main__":
    main()
