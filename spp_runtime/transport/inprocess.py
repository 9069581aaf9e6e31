"""Three parties in one process: one queue per directed link, for fast tests.

Frames are copied into ``bytes`` on send, so the sender may reuse its arrays. ``abort``
wakes every blocked receive with :class:`PeerFailed`, which is how one failing party makes
the others stop at once instead of waiting for their timeouts.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from typing import Any

from .. import PARTY_NAMES
from ..errors import PeerFailed, PeerTimeout
from .base import Transport

_ABORT = object()


class InProcessHub:
    """The shared medium: a queue for every ordered pair of parties."""

    def __init__(self, n_parties: int = 3) -> None:
        self.n_parties = n_parties
        self._queues: dict[tuple[int, int], queue.Queue[Any]] = {
            (s, d): queue.Queue() for s in range(n_parties) for d in range(n_parties) if s != d
        }
        self._aborted_by: int | None = None
        self._lock = threading.Lock()

    def transport(self, party: int) -> InProcessTransport:
        return InProcessTransport(self, party)

    def abort(self, party: int) -> None:
        """Mark ``party`` failed and wake every receiver."""
        with self._lock:
            if self._aborted_by is None:
                self._aborted_by = party
        for q in self._queues.values():
            q.put(_ABORT)

    @property
    def aborted_by(self) -> int | None:
        return self._aborted_by


class InProcessTransport(Transport):
    def __init__(self, hub: InProcessHub, party: int) -> None:
        self.hub = hub
        self.party = party

    def send_frames(self, peer: int, frames: Sequence) -> None:
        self.hub._queues[(self.party, peer)].put([bytes(f) for f in frames])

    def recv_frames(self, peer: int, timeout: float) -> Sequence:
        try:
            item = self.hub._queues[(peer, self.party)].get(timeout=timeout)
        except queue.Empty:
            raise PeerTimeout(
                f"no message within {timeout:g} s", PARTY_NAMES[peer]
            ) from None
        if item is _ABORT:
            self.hub._queues[(peer, self.party)].put(_ABORT)  # keep waking later receives
            who = self.hub.aborted_by
            raise PeerFailed("party aborted the run", PARTY_NAMES[who] if who is not None else None)
        return item
