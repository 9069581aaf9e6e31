"""Inference latency while a training job runs on the same servers, against idle.

The servers run jobs side by side (``limits.max_concurrent_jobs``), each in its own session;
this measures what a concurrent training job costs an inference client: the median wall time
of an ``infer`` job (the client's view: sharing, the servers' work, the answer) on an idle
cluster, then while a ``train`` job from another client runs. The data are synthetic
(MNIST-shaped rows, benchmark data only) and uploaded for the run, then deleted.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

from ..client import Client
from ..client.remote_store import RemoteStore, upload
from ..config import ClusterConfig
from ..data.readers import Dataset
from ..nn.model import model_from_dict

MODEL = {"name": "bench_mlp", "inputs": 784, "output": "softmax",
         "layers": [{"type": "dense", "units": 128}, {"type": "relu"}, {"type": "dense", "units": 10}]}
TARGET_RATIO = 3.0  # busy / idle median latency, on 2 cores


def infer_while_training(cfg: ClusterConfig, *, infer_rows: int = 100, train_rows: int = 2000,
                         repeats: int = 5, epochs: int = 3) -> dict[str, Any]:
    """Median ``infer`` latency idle and while a ``train`` job runs; the ratio and the samples.

    Only inference jobs that finished before the training job did count as busy samples (the
    training is long enough for all of them unless the machine is very slow; ``overlapped``
    says how many did)."""
    rng = np.random.default_rng(5)  # benchmark data only
    model = model_from_dict(MODEL)
    name = f"bench-concurrency-{os.urandom(4).hex()}"
    x = rng.uniform(0, 1, (train_rows, model.inputs))
    y = rng.integers(0, model.outputs, train_rows).astype(float)
    weights = {f"param.{k}": v for k, v in model.init_params(1).items()}
    with Client(cfg) as client:
        upload(client, Dataset(x, y, "synthetic"), name)
        upload(client, Dataset(x[:infer_rows], None, "synthetic"), f"{name}-q")
        try:
            _infer(client, weights, f"{name}-q")  # warm up
            idle = [_infer(client, weights, f"{name}-q") for _ in range(repeats)]
            started, ended = threading.Event(), threading.Event()
            train_info: dict[str, Any] = {}

            def train() -> None:
                t0 = time.monotonic()
                try:
                    with Client(cfg) as trainer:
                        trainer.run("train", weights, {"model": MODEL, "hyper": {
                            "lr": 0.05, "momentum": 0.9, "batch_size": 128, "epochs": epochs, "seed": 1}},
                            datasets={"x": f"{name}:x", "y": f"{name}:y"},
                            on_progress=lambda done, total, info: started.set() if done else None)
                except Exception as exc:  # noqa: BLE001 - reported in the result
                    train_info["error"] = str(exc)
                finally:
                    train_info["seconds"] = time.monotonic() - t0
                    started.set()
                    ended.set()

            thread = threading.Thread(target=train, name="bench-train", daemon=True)
            thread.start()
            started.wait(600)
            busy = []
            for _ in range(repeats):
                t = _infer(client, weights, f"{name}-q")
                if not ended.is_set():
                    busy.append(t)
            overlapped = len(busy)
            thread.join()
        finally:
            for p in (0, 1):
                for dataset in (name, f"{name}-q"):
                    RemoteStore(client, p).delete(dataset)
    if "error" in train_info:
        raise RuntimeError(f"the training job failed: {train_info['error']}")
    idle_s, busy_s = float(np.median(idle)), float(np.median(busy)) if busy else float("nan")
    return {
        "infer_rows": infer_rows, "train_rows": train_rows, "model": "784-128-10 (ReLU, softmax)",
        "idle_s": idle_s, "busy_s": busy_s, "ratio": busy_s / idle_s, "target_ratio": TARGET_RATIO,
        "idle_samples": idle, "busy_samples": busy, "overlapped": overlapped, "repeats": repeats,
        "train_s": train_info["seconds"], "cores": os.cpu_count(),
    }


def _infer(client: Client, weights: dict[str, np.ndarray], dataset: str) -> float:
    t0 = time.perf_counter()
    client.run("infer", weights, {"model": MODEL}, datasets={"x": f"{dataset}:x"})
    return time.perf_counter() - t0


def describe(r: dict[str, Any]) -> str:
    """The result as a few lines for the console."""
    return (f"inference of {r['infer_rows']} rows ({r['model']}): idle {r['idle_s']:.3f} s, while a training job "
            f"runs {r['busy_s']:.3f} s (median of {r['overlapped']}/{r['repeats']} runs that overlapped it): "
            f"{r['ratio']:.2f}x idle (target <= {r['target_ratio']:g}x on {r['cores']} cores); "
            f"the training job ({r['train_rows']} rows) took {r['train_s']:.1f} s")
