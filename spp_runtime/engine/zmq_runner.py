"""Run an SPMD program on three real OS processes over CURVE-secured ZeroMQ (loopback).

The test-suite counterpart of :func:`.local.run_local`: same contract, but each party is a
forked process with its own ZeroMQ sockets, fresh CURVE keys and a free TCP port, so the
protocol code runs exactly as on the servers. ``program`` must be picklable for the
result to come back; with the default ``fork`` start method any callable works as the
program itself, and each party's return value must be picklable (numpy arrays are).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import traceback
from typing import Callable, Sequence, TypeVar

from ..encoding import FixedPoint
from ..errors import PeerFailed, SppError
from ..transport.zmq_transport import Endpoint, KeyPair, ZmqTransport
from .context import PartyContext
from .local import LocalRun
from .stats import CallRecord, merge_records

T = TypeVar("T")


def free_ports(n: int) -> list[int]:
    """n currently free TCP ports on loopback."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _party_main(party, programs, endpoints, keys, fxp, timeout, session, queue) -> None:
    transport = None
    try:
        transport = ZmqTransport(party, endpoints, keys[party], [k.public for k in keys])
        transport.connect()
        transport.wait_ready(timeout)
        transport.begin_session(session)
        ctx = PartyContext(party, transport, fxp=fxp, session=session, timeout=timeout)
        ctx.setup()
        ctx.start_epoch()
        out = programs[party](ctx)
        transport.barrier(timeout)
        queue.put((party, "ok", out, [c.to_dict() for c in ctx.calls]))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        if transport is not None:
            transport.abort_session(f"{type(exc).__name__}")
        queue.put((party, "error", (type(exc).__name__, str(exc), traceback.format_exc()), None))
    finally:
        if transport is not None:
            transport.close()


class RemotePartyError(SppError):
    """A party process failed with an exception type that is not re-raised as itself."""


def _rebuild(name: str, msg: str, party: int) -> BaseException:
    """The party's exception as the same type where that type is a builtin or ours, so
    callers see what run_local would raise; otherwise RemotePartyError."""
    import builtins

    from .. import errors as spp_errors

    cls = getattr(spp_errors, name, None) or getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(msg)
        except TypeError:
            pass
    return RemotePartyError(f"p{party} failed: {name}: {msg}")


def run_zmq(
    program: Callable[[PartyContext], T] | Sequence[Callable[[PartyContext], T]],
    *,
    fxp: FixedPoint | None = None,
    timeout: float = 30.0,
) -> LocalRun[T]:
    """Run ``program(ctx)`` on three forked processes over ZeroMQ; same result as run_local."""
    programs = list(program) if isinstance(program, Sequence) else [program] * 3
    ports = free_ports(3)
    endpoints = [Endpoint("127.0.0.1", p, bind="127.0.0.1") for p in ports]
    keys = [KeyPair.generate() for _ in range(3)]
    session = os.urandom(8)
    mpctx = mp.get_context("fork")
    queue = mpctx.Queue()
    procs = [
        mpctx.Process(target=_party_main, args=(p, programs, endpoints, keys, fxp, timeout, session, queue))
        for p in range(3)
    ]
    for proc in procs:
        proc.start()
    results: dict[int, tuple] = {}
    try:
        for _ in range(3):
            party, status, payload, records = queue.get(timeout=timeout * 3 + 30)
            results[party] = (status, payload, records)
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    errors = [(p, r[1]) for p, r in sorted(results.items()) if r[0] == "error"]
    if errors:
        real = [e for e in errors if e[1][0] != PeerFailed.__name__] or errors
        party, (name, msg, _tb) = real[0]
        raise _rebuild(name, msg, party)
    outputs = [results[p][1] for p in range(3)]
    calls = [[CallRecord.from_dict(d) for d in results[p][2]] for p in range(3)]
    return LocalRun(outputs, merge_records(calls), [])
