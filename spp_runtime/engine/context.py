"""The party context: the one small interface every protocol is written against.

A protocol is a function that every party runs (SPMD). It sees only:

* ``ctx.party``: 0 or 1 (primary servers) or 2 (helper);
* ``ctx.send(peer, *arrays)``, ``ctx.recv(peer)``, ``ctx.exchange(peer, *arrays)``;
* ``ctx.prg(peer)``: an AES-CTR generator whose seed this party shares with ``peer``;
  ``ctx.rng``: this party's own fresh randomness;
* ``ctx.fxp``: the fixed-point format.

Rounds are counted with Lamport clocks: a message carries ``sender_clock + 1``; a receiver
sets its clock to the maximum of its own and the message's. Messages sent before any receive
therefore share a round, and the clock difference across a call is its number of sequential
communication rounds. Offline (dealer) messages carry round 0 and never delay anybody.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from typing import TypeVar

import numpy as np

from .. import PARTY_NAMES
from ..encoding import FixedPoint
from ..errors import ProtocolError, SppError
from ..randomness import Prg, SystemRandom, new_seed
from ..transport import wire
from ..transport.base import Transport
from .stats import CallRecord, LinkCount

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_MESSAGE_BYTES = 1 << 31

F = TypeVar("F", bound=Callable)


class PartyContext:
    """One party's handle on a session: identity, messaging, PRGs, fixed-point format, counters."""

    def __init__(
        self,
        party: int,
        transport: Transport,
        *,
        fxp: FixedPoint | None = None,
        session: bytes = b"",
        timeout: float = DEFAULT_TIMEOUT,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        if party not in (0, 1, 2):
            raise ValueError(f"party must be 0, 1 or 2, got {party}")
        self.party = party
        self.fxp = fxp or FixedPoint()
        self.session = session
        self.timeout = timeout
        self.max_message_bytes = max_message_bytes
        self.rng = SystemRandom()
        self.calls: list[CallRecord] = []
        self.totals: dict[int, LinkCount] = {}
        self._transport = transport
        self._prgs: dict[int, Prg] = {}
        self._seq_out = {p: 0 for p in range(3) if p != party}
        self._seq_in = {p: 0 for p in range(3) if p != party}
        self._clock = 0
        self._open: list[tuple[CallRecord, float]] = []

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return PARTY_NAMES[self.party]

    @property
    def is_helper(self) -> bool:
        return self.party == 2

    @property
    def other(self) -> int:
        """The other primary server (only meaningful on P0 and P1)."""
        return 1 - self.party

    @property
    def clock(self) -> int:
        return self._clock

    # -- session setup --------------------------------------------------------------------
    def setup(self) -> None:
        """Agree a fresh pairwise PRG seed with each peer (the lower id draws and sends it).

        Runs over the session's channels, which the ZeroMQ transport encrypts with CURVE.
        """
        with self.record("setup"):
            for peer in sorted(self._seq_out):
                if self.party < peer:
                    seed = new_seed()
                    self.send(peer, np.frombuffer(seed, dtype=np.uint8))
                    self._prgs[peer] = Prg(seed)
            for peer in sorted(self._seq_out):
                if peer < self.party:
                    (arr,) = self.recv(peer, expect=[((16,), np.uint8)])
                    self._prgs[peer] = Prg(arr.tobytes())

    def prg(self, peer: int) -> Prg:
        """The generator this party shares with ``peer`` (same stream on both sides)."""
        try:
            return self._prgs[peer]
        except KeyError:
            raise ProtocolError("no shared PRG: call setup() first", PARTY_NAMES[peer]) from None

    # -- messaging --------------------------------------------------------------------------
    def send(self, peer: int, *arrays: np.ndarray, offline: bool = False) -> None:
        """Send arrays to ``peer`` as one message (does not wait for the peer)."""
        round_ = 0 if offline else self._clock + 1
        frames = wire.encode(self.session, self._seq_out[peer], round_, arrays)
        self._seq_out[peer] += 1
        payload, wire_bytes = wire.wire_size(frames)
        if payload + len(frames[0]) > self.max_message_bytes:
            raise SppError(
                f"{self.name} would send a message of {payload} bytes to {PARTY_NAMES[peer]}, over the "
                f"limit of {self.max_message_bytes} (limits.max_message_mb); run the job in smaller batches"
            )
        for rec, _ in self._open:
            rec.sent.setdefault(peer, LinkCount()).add(payload, wire_bytes, offline)
        self.totals.setdefault(peer, LinkCount()).add(payload, wire_bytes, offline)
        self._transport.send_frames(peer, frames)

    def recv(
        self,
        peer: int,
        expect: Sequence[tuple[tuple[int, ...], type | np.dtype]] | None = None,
    ) -> list[np.ndarray]:
        """The next message from ``peer``, as read-only arrays.

        ``expect`` lists the (shape, dtype) of every array the protocol is waiting for; a
        message that does not match raises ProtocolError naming the peer.
        """
        frames = self._transport.recv_frames(peer, self.timeout)
        pname = PARTY_NAMES[peer]
        msg = wire.decode(
            frames, peer=pname, session=self.session, max_bytes=self.max_message_bytes
        )
        if msg.seq != self._seq_in[peer]:
            raise ProtocolError(
                f"out-of-order message: expected sequence {self._seq_in[peer]}, got {msg.seq}",
                pname,
            )
        self._seq_in[peer] += 1
        self._clock = max(self._clock, msg.round)
        if expect is not None:
            _check_expected(msg.arrays, expect, pname)
        return msg.arrays

    def exchange(self, peer: int, *arrays: np.ndarray) -> list[np.ndarray]:
        """Send arrays to ``peer`` and receive the same shapes back (one round)."""
        self.send(peer, *arrays)
        return self.recv(peer, expect=[(a.shape, a.dtype) for a in arrays])

    # -- accounting -------------------------------------------------------------------------
    @contextmanager
    def record(self, name: str) -> Iterator[CallRecord]:
        """Count rounds, bytes and time of everything inside the block under ``name``."""
        rec = CallRecord(name=name, depth=len(self._open), start_clock=self._clock)
        self.calls.append(rec)
        self._open.append((rec, time.perf_counter()))
        try:
            yield rec
        finally:
            _, t0 = self._open.pop()
            rec.end_clock = self._clock
            rec.elapsed = time.perf_counter() - t0

    def start_epoch(self) -> None:
        """Start a fresh accounting epoch: forget calls and totals and zero the round clock.

        All parties call this at the same program point with no online message in flight
        (after ``setup``, between jobs), so their clocks stay comparable.
        """
        self.calls.clear()
        self.totals.clear()
        self._clock = 0


def protocol(name: str) -> Callable[[F], F]:
    """Decorate a protocol function so each call is recorded under ``name``.

    The function's first argument is either a PartyContext or an object with a ``ctx``
    attribute (a SharedTensor).
    """

    def deco(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args, **kwargs):
            first = args[0]
            ctx = first if isinstance(first, PartyContext) else first.ctx
            with ctx.record(name):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


def _check_expected(arrays: list[np.ndarray], expect, peer: str) -> None:
    if len(arrays) != len(expect):
        raise ProtocolError(
            f"unexpected message: {len(arrays)} arrays instead of {len(expect)}", peer
        )
    for i, (arr, (shape, dtype)) in enumerate(zip(arrays, expect)):
        if arr.dtype != np.dtype(dtype) or tuple(arr.shape) != tuple(shape):
            raise ProtocolError(
                f"unexpected message: array {i} is {arr.dtype}{list(arr.shape)}, "
                f"expected {np.dtype(dtype)}{list(shape)}",
                peer,
            )
