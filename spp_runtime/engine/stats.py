"""Counters of rounds, bytes and time, per protocol call, and their merge across parties.

Each party records, for every protocol call it makes, the bytes it sent on each outgoing link
(payload and wire; online and offline) and its Lamport round clock on entry and exit. Since
every party runs every protocol (SPMD), the three parties' records align one to one;
:func:`merge_records` joins them into :class:`ProtocolStats`, whose ``rounds`` is the length of
the longest chain of dependent online messages inside the call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .. import PARTY_NAMES


@dataclass
class LinkCount:
    """What one party sent to one peer."""

    messages: int = 0
    payload: int = 0
    wire: int = 0
    offline_payload: int = 0
    offline_wire: int = 0

    def add(self, payload: int, wire: int, offline: bool) -> None:
        self.messages += 1
        self.payload += payload
        self.wire += wire
        if offline:
            self.offline_payload += payload
            self.offline_wire += wire

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class CallRecord:
    """One party's view of one protocol call."""

    name: str
    depth: int
    start_clock: int
    end_clock: int = 0
    elapsed: float = 0.0
    sent: dict[int, LinkCount] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "depth": self.depth,
            "start_clock": self.start_clock,
            "end_clock": self.end_clock,
            "elapsed": self.elapsed,
            "sent": {str(k): v.to_dict() for k, v in self.sent.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> CallRecord:
        rec = cls(d["name"], d["depth"], d["start_clock"], d["end_clock"], d["elapsed"])
        rec.sent = {int(k): LinkCount(**v) for k, v in d["sent"].items()}
        return rec


@dataclass
class ProtocolStats:
    """One protocol call seen from all three parties.

    ``bytes_per_link`` maps ``"p0->p1"`` style keys to payload bytes; ``wire_per_link`` to wire
    bytes; ``offline_bytes`` counts payload the helper deals ahead of time.
    """

    name: str
    depth: int
    rounds: int
    time_s: float
    bytes_per_link: dict[str, int]
    wire_per_link: dict[str, int]
    offline_bytes: int
    messages: int

    @property
    def bytes_total(self) -> int:
        return sum(self.bytes_per_link.values())

    @property
    def wire_total(self) -> int:
        return sum(self.wire_per_link.values())

    @property
    def online_bytes(self) -> int:
        return self.bytes_total - self.offline_bytes

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "rounds": self.rounds,
            "time_s": self.time_s,
            "bytes_total": self.bytes_total,
            "wire_bytes_total": self.wire_total,
            "bytes_per_link": self.bytes_per_link,
            "wire_bytes_per_link": self.wire_per_link,
            "offline_bytes": self.offline_bytes,
            "online_bytes": self.online_bytes,
            "messages": self.messages,
        }


def link_key(src: int, dst: int) -> str:
    return f"{PARTY_NAMES[src]}->{PARTY_NAMES[dst]}"


def merge_call(per_party: Sequence[CallRecord | None]) -> ProtocolStats:
    """Join the aligned records of one call from each party."""
    recs = [r for r in per_party if r is not None]
    names = {r.name for r in recs}
    if len(names) != 1:
        raise ValueError(f"parties' protocol records are misaligned: {sorted(names)}")
    bytes_per_link: dict[str, int] = {}
    wire_per_link: dict[str, int] = {}
    offline = messages = 0
    for party, rec in enumerate(per_party):
        if rec is None:
            continue
        for peer, cnt in sorted(rec.sent.items()):
            bytes_per_link[link_key(party, peer)] = cnt.payload
            wire_per_link[link_key(party, peer)] = cnt.wire
            offline += cnt.offline_payload
            messages += cnt.messages
    rounds = max(r.end_clock for r in recs) - max(r.start_clock for r in recs)
    return ProtocolStats(
        name=recs[0].name,
        depth=recs[0].depth,
        rounds=max(rounds, 0),
        time_s=max(r.elapsed for r in recs),
        bytes_per_link=bytes_per_link,
        wire_per_link=wire_per_link,
        offline_bytes=offline,
        messages=messages,
    )


def merge_records(per_party: Sequence[Sequence[CallRecord]]) -> list[ProtocolStats]:
    """Join three parties' call lists (same order on every party) into ProtocolStats."""
    lengths = {len(r) for r in per_party}
    if len(lengths) != 1:
        raise ValueError(f"parties recorded different numbers of calls: {sorted(lengths)}")
    return [merge_call(calls) for calls in zip(*per_party)]


def totals_by_name(stats: Iterable[ProtocolStats], depth: int = 0) -> dict[str, dict]:
    """Sum bytes, rounds and time of the calls at ``depth``, grouped by protocol name."""
    out: dict[str, dict] = defaultdict(lambda: {"calls": 0, "rounds": 0, "bytes": 0, "time_s": 0.0})
    for s in stats:
        if s.depth != depth:
            continue
        row = out[s.name]
        row["calls"] += 1
        row["rounds"] += s.rounds
        row["bytes"] += s.bytes_total
        row["time_s"] += s.time_s
    return dict(out)
