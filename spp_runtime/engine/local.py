"""Run an SPMD program on three parties in one process (threads over in-process queues).

This is the fast path for tests: the same protocol code that the servers run over ZeroMQ,
with the same counters. If one party raises, the hub is aborted so the others stop at once,
and the first real error (not the cascade it caused) is re-raised.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..encoding import FixedPoint
from ..errors import PeerFailed
from ..transport.base import Transport
from ..transport.inprocess import InProcessHub
from .context import PartyContext
from .stats import ProtocolStats, merge_records

T = TypeVar("T")


@dataclass
class LocalRun(Generic[T]):
    """The three parties' return values and the merged per-call statistics."""

    outputs: list[T]
    stats: list[ProtocolStats]
    contexts: list[PartyContext]

    def top(self, name: str | None = None) -> list[ProtocolStats]:
        """Top-level calls (depth 0), optionally only those called ``name``."""
        return [s for s in self.stats if s.depth == 0 and (name is None or s.name == name)]


def run_local(
    program: Callable[[PartyContext], T] | Sequence[Callable[[PartyContext], T]],
    *,
    fxp: FixedPoint | None = None,
    timeout: float = 30.0,
    wrap_transport: Callable[[Transport], Transport] | None = None,
) -> LocalRun[T]:
    """Run ``program(ctx)`` on P0, P1 and P2 concurrently; one callable or one per party.

    ``wrap_transport`` (tests) wraps each party's transport, e.g. to record its view.
    """
    programs = list(program) if isinstance(program, Sequence) else [program] * 3
    hub = InProcessHub()
    session = os.urandom(8)
    wrap = wrap_transport or (lambda t: t)
    contexts = [
        PartyContext(p, wrap(hub.transport(p)), fxp=fxp, session=session, timeout=timeout)
        for p in range(3)
    ]
    outputs: list = [None] * 3
    errors: list[BaseException | None] = [None] * 3

    def worker(p: int) -> None:
        ctx = contexts[p]
        try:
            ctx.setup()
            ctx.start_epoch()
            outputs[p] = programs[p](ctx)
        except BaseException as exc:  # noqa: BLE001 - re-raised below on the caller's thread
            errors[p] = exc
            hub.abort(p)

    threads = [threading.Thread(target=worker, args=(p,), name=f"p{p}") for p in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    real = [e for e in errors if e is not None and not isinstance(e, PeerFailed)]
    if real or any(errors):
        raise (real or [e for e in errors if e is not None])[0]
    return LocalRun(outputs, merge_records([c.calls for c in contexts]), contexts)
