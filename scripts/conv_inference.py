#!/usr/bin/env python3
"""Secure inference cost of networks A, B, C, D: class scores (forward pass and softmax) for a
batch of images over three ZeroMQ processes; seconds, bytes between the servers, rounds.

    python scripts/conv_inference.py --batches 1 128 --out docs/bench/inference_abcd.json

Bytes and rounds do not depend on the load of the machine; seconds do (this 2-core machine is
shared). Weights are the seeded initial ones (the cost does not depend on their values).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from spp_runtime.cli.models import resolve_model
from spp_runtime.data.mnist import default_mnist_dir, load_mnist
from spp_runtime.engine.context import PartyContext
from spp_runtime.launch.parties import ZmqParties
from spp_runtime.nn import SecureOps
from spp_runtime.nn.model import Model
from spp_runtime.tensor import share_input


def predict_program(ctx: PartyContext, model: Model, x: np.ndarray, params: dict[str, np.ndarray]) -> None:
    """Share the images and weights (P0), then the scores under ``predict``."""
    with ctx.record("share_inputs"):
        X = share_input(ctx, x if ctx.party == 0 else None, 0, x.shape)
        P = {k: share_input(ctx, v if ctx.party == 0 else None, 0, v.shape) for k, v in params.items()}
    ops = SecureOps(ctx)
    with ctx.record("predict"):
        scores, _ = model.forward(ops, P, X, keep=False)
        model.predict(ops, scores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["mnist_a", "mnist_b", "mnist_c", "mnist_d"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 128])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    images = load_mnist(default_mnist_dir(), "test", limit=max(a.batches)).images
    rows = []
    with ZmqParties() as parties:
        for name in a.models:
            model = resolve_model(name)
            params = model.init_params(1)
            for b in a.batches:
                x = images[:b].reshape(b, -1)
                run = parties.run(predict_program, model, x, params, timeout=3600.0)
                (st,) = run.top("predict")
                row = {"model": name, "batch": b, "seconds": round(st.time_s, 3), "bytes": st.bytes_total,
                       "mb": round(st.bytes_total / 1e6, 3), "mb_per_image": round(st.bytes_total / 1e6 / b, 3),
                       "offline_bytes": st.offline_bytes, "rounds": st.rounds}
                rows.append(row)
                print(json.dumps(row), flush=True)
    if a.out:
        a.out.write_text(json.dumps({"what": "secure class scores (forward + softmax), weights shared, images shared",
                                     "transport": "three processes over CURVE ZeroMQ on one shared 2-core host",
                                     "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
