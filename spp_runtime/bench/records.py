"""Annotate benchmark records: the network, the machine, and the cost model's prediction.

The model (:func:`spp_runtime.netem.costmodel.predict`) needs the call's compute time, which
is its time on loopback (where latency and bandwidth are negligible): the record's own time
for a loopback run, otherwise the matching loopback record (``compute`` keyed by
:func:`key`).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..netem.costmodel import predict
from ..netem.topology import LinkShape


def machine_info() -> dict[str, Any]:
    """Cores, CPU, Python and numpy versions of the machine that ran the benchmark."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "numpy": np.__version__, "system": platform.system()}


def key(rec: Mapping[str, Any]) -> tuple[str, str, str]:
    """What identifies a record across runs: protocol, variant, shape."""
    return rec["protocol"], rec["variant"], rec["dim"]


def model_time(rec: Mapping[str, Any], shape: LinkShape | None, compute_s: float) -> dict[str, float]:
    """The cost model's prediction for ``rec`` on ``shape`` (None: loopback, compute only)."""
    if shape is None:
        return {"model_s": compute_s, "model_latency_s": 0.0, "model_transfer_s": 0.0, "model_compute_s": compute_s}
    p = predict(rec["rounds"], rec["wire_bytes_per_link"], shape, compute_s, entry_hops=1, burst=True)
    return {"model_s": p.total_s, "model_latency_s": p.latency_s, "model_transfer_s": p.transfer_s,
            "model_compute_s": p.compute_s}


def annotate(
    records: list[dict[str, Any]],
    net: Mapping[str, Any],
    *,
    model_net: Mapping[str, Any] | None = None,
    model_shape: LinkShape | None = None,
    compute: Mapping[tuple[str, str, str], float] | None = None,
    machine: Mapping[str, Any] | None = None,
) -> None:
    """Add ``net``, ``machine`` and (where a compute time is known) the model's prediction on
    ``model_net``/``model_shape`` (default: the run's own network) to each record.

    ``compute`` maps :func:`key` to loopback times; without it, a loopback run's own times.
    ``model_ratio`` (measured / predicted) is set when the model is of the run's own network.
    """
    machine = dict(machine or machine_info())
    model_net = dict(model_net or net)
    for rec in records:
        rec["net"] = dict(net)
        rec["machine"] = machine
        if compute is not None:
            c = compute.get(key(rec))
        else:
            c = rec["time_s"] if net["name"] == "loopback" else None
        if c is None:
            continue
        rec.update(model_time(rec, model_shape, c))
        rec["model_net"] = model_net
        if model_net["name"] == net["name"] and rec["model_s"] > 0:
            rec["model_ratio"] = rec["time_s"] / rec["model_s"]


def model_achieved(records: list[dict[str, Any]], shape: LinkShape) -> None:
    """Add the model's prediction on the link a probe measured (``model_achieved_s``) and
    ``model_ratio_achieved``: on a loaded machine the emulated delay grows, and a run is
    judged against the delay it really had."""
    for rec in records:
        if "model_compute_s" not in rec:
            continue
        achieved = model_time(rec, shape, rec["model_compute_s"])["model_s"]
        rec["model_achieved_s"] = achieved
        if achieved > 0:
            rec["model_ratio_achieved"] = rec["time_s"] / achieved


def remodel(records: list[dict[str, Any]]) -> None:
    """Recompute saved records' model fields with the current model (same network, same
    compute term), so reports of old runs use one model."""
    for rec in records:
        net = rec.get("model_net") or rec.get("net") or {}
        if "model_compute_s" not in rec:
            continue
        shape = None if net.get("rtt_ms") is None else LinkShape(net["up_mbit"], net["down_mbit"], net["rtt_ms"] / 2)
        rec.update(model_time(rec, shape, rec["model_compute_s"]))
        if "model_ratio" in rec and rec["model_s"] > 0:
            rec["model_ratio"] = rec["time_s"] / rec["model_s"]
