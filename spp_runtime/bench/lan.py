"""Benchmarks over an emulated LAN: servers and client each in their own network namespace.

:func:`net_shape` turns ``--net`` and the ``--rtt-ms``/``--mbit`` overrides into a
:class:`LinkShape`; :func:`run_on_lan` starts a :class:`LanCluster`, optionally probes the
link p0 -> p1 (ping-pong and bulk) to check the emulation, and runs the benchmark client
(:mod:`spp_runtime.bench.worker`) on the client host, passing each record to ``on_record``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SppError
from ..launch.lan import LanCluster
from ..netem.costmodel import TCP_FRAMING
from ..netem.measure import probe_link
from ..netem.topology import PRESETS, LinkShape
from .case import Shape

NETS = ("loopback", "lan", *PRESETS)
# --net lan without overrides: a 10 ms round trip and 50 Mbit/s each way per host.
LAN_DEFAULT = LinkShape(up_mbit=50.0, down_mbit=50.0, one_way_delay_ms=5.0)


class BenchNetError(SppError):
    """The emulated network or the benchmark on it failed."""


def net_shape(net: str, rtt_ms: float | None = None, mbit: float | None = None) -> LinkShape | None:
    """The link shape of ``net`` with overrides applied; None for loopback (no emulation)."""
    if net == "loopback":
        if rtt_ms is not None or mbit is not None:
            raise ValueError("--rtt-ms/--mbit need an emulated network (--net lan, paper-lan, lan-1g)")
        return None
    if net == "lan":
        base = LAN_DEFAULT
    elif net in PRESETS:
        base = PRESETS[net]
    else:
        raise ValueError(f"unknown network {net!r}; choose one of {', '.join(NETS)}")
    up, down, delay = base.up_mbit, base.down_mbit, base.one_way_delay_ms
    if mbit is not None:
        if mbit <= 0:
            raise ValueError("--mbit must be positive")
        up = down = mbit
    if rtt_ms is not None:
        if rtt_ms < 0:
            raise ValueError("--rtt-ms must not be negative")
        delay = rtt_ms / 2
    return LinkShape(up, down, delay)


def describe(net: str, shape: LinkShape | None) -> dict[str, Any]:
    """The ``net`` field of a record."""
    if shape is None:
        return {"name": net, "rtt_ms": None, "up_mbit": None, "down_mbit": None}
    return {"name": net, "rtt_ms": shape.rtt_ms, "up_mbit": shape.up_mbit, "down_mbit": shape.down_mbit}


@dataclass(frozen=True)
class NetCheck:
    """A probe of the emulated link against what was asked for."""

    rtt_ms: float
    expected_rtt_ms: float
    mbit: float
    expected_mbit: float
    tolerance: float = 0.2

    @property
    def honoured(self) -> bool:
        """The link is never faster than asked: the delay and the rate limit both took effect."""
        return (self.rtt_ms >= (1 - self.tolerance) * self.expected_rtt_ms
                and self.mbit <= (1 + self.tolerance) * self.expected_mbit)

    @property
    def ok(self) -> bool:
        rtt_ok = abs(self.rtt_ms - self.expected_rtt_ms) <= self.tolerance * max(self.expected_rtt_ms, 0.5)
        rate_ok = abs(self.mbit - self.expected_mbit) <= self.tolerance * self.expected_mbit
        return rtt_ok and rate_ok

    def achieved_shape(self, asked: LinkShape) -> LinkShape:
        """The asked link with the measured delay: on a busy machine the delay relays add
        scheduling latency, and a model of the run should use the delay it really had."""
        return LinkShape(asked.up_mbit, asked.down_mbit, self.rtt_ms / 2)

    def text(self) -> str:
        return (f"link check p0->p1: RTT {self.rtt_ms:.2f} ms (asked {self.expected_rtt_ms:.2f}), "
                f"throughput {self.mbit:.2f} Mbit/s (expected {self.expected_mbit:.2f} after TCP/IP "
                f"framing), within {self.tolerance:.0%}: {'yes' if self.ok else 'NO'}")

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok, "honoured": self.honoured}


def check_link(cluster: LanCluster, mbytes: float | None = None) -> NetCheck:
    """Ping-pong and bulk transfer p0 -> p1 through a delay relay, like the servers' traffic."""
    shape = cluster.shape
    rate = min(r for r in (shape.up_mbit, shape.down_mbit) if r) if (shape.up_mbit or shape.down_mbit) else None
    if rate is None:
        raise BenchNetError("the link check needs a rate limit (--mbit)")
    if mbytes is None:  # about one second of data, at least 1 MB
        mbytes = max(1.0, min(rate / 8, 50.0))
    probe = probe_link(cluster.lan, "p0", "p1", mbytes=mbytes)
    return NetCheck(probe.rtt_s * 1000, shape.rtt_ms, probe.throughput_mbit, rate / TCP_FRAMING)


def run_on_lan(
    shape: LinkShape,
    jobs: list[tuple[str, str]],
    shapes: list[Shape],
    *,
    repeat: int = 1,
    check: bool = False,
    on_ready: Callable[[NetCheck | None], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], NetCheck | None]:
    """Run (case, variant) ``jobs`` on ``shapes`` over an emulated LAN of ``shape``."""
    records: list[dict[str, Any]] = []
    with LanCluster(shape) as cluster:
        probe = check_link(cluster) if check else None
        if on_ready is not None:
            on_ready(probe)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"config": str(cluster.config_path), "cases": jobs, "shapes": [list(s) for s in shapes],
                       "repeat": repeat, "wait_s": 90}, f)
        try:
            worker = cluster.client_popen([sys.executable, "-m", "spp_runtime.bench.worker", f.name],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert worker.stdout is not None
            error = None
            for line in worker.stdout:
                msg = json.loads(line)
                if "record" in msg:
                    records.append(msg["record"])
                    if on_record is not None:
                        on_record(msg["record"])
                elif "error" in msg:
                    error = msg["error"]
            worker.wait()
            if error or worker.returncode:
                err = error or (worker.stderr.read().strip()[-2000:] if worker.stderr else "")
                raise BenchNetError(f"the benchmark client failed: {err}\nserver logs:\n{cluster.server_logs()}")
        finally:
            Path(f.name).unlink(missing_ok=True)
    return records, probe
