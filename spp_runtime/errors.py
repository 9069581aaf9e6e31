"""Exception types. Messages name the problem and the peer, never a secret value or share."""

from __future__ import annotations


class SppError(Exception):
    """Base class of every error the runtime raises on purpose."""


class EncodingError(SppError, ValueError):
    """A plaintext value cannot be encoded (NaN, inf, or outside the fixed-point range)."""


class ConfigError(SppError):
    """A configuration file or option is missing, malformed or inconsistent."""


class ProtocolError(SppError):
    """A peer sent a malformed, oversized, out-of-order or unexpected message."""

    def __init__(self, message: str, peer: str | None = None) -> None:
        self.peer = peer
        super().__init__(f"{message} (peer {peer})" if peer else message)


class PeerTimeout(ProtocolError):
    """A peer did not send an expected message within the configured timeout."""


class PeerFailed(ProtocolError):
    """A peer (or the local run) aborted; the protocol cannot continue."""
