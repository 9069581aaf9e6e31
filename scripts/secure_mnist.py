#!/usr/bin/env python3
"""Train a model on MNIST securely over three ZeroMQ processes and in float64, same seed.

    python scripts/secure_mnist.py --model configs/models/mnist_a.toml --epochs 10 --out out/mnist_a

Writes OUT/epochs.jsonl (one line per secure epoch as it completes) and OUT/result.json
(both runs' per-epoch test accuracy, time and traffic).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from spp_runtime.data.mnist import default_mnist_dir, load_mnist
from spp_runtime.launch.parties import ZmqParties
from spp_runtime.nn import load_model_config
from spp_runtime.nn.runner import Hyper, secure_train_program, train_plain
from spp_runtime.nn.train import onehot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--output", choices=["softmax", "relu_output", "relu_grad"], help="override the output rule")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--limit", type=int, help="first N training images only")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args()
    model = load_model_config(a.model)
    if a.output:
        import dataclasses

        model = dataclasses.replace(model, output=a.output)
    hyper = Hyper.of(model, epochs=a.epochs)
    d = default_mnist_dir()
    tr, te = load_mnist(d, "train", limit=a.limit), load_mnist(d, "test")
    x, y = tr.images.reshape(len(tr.images), -1), onehot(tr.labels, 10)
    test = (te.images.reshape(len(te.images), -1), onehot(te.labels, 10))
    params0 = model.init_params(hyper.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    log = a.out / "epochs.jsonl"
    log.unlink(missing_ok=True)

    t0 = time.perf_counter()
    plain = train_plain(model, x, y, params0, hyper, test)
    plain_s = time.perf_counter() - t0
    print("float64:", [r.test_accuracy for r in plain.epochs], f"{plain_s:.1f}s", flush=True)

    with ZmqParties() as parties:
        t0 = time.perf_counter()
        run = parties.run(secure_train_program, model, x, y, params0, hyper, test, str(log), timeout=6 * 3600.0)
        wall = time.perf_counter() - t0
    params, results = run.outputs[0]
    train = next(s for s in run.stats if s.name == "train")
    shared = next(s for s in run.stats if s.name == "share_inputs")
    out = {
        "model": model.name, "output": model.output, "hyper": hyper.kwargs(), "train_rows": len(x),
        "float64": [{"epoch": r.epoch, "test_accuracy": r.test_accuracy, "seconds": r.seconds} for r in plain.epochs],
        "secure": [{"epoch": r.epoch, "test_accuracy": r.test_accuracy, "seconds": r.seconds} for r in results],
        "secure_wall_s": wall,
        "secure_train_bytes": train.bytes_total, "secure_train_rounds": train.rounds,
        "secure_bytes_per_epoch": train.bytes_total / len(results),
        "share_inputs_bytes": shared.bytes_total,
    }
    (a.out / "result.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
