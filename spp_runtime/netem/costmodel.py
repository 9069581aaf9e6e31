"""Predict a protocol's time on a network from its counted rounds and bytes.

``time = rounds x one-way delay + slowest host's transfer time + compute``, where a host's
transfer time is the larger of (bytes it sends / its upload rate) and (bytes it receives /
its download rate), with bytes on the wire scaled by TCP/IP framing overhead. A round in
this runtime is one message hop (Lamport clock), so it costs a one-way delay, not an RTT.
``compute`` is the protocol's time on loopback, where latency and bandwidth are negligible.
``entry_hops`` adds one-way delays outside the call's rounds: a job's first call is timed
from each party's own entry, and P0 enters one hop before its peers can answer (the job
announcement and the seed set-up flow one way from P0), so benchmarks pass 1.
With ``burst=True`` each host's first token-bucket depth of bytes each way (what the
emulated links' tc ``tbf`` lets pass at line rate) costs nothing, which matters for small
calls. The model ignores overlap of computation with transfer, so it errs on the slow side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from .topology import LinkShape, tbf_burst_bytes

# Ethernet + IPv4 + TCP (with timestamps) headers per 1448-byte segment.
TCP_FRAMING = (1448 + 14 + 20 + 32) / 1448


@dataclass(frozen=True)
class Prediction:
    latency_s: float
    transfer_s: float
    compute_s: float

    @property
    def total_s(self) -> float:
        return self.latency_s + self.transfer_s + self.compute_s


def predict(
    rounds: int,
    wire_per_link: Mapping[str, int],
    shape: LinkShape,
    compute_s: float,
    entry_hops: int = 0,
    burst: bool = False,
) -> Prediction:
    """Predict the time of one call; ``wire_per_link`` maps ``"p0->p1"`` to wire bytes."""
    sent: dict[str, float] = defaultdict(float)
    received: dict[str, float] = defaultdict(float)
    for link, nbytes in wire_per_link.items():
        src, dst = link.split("->")
        sent[src] += nbytes * TCP_FRAMING
        received[dst] += nbytes * TCP_FRAMING
    def seconds(nbytes: float, mbit: float | None) -> float:
        if not mbit:
            return 0.0
        return max(nbytes - (tbf_burst_bytes(mbit) if burst else 0), 0.0) * 8 / (mbit * 1e6)

    transfer = 0.0
    for host in set(sent) | set(received):
        transfer = max(transfer, seconds(sent[host], shape.up_mbit), seconds(received[host], shape.down_mbit))
    return Prediction((rounds + entry_hops) * shape.one_way_delay_ms / 1000.0, transfer, compute_s)
