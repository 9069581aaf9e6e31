"""Run benchmark cases over the three server processes and build the records.

One record per protocol x variant x shape (the schema ``spp bench --json`` writes):
``protocol, variant, dim, elements, time_s, bytes_total, bytes_per_element,
bytes_per_link, wire_bytes_total, wire_bytes_per_link, offline_bytes, online_bytes,
rounds, max_abs_err, max_rel_err, error, tolerance, net, machine``. Time, bytes and rounds
are those of the protocol call itself (the servers' engine counters), not of job
submission. With ``repeat`` > 1 the time is the median and ``time_min``/``time_max`` are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ..client.client import Client
from ..config import ClusterConfig, default_config_text, load_config
from ..engine.zmq_runner import free_ports
from .registry import get_case


def parse_dims(text: str) -> list[tuple[int, ...]]:
    """'64x16,128x128' -> [(64, 16), (128, 128)]."""
    dims = []
    for part in text.split(","):
        try:
            shape = tuple(int(d) for d in part.lower().split("x"))
        except ValueError:
            raise ValueError(f"bad dimension {part!r}: use e.g. 64x16") from None
        if not shape or any(d <= 0 for d in shape):
            raise ValueError(f"bad dimension {part!r}: sizes must be positive")
        dims.append(shape)
    return dims


def machine_info() -> dict:
    return {"cores": os.cpu_count(), "numpy": np.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


@contextlib.contextmanager
def temporary_cluster(wait: float = 60.0) -> Iterator[ClusterConfig]:
    """A throw-away local cluster on free ports (used when no config is given)."""
    from ..server import cluster

    run_dir = Path(tempfile.mkdtemp(prefix="spp-bench-"))
    text = default_config_text()
    for old, new in zip((17100, 17101, 17102), free_ports(3)):
        text = text.replace(f"port = {old}", f"port = {new}")
    (run_dir / "config.toml").write_text(text)
    try:
        yield cluster.up(run_dir, None, wait)
    finally:
        cluster.down(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


def bench_one(client: Client, protocol: str, variant: str, shape: tuple[int, ...], *, repeat: int = 1,
              seed: int = 0, net: str = "loopback") -> dict:
    case = get_case(protocol)
    if variant not in case.variants:
        raise ValueError(f"protocol {protocol!r} has no variant {variant!r}; known: {', '.join(case.variants)}")
    rng = np.random.default_rng(seed)
    plain = case.make_inputs(shape, rng, variant)
    times, last = [], None
    for _ in range(max(1, repeat)):
        result = client.submit("bench", plain, {"protocol": protocol, "variant": variant})
        (st,) = result.top(f"bench:{protocol}")
        times.append(st.time_s)
        last = (result, st)
    result, st = last
    got = result.outputs["out"]
    want = case.reference(**plain)
    abs_err = np.abs(got - want)
    elements = int(np.prod(shape))
    return {
        "protocol": protocol, "variant": variant, "dim": "x".join(map(str, shape)), "elements": elements,
        "time_s": statistics.median(times), "time_min": min(times), "time_max": max(times), "repeat": len(times),
        "bytes_total": st.bytes_total, "bytes_per_element": st.bytes_total / elements,
        "bytes_per_link": st.bytes_per_link, "wire_bytes_total": st.wire_total,
        "wire_bytes_per_link": st.wire_per_link, "offline_bytes": st.offline_bytes,
        "online_bytes": st.online_bytes, "rounds": st.rounds,
        "max_abs_err": float(abs_err.max()),
        "max_rel_err": float((abs_err / np.maximum(np.abs(want), 1e-12)).max()),
        "error": case.error(got, want), "error_kind": case.error_kind,
        "tolerance": case.tolerance_for(variant), "net": net, "machine": machine_info(),
    }


def run_bench(client: Client, protocols: Sequence[str], dims: Sequence[tuple[int, ...]],
              variants: Sequence[str] | None = None, *, repeat: int = 1, net: str = "loopback",
              on_record: Callable[[dict], None] | None = None) -> list[dict]:
    records = []
    for protocol in protocols:
        case = get_case(protocol)
        for variant in (variants or case.variants):
            if variant not in case.variants:
                continue
            for shape in dims:
                rec = bench_one(client, protocol, variant, shape, repeat=repeat, net=net)
                records.append(rec)
                if on_record:
                    on_record(rec)
    return records


def matmul_speed(client: Client, m: int = 128, k: int = 784, n: int = 128, repeat: int = 5) -> dict:
    """The issue's speed check: secure (m x k)(k x n) over the servers vs one numpy uint64
    product of the same shapes, in the same run (medians)."""
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, (m, k)), rng.uniform(-1, 1, (k, n))
    secure = []
    for _ in range(repeat):
        r = client.submit("matmul", {"x": x, "y": y})
        secure.append(r.top("matmul")[0].time_s)
    a = rng.integers(0, 2**63, (m, k), dtype=np.uint64)
    b = rng.integers(0, 2**63, (k, n), dtype=np.uint64)
    plain = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.matmul(a, b)
        plain.append(time.perf_counter() - t0)
    s, p = statistics.median(secure), statistics.median(plain)
    return {"shape": f"{m}x{k} @ {k}x{n}", "secure_s": s, "plain_uint64_s": p, "ratio": s / p}


def paper_table() -> list[dict]:
    """The S++ paper's Table 1 (reference data shipped with the package)."""
    return json.loads(resources.files("spp_runtime.bench").joinpath("spp_table1.json").read_text())["rows"]


def paper_row(protocol: str, dim: str) -> dict | None:
    for row in paper_table():
        if row["probable_protocol"] == protocol and row["dim"] == dim:
            return row
    return None


def load_cluster_config(path: str | os.PathLike | None) -> ClusterConfig | None:
    return load_config(path) if path else None
