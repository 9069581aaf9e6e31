"""Run on the client host of a multi-host test: submit real jobs to the three servers.

``python tests/multihost_client.py CONFIG`` waits until the servers are connected, runs the
``demo`` program (a dense ReLU layer) and ``matmul`` through :class:`spp_runtime.client.Client`
with secret-shared random inputs, and prints one JSON object: each job's max abs error against
float64, its rounds and bytes. Exit code 1 (JSON ``error``) if anything fails.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from spp_runtime.bench.worker import wait_ready
from spp_runtime.client import Client
from spp_runtime.config import load
from spp_runtime.errors import SppError


def main(config: str) -> dict:
    rng = np.random.default_rng(7)  # test data only
    x, w, b = rng.uniform(-1, 1, (6, 5)), rng.uniform(-1, 1, (5, 3)), rng.uniform(-1, 1, 3)
    out: dict = {}
    with Client(load(config)) as client:
        wait_ready(client, 60)
        res = client.run("demo", {"x": x, "w": w, "b": b})
        out["demo"] = {"err": float(np.abs(res.outputs["scores"] - np.maximum(x @ w + b, 0)).max()),
                       "servers": sorted(res.server_time_s)}
        res = client.run("matmul", {"x": x, "y": w})
        (st,) = res.top("matmul")
        out["matmul"] = {"err": float(np.abs(res.outputs["out"] - x @ w).max()),
                         "rounds": st.rounds, "bytes": st.bytes_total}
    return out


if __name__ == "__main__":
    try:
        print(json.dumps(main(sys.argv[1])))
    except SppError as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        sys.exit(1)
