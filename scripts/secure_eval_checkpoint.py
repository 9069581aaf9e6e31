#!/usr/bin/env python3
"""Check a long run's float64 evaluation against secure inference: the weights of one epoch's
checkpoint (both primaries' shares added) classify the first N test images securely (three
ZeroMQ processes, only the count of correct predictions opened) and in float64.

    python scripts/secure_eval_checkpoint.py --model mnist_c --out /work/runs/lenet/mnist_c_4096 --epoch 1 --n 256
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from spp_runtime.cli.models import resolve_model
from spp_runtime.data.mnist import default_mnist_dir, load_mnist
from spp_runtime.engine.context import PartyContext
from spp_runtime.launch.parties import ZmqParties
from spp_runtime.nn import FloatOps, SecureOps
from spp_runtime.nn.checkpointed import checkpoint_weights
from spp_runtime.nn.model import Model
from spp_runtime.nn.train import count_correct, onehot
from spp_runtime.tensor import share_input


def secure_count(ctx: PartyContext, model: Model, x: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray],
                 batch: int) -> int | None:
    def share(v: np.ndarray):
        return share_input(ctx, v if ctx.party == 0 else None, 0, v.shape)

    X, Y = share(x), share(y)
    P = {k: share(v) for k, v in params.items()}
    with ctx.record("secure_eval"):
        return count_correct(SecureOps(ctx), model, P, X, Y, batch=batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True, type=Path, help="the run's OUT directory (with checkpoints/)")
    ap.add_argument("--epoch", type=int, required=True)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch", type=int, default=128)
    a = ap.parse_args()
    model = resolve_model(a.model)
    params = checkpoint_weights(a.out / "checkpoints", a.epoch)
    te = load_mnist(default_mnist_dir(), "test", limit=a.n)
    x, y = te.images.reshape(len(te.images), -1), onehot(te.labels, 10)
    plain = count_correct(FloatOps(), model, params, x, y)
    t0 = time.perf_counter()
    with ZmqParties() as parties:
        run = parties.run(secure_count, model, x, y, params, a.batch, timeout=6 * 3600.0)
    secure = run.outputs[0]
    (st,) = run.top("secure_eval")
    row = {"model": model.name, "epoch": a.epoch, "test_images": len(x), "secure_correct": secure,
           "float64_correct": plain, "secure_seconds": round(time.perf_counter() - t0, 1),
           "secure_mb": round(st.bytes_total / 1e6, 1), "rounds": st.rounds}
    with open(a.out / "secure_eval_check.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
