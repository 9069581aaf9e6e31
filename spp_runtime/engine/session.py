"""One party's run of an SPMD program in a session over a networked transport.

Used by the servers (one session per job) and by ``run_zmq`` (one per test run): begin the
session, build a fresh PartyContext, agree fresh pairwise seeds, zero the counters, run the
program. If anything fails, the party tells both peers it gave up (with the error's type and
message, which never carry secrets), so they stop at once with an error naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from ..encoding import FixedPoint
from ..errors import PeerFailed, ProtocolError
from .context import DEFAULT_MAX_MESSAGE_BYTES, PartyContext
from .stats import CallRecord

T = TypeVar("T")


class SessionTransport(Protocol):
    """What a transport needs for sessions (``ZmqTransport`` has it)."""

    party: int

    def begin_session(self, session: bytes) -> None: ...
    def end_session(self) -> None: ...
    def abort_session(self, reason: str, session: bytes | None = None, origin: str | None = None) -> None: ...
    def send_frames(self, peer: int, frames) -> None: ...
    def recv_frames(self, peer: int, timeout: float): ...


def describe(exc: BaseException) -> str:
    """``Type: message`` of an error, for peers and clients (without the peer suffix)."""
    text = str(exc)
    peer = getattr(exc, "peer", None)
    if isinstance(exc, ProtocolError) and peer and text.endswith(f" (peer {peer})"):
        text = text[: -len(f" (peer {peer})")]
    return f"{type(exc).__name__}: {text}"


def _origin(exc: BaseException) -> str | None:
    """The party a failure is due to, when it is another party (a dead or failing peer)."""
    return exc.peer if isinstance(exc, PeerFailed) else None


def run_in_session(
    transport: SessionTransport,
    session: bytes,
    body: Callable[[PartyContext], T],
    *,
    fxp: FixedPoint | None = None,
    timeout: float = 60.0,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> tuple[T, list[CallRecord]]:
    """Run ``body(ctx)`` as this transport's party; returns its result and call records."""
    try:
        transport.begin_session(session)
    except BaseException as exc:
        transport.abort_session(describe(exc), session=session, origin=_origin(exc))
        raise
    try:
        ctx = PartyContext(
            transport.party, transport, fxp=fxp, session=session, timeout=timeout,  # type: ignore[arg-type]
            max_message_bytes=max_message_bytes,
        )
        ctx.setup()
        ctx.start_epoch()
        out = body(ctx)
        return out, list(ctx.calls)
    except BaseException as exc:
        transport.abort_session(describe(exc), origin=_origin(exc))
        raise
    finally:
        transport.end_session()
