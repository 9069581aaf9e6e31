"""The interface a party context needs from a transport: framed send and receive per peer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence


class Transport(ABC):
    """Delivers frame lists between the three parties, in order, per directed link."""

    party: int

    @abstractmethod
    def send_frames(self, peer: int, frames: Sequence) -> None:
        """Queue ``frames`` for ``peer``; must not block on the peer reading them."""

    @abstractmethod
    def recv_frames(self, peer: int, timeout: float) -> Sequence:
        """The next frame list from ``peer``.

        Raises PeerTimeout after ``timeout`` seconds, PeerFailed if the peer is known dead.
        """

    def close(self) -> None:
        """Release sockets or queues (optional)."""
