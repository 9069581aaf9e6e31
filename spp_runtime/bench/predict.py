"""``spp bench --predict MODEL --batch 1,128``: the prediction service's cost per query.

Over the real servers (loopback): the bench client uploads a small random dataset, trains
the model on it for one batch and keeps it on the servers (``train --save-as``), makes one
first query (which masks and opens the weights once: recorded as ``setup``), then times
queries of each batch size: client wall time (sharing the rows, the job, reconstructing the
scores), the servers' time, bytes between the servers (online and the helper's offline
dealing) and rounds (the sum over the job's sequential top-level calls). The model and the
dataset are deleted afterwards. Anchors (issue 13): SecureNN network A, one image 2.1 MB and
0.043 s on its LAN, batch 128 29 MB and 0.38 s; ABY3 0.5 MB and 0.008 s per image; target
here: one image in at most 0.2 MB and 20 ms on loopback.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..client import Client
from ..client.client import JobResult
from ..client.remote_store import RemoteStore, upload
from ..data.readers import Dataset
from ..nn.model import Model
from ..nn.programs import PARAM
from ..nn.runner import Hyper

ANCHORS: dict[str, dict[str, Any]] = {
    "securenn_lan": {"1": {"mb": 2.1, "s": 0.043}, "128": {"mb": 29.0, "s": 0.38}},
    "aby3_lan": {"1": {"mb": 0.5, "s": 0.008}},
    "target_loopback": {"1": {"mb": 0.2, "s": 0.020}},
}


def _costs(res: JobResult) -> dict[str, Any]:
    top = res.top()
    total = sum(s.bytes_total for s in top)
    offline = sum(s.offline_bytes for s in top)
    return {"bytes": total, "online_bytes": total - offline, "offline_bytes": offline,
            "rounds": sum(s.rounds for s in top), "server_s": max(res.server_time_s.values(), default=0.0),
            "calls": {s.name: s.rounds for s in top}}


def store_bench_model(client: Client, model: Model, name: str) -> str:
    """Upload random rows and train ``model`` on them for one batch, kept as model ``name``."""
    rng = np.random.default_rng(0)
    rows = 128
    x = rng.uniform(0, 1, (rows, model.inputs))
    y = rng.integers(0, model.outputs, rows).astype(float)
    data = f"{name}-data"
    upload(client, Dataset(x, y, "bench"), data)
    hyper = Hyper.of(model, epochs=1, batch_size=rows, lr=0.01, momentum=0.0, seed=1)
    init = {f"{PARAM}{k}": v for k, v in model.init_params(hyper.seed).items()}
    client.run("train", init, {"model": model.to_dict(), "hyper": hyper.kwargs(), "report_accuracy": False},
               datasets={"x": f"{data}:x", "y": f"{data}:y"}, save_as=name, timeout=600)
    return data


def run_predict_bench(client: Client, model: Model, batches: Sequence[int], repeat: int,
                      on_record: Callable[[dict], None] = lambda r: None) -> list[dict]:
    """Records of the first query (``setup``) and of ``repeat`` queries per batch size."""
    name = f"bench-{model.name}-{os.urandom(3).hex()}"
    data = store_bench_model(client, model, name)
    rng = np.random.default_rng(1)
    records = []
    try:
        first = client.run("predict", {"x": rng.uniform(0, 1, (1, model.inputs))}, {}, model=name)
        rec = {"protocol": "predict", "model": model.name, "phase": "setup (first query: weights opened once)",
               "batch": 1, "time_s": first.wall_s, **_costs(first)}
        records.append(rec)
        on_record(rec)
        for b in batches:
            runs = [client.run("predict", {"x": rng.uniform(0, 1, (b, model.inputs))}, {}, model=name)
                    for _ in range(repeat)]
            times = [r.wall_s for r in runs]
            costs = _costs(runs[-1])
            rec = {"protocol": "predict", "model": model.name, "phase": "query", "batch": b,
                   "time_s": statistics.median(times), "time_min_s": min(times), "time_max_s": max(times),
                   "server_s_median": statistics.median(max(r.server_time_s.values()) for r in runs),
                   "repeat": repeat, **costs, "bytes_per_row": costs["bytes"] / b,
                   "anchors": {k: v.get(str(b)) for k, v in ANCHORS.items() if str(b) in v}}
            records.append(rec)
            on_record(rec)
    finally:
        for p in (0, 1):
            store = RemoteStore(client, p)
            for what, delete in (("model", store.delete_model), ("dataset", store.delete)):
                try:
                    delete(name if what == "model" else data)
                except Exception:  # noqa: BLE001, S110 - best effort cleanup of the bench's own objects
                    pass
    return records
