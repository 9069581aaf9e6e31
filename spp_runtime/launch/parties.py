"""Run an SPMD program on three OS processes over CURVE-secured ZeroMQ on loopback.

``run_zmq(program)`` has the contract of ``run_local``: every party runs ``program(ctx)``
and the caller gets the three return values and the merged per-call statistics. Underneath,
:class:`ZmqParties` keeps three worker processes (spawned, so nothing is inherited) with
fresh CURVE keys in a private temporary directory, connected once; each run is a new session
with fresh seeds. Programs, their arguments and their results cross process boundaries by
pickle, so a program must be a module-level function (or a ``functools.partial`` of one).

The launcher flavour whose parties are driven from the calling process: they start under
the cleanup policy (:mod:`.lifecycle`), and then live as long as the thread that started
them (Linux ``PR_SET_PDEATHSIG``) or until :meth:`ZmqParties.close`.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import pickle
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import connection as mp_connection
from pathlib import Path
from typing import Any, Self, TypeVar

from .. import PARTY_NAMES
from ..encoding import FixedPoint
from ..engine.local import LocalRun
from ..engine.session import run_in_session
from ..engine.stats import CallRecord, merge_records
from ..errors import PeerFailed, SppError
from ..keys import load_pair, load_public, public_path, secret_path
from ..transport.zmq_common import ZmqOptions
from ..transport.zmq_transport import PeerAddress, ZmqTransport
from .files import free_ports, new_keys, private_dir
from .lifecycle import Cleanup
from .threads import limit_blas_threads

T = TypeVar("T")

_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class _PartySpec:
    party: int
    key_dir: str
    ports: tuple[int, ...]
    heartbeat_s: float
    heartbeat_timeout_s: float
    flow_window_bytes: int


class ZmqParties:
    """Three long-lived party processes connected over CURVE ZeroMQ (for tests and benches).

    Use as a context manager or call :meth:`close`. Not thread-safe: one run at a time. On
    Linux the party processes are killed when the thread that started them ends (so a killed
    driver leaves none behind): start and use them from one thread. A failure, SIGTERM or
    Ctrl-C while they start stops the ones already started.
    """

    def __init__(
        self, *, heartbeat_s: float = 0.5, heartbeat_timeout_s: float = 2.0,
        flow_window_bytes: int = ZmqOptions.flow_window_bytes,
    ) -> None:
        self._tmp = str(private_dir("spp-zmq-"))
        self._conns: list[mp_connection.Connection] = []
        self._procs: list[Any] = []  # multiprocessing's spawn-context Process
        with Cleanup(self.close, on_success=False) as cleanup:
            new_keys(Path(self._tmp))
            self.ports = free_ports(3)
            self._grace = 1.0  # a failing party reports within milliseconds of the others
            ctx = mp.get_context("spawn")
            for p in range(3):
                spec = _PartySpec(p, self._tmp, self.ports, heartbeat_s, heartbeat_timeout_s, flow_window_bytes)
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(spec, child), name=f"spp-{PARTY_NAMES[p]}", daemon=True)
                with cleanup.held():
                    proc.start()
                    child.close()
                    self._conns.append(parent)
                    self._procs.append(proc)
            for p in range(3):
                status, detail = self._receive(p, _START_TIMEOUT)
                if status != "ready":
                    raise SppError(f"{PARTY_NAMES[p]} did not start: {detail}")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def run(
        self,
        program: Callable[..., T],
        *args: Any,
        fxp: FixedPoint | None = None,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> LocalRun[T]:
        """Run ``program(ctx, *args, **kwargs)`` on the three processes (args are pickled)."""
        fn = _Bound(program, args, kwargs) if args or kwargs else program
        session = os.urandom(8)
        for conn in self._conns:
            conn.send(("run", session, fn, fxp, timeout))
        results = self._gather(timeout + 30.0)
        errors = [detail if status == "error" else None for status, detail in results]
        real = [e for e in errors if e is not None and not isinstance(e, PeerFailed)]
        if real or any(e is not None for e in errors):
            raise (real or [e for e in errors if e is not None])[0]
        outputs = [detail[0] for _, detail in results]
        records = [[CallRecord.from_dict(d) for d in detail[1]] for _, detail in results]
        return LocalRun(outputs, merge_records(records), [])

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(("stop",))
            except (OSError, EOFError):
                pass
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for conn in self._conns:
            conn.close()
        self._conns, self._procs = [], []
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _gather(self, timeout: float) -> list[tuple[str, Any]]:
        """All three parties' results; once one has failed, the others get a short grace
        period (a frozen process would otherwise hold the caller until ``timeout``)."""
        results: dict[int, tuple[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(results) < 3:
            waiting = [p for p in range(3) if p not in results]
            ready = mp_connection.wait([self._conns[p] for p in waiting], timeout=0.2)
            for p in waiting:
                if self._conns[p] in ready or not self._procs[p].is_alive():
                    results[p] = self._receive(p, 1.0)
            failed = any(status == "error" for status, _ in results.values())
            if failed and deadline > time.monotonic() + self._grace:
                deadline = time.monotonic() + self._grace
            if time.monotonic() > deadline:
                for p in range(3):
                    if p not in results:
                        results[p] = ("error", PeerFailed("no result (process unresponsive)", PARTY_NAMES[p]))
        return [results[p] for p in range(3)]

    def _receive(self, p: int, timeout: float) -> tuple[str, Any]:
        conn, proc = self._conns[p], self._procs[p]
        deadline = time.monotonic() + timeout
        while not conn.poll(0.2):
            if not proc.is_alive():
                return "error", PeerFailed(f"process exited with code {proc.exitcode}", PARTY_NAMES[p])
            if time.monotonic() > deadline:
                return "error", PeerFailed(f"no result within {timeout:g} s", PARTY_NAMES[p])
        try:
            return conn.recv()
        except (EOFError, OSError):
            return "error", PeerFailed("process died", PARTY_NAMES[p])


def run_zmq(
    program: Callable[..., T],
    *args: Any,
    fxp: FixedPoint | None = None,
    timeout: float = 30.0,
    parties: ZmqParties | None = None,
    **kwargs: Any,
) -> LocalRun[T]:
    """Run ``program(ctx, *args, **kwargs)`` on P0, P1, P2 as three processes over ZeroMQ.

    ``program`` must be picklable: a module-level function (or a partial of one), as must its
    arguments and return values. Pass ``parties`` to reuse running processes; without it three
    are started for this run and stopped afterwards. ``contexts`` of the result is empty (the
    contexts live in the other processes); ``outputs`` and ``stats`` are as for ``run_local``.
    """
    if parties is not None:
        return parties.run(program, *args, fxp=fxp, timeout=timeout, **kwargs)
    with ZmqParties() as own:
        return own.run(program, *args, fxp=fxp, timeout=timeout, **kwargs)


@dataclass(frozen=True)
class _Bound:
    """``program(ctx, *args, **kwargs)`` as a picklable one-argument callable."""

    program: Callable[..., Any]
    args: tuple
    kwargs: dict

    def __call__(self, ctx: Any) -> Any:
        return self.program(ctx, *self.args, **self.kwargs)


def _die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this process when its parent dies (a killed test run or
    script must not leave party processes computing); elsewhere the pipe's EOF ends it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker(spec: _PartySpec, conn: Any) -> None:
    """One party process: connect, then run programs until told to stop."""
    _die_with_parent()
    limit_blas_threads()
    key_dir = Path(spec.key_dir)
    peers = {
        q: PeerAddress(q, f"tcp://127.0.0.1:{spec.ports[q]}", load_public(public_path(key_dir, PARTY_NAMES[q])))
        for q in range(3)
        if q != spec.party
    }
    opts = ZmqOptions(heartbeat_s=spec.heartbeat_s, heartbeat_timeout_s=spec.heartbeat_timeout_s,
                      flow_window_bytes=spec.flow_window_bytes)
    try:
        transport = ZmqTransport(
            spec.party, load_pair(secret_path(key_dir, PARTY_NAMES[spec.party])),
            f"tcp://127.0.0.1:{spec.ports[spec.party]}", peers, options=opts,
        )
        transport.wait_connected(_START_TIMEOUT)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", _portable(exc)))
        return
    conn.send(("ready", None))
    try:
        while True:
            try:
                msg = conn.recv()
            except EOFError:
                return
            if msg[0] == "stop":
                return
            _, session, fn, fxp, timeout = msg
            try:
                out, calls = run_in_session(transport, session, fn, fxp=fxp, timeout=timeout)
                conn.send(("ok", (out, [c.to_dict() for c in calls])))
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                if not isinstance(exc, PeerFailed):
                    exc.add_note(f"(raised on {PARTY_NAMES[spec.party]})\n" + traceback.format_exc())
                conn.send(("error", _portable(exc)))
    finally:
        transport.close()


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it pickles, else a RuntimeError carrying its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - anything unpicklable is replaced by its text
        tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return RuntimeError(tb)
