"""A client of the three servers: data owner and analyst in one.

``Client.run(program, inputs, params)`` encodes the plaintext inputs in fixed point, splits
each into two additive shares with the OS CSPRNG (``sharing.share``), sends P0 its shares,
P1 its shares and P2 only the shapes, all over CURVE with the client's key. It then gathers
the three replies, adds the output shares back together, and merges the three parties' call
records into per-call statistics. No server ever sees a plaintext input or output.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import zmq

from .. import PARTY_NAMES
from ..api import messages
from ..api.storage_messages import encode_request
from ..config import ClusterConfig
from ..engine.stats import CallRecord, ProtocolStats, merge_records
from ..errors import PeerTimeout, ProtocolError, SppError
from ..keys import KeyPair, load_pair, load_public
from ..ring import DTYPE
from ..sharing import reconstruct, share
from ..storage import errors as storage_errors
from ..transport.zmq_common import LinkMonitor, ZmqOptions, curve_dealer


class ServerUnavailable(SppError):
    """A server cannot be reached, refused our key, or went away."""


class JobFailed(SppError):
    """A job failed; ``errors`` maps each server that reported a problem to its message."""

    def __init__(self, job: str, errors: Mapping[str, str], root: str | None) -> None:
        self.job = job
        self.errors = dict(errors)
        self.root = root
        parts = [f"{p}: {errors[p]}" for p in ([root] if root else []) + sorted(set(errors) - {root})]
        super().__init__(f"job {job} failed on {root or ', '.join(sorted(errors))}: " + "; ".join(parts))


@dataclass
class JobResult:
    """Reconstructed outputs, per-call statistics and timings of one job."""

    job: str
    outputs: dict[str, np.ndarray]  # decoded fixed point (shared outputs) or public arrays
    ring_outputs: dict[str, np.ndarray]  # reconstructed ring elements of shared outputs
    stats: list[ProtocolStats]
    server_time_s: dict[str, float]
    wall_s: float
    records: list[list[CallRecord]] = field(default_factory=list)

    def top(self, name: str | None = None) -> list[ProtocolStats]:
        """Top-level calls (depth 0), optionally only those called ``name``."""
        return [s for s in self.stats if s.depth == 0 and (name is None or s.name == name)]


class Client:
    """Connections to P0, P1 and P2 with one client key. Use as a context manager.

    Failing fast: a server that refuses our key fails a command at once; one that refuses
    TCP connections for a second (not running) fails it then; one that accepts TCP without
    completing the handshake (frozen) fails it after ``timeouts.heartbeat_timeout_s`` (the
    silence that makes a connected peer dead), naming the server and what was seen; one that
    was up and went away (killed, or silent past the heartbeat timeout) gets a second more than
    that to come back. A server found unavailable is remembered as such until its link comes
    up again, so retries and clean-up requests to it fail at once instead of waiting again.
    """

    def __init__(self, cfg: ClusterConfig, key: KeyPair | None = None) -> None:
        if key is None:
            if cfg.default_client is None:
                raise SppError(f"{cfg.source}: no clients.default key to connect with")
            key = load_pair(cfg.client_secret_key(cfg.default_client))
        if key.secret is None:
            raise SppError("a client needs its secret key")
        for pc in cfg.parties:
            if load_public(pc.public_key) == key.public:
                raise ServerUnavailable(
                    f"the client key is {pc.name}'s key pair ({pc.public_key}): a server's key cannot act "
                    f"as a client; connect with your own client key (spp keys generate --client NAME) "
                    f"listed in clients.allowed"
                )
        self.cfg = cfg
        self._grace = cfg.timeouts.heartbeat_timeout_s + 1.0  # for a lost server to come back
        self._handshake_s = cfg.timeouts.heartbeat_timeout_s  # for a TCP-connected one to answer
        self._down: dict[int, str] = {}  # servers found unavailable, until their link comes up
        opts = ZmqOptions(
            heartbeat_s=cfg.timeouts.heartbeat_s,
            heartbeat_timeout_s=cfg.timeouts.heartbeat_timeout_s,
            max_message_bytes=cfg.max_message_bytes,
        )
        self._zctx = zmq.Context()
        self._socks: dict[int, zmq.Socket] = {}
        self._links: dict[int, LinkMonitor] = {}
        try:
            for p, pc in enumerate(cfg.parties):
                self._socks[p], self._links[p] = curve_dealer(
                    self._zctx, key.public, key.secret, load_public(pc.public_key), pc.connect_url, opts
                )
        except BaseException:
            self.close()
            raise
        self._poller = zmq.Poller()
        self._which: dict[Any, tuple[str, int]] = {}
        for p in range(3):
            self._poller.register(self._socks[p], zmq.POLLIN)
            self._poller.register(self._links[p].socket, zmq.POLLIN)
            self._which[self._socks[p]] = ("data", p)
            self._which[self._links[p].socket] = ("monitor", p)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for link in self._links.values():
            link.close()
        for s in self._socks.values():
            s.close(linger=0)
        self._zctx.destroy(linger=0)  # also closes a socket a signal cut off mid-__init__ (term would hang)

    # -- connecting ----------------------------------------------------------------------------
    def connect(self, timeout: float | None = None, parties: Sequence[int] = (0, 1, 2)) -> None:
        """Wait until ``parties`` accepted our key; ServerUnavailable names every one that is
        unavailable and why.

        Without ``timeout`` a server fails fast (see the class doc; one whose address does not
        answer at all gets ``timeouts.connect_s``); with it, each gets up to ``timeout`` seconds
        (e.g. a cluster that is starting), failing at once only on a refused key."""
        self._wait_up(parties, timeout, ServerUnavailable)

    def _wait_up(self, parties: Sequence[int], timeout: float | None, error: type[Exception]) -> None:
        start = time.monotonic()
        fast = timeout is None
        limit = self.cfg.timeouts.connect_s if timeout is None else timeout
        while True:
            self._drain_monitors()
            problems = {}
            for p in parties:
                link = self._links[p]
                if link.up:
                    self._down.pop(p, None)
                    continue
                waited = time.monotonic() - start
                if link.refused:
                    problems[p] = link.refused
                elif fast and p in self._down:
                    problems[p] = self._down[p]
                elif fast and link.ever_up and waited > self._grace:
                    problems[p] = f"the connection was lost and did not come back within {self._grace:g} s " \
                                  f"(server killed, frozen or unreachable)"
                elif fast and link.tcp_refused and not link.ever_up and waited > min(1.0, self._grace):
                    problems[p] = link.why_not_up()  # refused for a second: nothing listens there
                elif fast and (link.tcp_refused or link.tcp_since is not None) and waited > self._handshake_s:
                    problems[p] = link.why_not_up()  # silent for a heartbeat timeout: frozen
                elif waited > limit:
                    problems[p] = f"no connection within {limit:g} s: {link.why_not_up()}"
            if problems:
                self._down.update(problems)
                raise error("; ".join(f"{PARTY_NAMES[p]} at {self._links[p].url} is unavailable: {why}"
                                      for p, why in sorted(problems.items())))
            if all(self._links[p].up for p in parties):
                return
            self._poller.poll(100)

    def status_all(self, timeout: float = 5.0) -> dict[str, dict]:
        """Each server's status map, or ``{"error": why}`` for one that is unavailable or does
        not answer within ``timeout`` seconds (the others still answer)."""
        out: dict[str, dict] = {}
        waiting: dict[int, float] = {}
        for p in range(3):
            try:
                self._wait_up([p], None, ServerUnavailable)
            except ServerUnavailable as exc:
                out[PARTY_NAMES[p]] = {"error": str(exc)}
                continue
            self._socks[p].send_multipart(messages.encode_status_request())
            waiting[p] = time.monotonic() + timeout
        while waiting:
            for p, deadline in list(waiting.items()):
                sock = self._socks[p]
                while sock.poll(0):
                    reply = messages.decode_reply(sock.recv_multipart(copy=False), server=PARTY_NAMES[p],
                                                  max_bytes=self.cfg.max_message_bytes)
                    if isinstance(reply, dict) and reply.get("kind") == "status":
                        out[PARTY_NAMES[p]] = reply
                        del waiting[p]
                        break
                else:
                    self._links[p].drain()
                    if not self._links[p].up:
                        out[PARTY_NAMES[p]] = {"error": f"{PARTY_NAMES[p]} went away: "
                                                        f"{self._links[p].why_not_up()}"}
                        del waiting[p]
                    elif time.monotonic() > deadline:
                        out[PARTY_NAMES[p]] = {"error": f"{PARTY_NAMES[p]} did not answer within {timeout:g} s "
                                                        "(busy with a long job, or frozen)"}
                        del waiting[p]
            if waiting:
                self._poller.poll(50)
        return {name: out[name] for name in PARTY_NAMES}

    # -- requests ----------------------------------------------------------------------------------
    def status(self, timeout: float = 5.0) -> dict[str, dict]:
        """Each server's status map ("ready", "peers", "jobs", ...)."""
        self.connect()
        for p in range(3):
            self._socks[p].send_multipart(messages.encode_status_request())
        replies = self._gather(None, timeout, want_status=True)
        return {PARTY_NAMES[p]: r for p, r in replies.items()}  # type: ignore[misc]

    def status_of(self, party: int, timeout: float = 5.0, *, fail_fast: bool = False) -> dict:
        """One server's status map; ServerUnavailable if it refuses us or does not answer
        within ``timeout`` seconds (with ``fail_fast``, also when it is found unavailable as
        :meth:`connect` finds it, after the heartbeat timeout + 1 s)."""
        link, sock = self._links[party], self._socks[party]
        deadline = time.monotonic() + timeout
        if fail_fast:
            self._wait_up([party], None if timeout > self._grace else timeout, ServerUnavailable)
        while not link.up:
            link.drain()
            if link.refused:
                raise ServerUnavailable(f"{PARTY_NAMES[party]} at {link.url}: {link.refused}")
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"no connection to {PARTY_NAMES[party]} at {link.url} within {timeout:g} s: "
                                        f"{link.why_not_up()}")
            link.socket.poll(100)
        sock.send_multipart(messages.encode_status_request())
        while (left := deadline - time.monotonic()) > 0:
            if sock.poll(int(min(left, 0.2) * 1000)):
                reply = messages.decode_reply(sock.recv_multipart(copy=False), server=PARTY_NAMES[party],
                                          max_bytes=self.cfg.max_message_bytes)
                if isinstance(reply, dict) and reply.get("kind") == "status":
                    return reply
            link.drain()
            if not link.up:
                raise ServerUnavailable(f"{PARTY_NAMES[party]} at {link.url} went away before answering "
                                        f"({link.why_not_up()})")
        raise ServerUnavailable(f"no status reply from {PARTY_NAMES[party]} within {timeout:g} s")

    def run(
        self,
        program: str,
        inputs: Mapping[str, np.ndarray] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        encoded: bool = False,
        timeout: float | None = None,
        datasets: Mapping[str, str] | None = None,
        checkpoint: str | None = None,
        save_as: str | None = None,
        model: str | None = None,
        on_progress: Callable[[int, int, dict], None] | None = None,
    ) -> JobResult:
        """Run ``program`` on secret-shared ``inputs`` (plaintext reals, or ring elements if
        ``encoded``) with public ``params``; returns the reconstructed outputs.

        ``datasets`` maps further inputs to stored dataset parts (``{"x": "mnist-train:x"}``),
        which P0 and P1 read from their stores. ``checkpoint`` names the job's checkpoint
        (programs save and resume it, see docs/STORAGE.md). ``save_as`` asks a program that
        trains a model (``train``) to keep it on the servers under that name instead of
        returning it. ``model`` names a stored model the program runs (``predict``: P0 and
        P1 use their shares of it, if the client's grants allow).
        ``on_progress(done, total, info)`` is called for each progress report of the running
        program, and while the job waits for a free slot on the servers with ``done = total =
        0`` and ``info = {"queued": place, "running": jobs}`` (place 1: next to start)."""
        self.connect()
        inputs = dict(inputs or {})
        job = os.urandom(8).hex()
        fxp = self.cfg.fxp
        shapes, shares0, shares1 = {}, {}, {}
        limit = self.cfg.max_message_bytes
        for name, value in inputs.items():
            ring = np.asarray(value, dtype=DTYPE) if encoded else fxp.encode(value, name=f"input {name!r}")
            if ring.nbytes > limit:
                raise ValueError(f"input {name!r} is {ring.nbytes} bytes; the servers accept at most {limit}")
            shapes[name] = ring.shape
            shares0[name], shares1[name] = share(ring)
        t0 = time.perf_counter()
        args = (job, program, dict(params or {}), fxp.frac_bits, shapes)
        refs = dict(datasets or {})
        for p, shares in enumerate((shares0, shares1, None)):
            self._socks[p].send_multipart(messages.encode_job(*args, shares, refs, checkpoint, save_as, model), copy=False)
        del shares0, shares1
        timeout = self.cfg.timeouts.job_s if timeout is None else timeout
        replies = self._gather(job, timeout, want_status=False, on_progress=on_progress)
        wall = time.perf_counter() - t0
        return self._assemble(job, replies, wall)  # type: ignore[arg-type]

    def request(
        self,
        party: int,
        kind: str,
        fields: Mapping[str, Any] | None = None,
        arrays: Mapping[str, np.ndarray] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One storage request to P0 or P1; returns the answer body.

        A refusal raises the server's ``StorageError`` (subclass by name), a refused key
        ``ServerUnavailable``; no answer within ``timeout`` raises ``PeerTimeout``, a lost
        connection ``ConnectionError`` (both retried by the upload driver: every storage
        request is idempotent). Only the addressed server needs to be up.
        """
        timeout = self.cfg.timeouts.recv_s if timeout is None else timeout
        server = PARTY_NAMES[party]
        link, sock = self._links[party], self._socks[party]
        if link.refused:
            raise ServerUnavailable(f"{server} at {link.url}: {link.refused}")
        # fails fast on a server that is gone (see the class doc); requests are not queued
        # for a server that is not there
        self._wait_up([party], None, ConnectionError)
        deadline = time.monotonic() + timeout
        rid = os.urandom(6).hex()
        sock.send_multipart(encode_request(kind, rid, fields or {}, arrays), copy=False)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PeerTimeout(f"no answer to {kind} within {timeout:g} s", server)
            for s, _ in self._poller.poll(int(min(left, 0.2) * 1000)):
                what, p = self._which[s]
                if what == "monitor":
                    self._links[p].drain()
                elif p == party:
                    reply = messages.decode_reply(s.recv_multipart(copy=False), server=server,
                                              max_bytes=self.cfg.max_message_bytes)
                    if isinstance(reply, dict) and reply.get("kind") == "answer" and reply.get("rid") == rid:
                        return _answer(reply, server)
                else:
                    s.recv_multipart()  # a stale reply from another server
            if not link.up:
                self._down[party] = f"lost the connection during {kind} (server killed, frozen or unreachable)"
                raise ConnectionError(f"{server} at {link.url} is unavailable: {self._down[party]}")

    # -- internals -----------------------------------------------------------------------------------
    def _drain_monitors(self) -> None:
        for link in self._links.values():
            link.drain()

    def _gather(self, job: str | None, timeout: float, *, want_status: bool,
                on_progress: Callable[[int, int, dict], None] | None = None) -> dict[int, Any]:
        """Replies of all three servers; fails fast when a server goes away or refuses."""
        replies: dict[int, Any] = {}
        lost: dict[int, str] = {}
        deadline = time.monotonic() + timeout
        grace = self.cfg.timeouts.heartbeat_timeout_s + 1.0
        failing = False
        while len(replies) + len(lost) < 3:
            if not failing and any(isinstance(r, messages.JobReply) and not r.ok for r in replies.values()):
                # A failed job fails everywhere within moments; a server that does not
                # answer by then never started it (e.g. it is cut off from P0).
                failing = True
                deadline = min(deadline, time.monotonic() + grace)
            left = deadline - time.monotonic()
            if left <= 0:
                missing = [PARTY_NAMES[p] for p in range(3) if p not in replies and p not in lost]
                why = "no reply after the others failed" if failing else f"no reply within {timeout:g} s"
                lost.update({p: why for p in range(3) if p not in replies and p not in lost})
                if want_status:
                    raise ServerUnavailable(f"no status reply from {', '.join(missing)} within {timeout:g} s")
                break
            for sock, _ in self._poller.poll(int(min(left, 0.5) * 1000)):
                kind, p = self._which[sock]
                if kind == "monitor":
                    self._links[p].drain()
                    continue
                frames = self._socks[p].recv_multipart(copy=False)
                reply = messages.decode_reply(frames, server=PARTY_NAMES[p], max_bytes=self.cfg.max_message_bytes)
                if isinstance(reply, dict) and reply.get("kind") == "progress":
                    if on_progress is not None and reply.get("job") == job and not want_status:
                        on_progress(int(reply.get("done", 0)), int(reply.get("total", 0)), dict(reply.get("info") or {}))
                    continue
                if want_status:
                    if isinstance(reply, dict) and reply.get("kind") == "status":
                        replies[p] = reply
                elif isinstance(reply, messages.JobReply) and reply.job == job:
                    replies[p] = reply
            for p, link in self._links.items():
                if p not in replies and p not in lost and not link.up:
                    lost[p] = f"connection lost ({link.refused or 'server stopped or unreachable'})"
        if lost:
            if want_status:
                raise ServerUnavailable("; ".join(f"{PARTY_NAMES[p]}: {m}" for p, m in lost.items()))
            errors = {PARTY_NAMES[p]: m for p, m in lost.items()}
            errors.update({PARTY_NAMES[p]: _error_text(r) for p, r in replies.items() if not r.ok})
            raise JobFailed(job or "?", errors, _root(errors, replies, lost))
        return replies

    def _assemble(self, job: str, replies: dict[int, messages.JobReply], wall: float) -> JobResult:
        errors = {PARTY_NAMES[p]: _error_text(r) for p, r in replies.items() if not r.ok}
        if errors:
            raise JobFailed(job, errors, _root(errors, replies, {}))
        by_party = [{o.name: o for o in replies[p].outputs} for p in range(3)]
        names = list(by_party[0])
        if any(list(b) != names for b in by_party):
            raise ProtocolError(f"job {job}: servers returned different outputs")
        outputs, ring_outputs = {}, {}
        for name in names:
            o0, o1 = by_party[0][name], by_party[1][name]
            if o0.kind == "shared":
                if o0.array is None or o1.array is None or o0.array.shape != o1.array.shape:
                    raise ProtocolError(f"job {job}: output {name!r} shares do not match")
                ring = reconstruct(o0.array, o1.array)
                ring_outputs[name] = ring
                outputs[name] = self.cfg.fxp.decode(ring)
            else:
                outputs[name] = np.array(o0.array)
        records = [[CallRecord.from_dict(d) for d in replies[p].records] for p in range(3)]
        return JobResult(
            job=job, outputs=outputs, ring_outputs=ring_outputs, stats=merge_records(records),
            server_time_s={PARTY_NAMES[p]: replies[p].elapsed for p in range(3)}, wall_s=wall,
            records=records,
        )


def _answer(reply: Mapping[str, Any], server: str) -> dict[str, Any]:
    """The body of an ``ok`` answer, else the server's error re-raised as a StorageError."""
    if reply.get("ok") is True:
        body = reply.get("body")
        return body if isinstance(body, dict) else {}
    name, text = str(reply.get("error", "StorageError")), str(reply.get("message", ""))
    cls = getattr(storage_errors, name, None)
    if isinstance(cls, type) and issubclass(cls, storage_errors.StorageError):
        raise cls(text if server in text else f"{server}: {text}")
    raise storage_errors.StorageError(f"{server}: {name}: {text}")


def _error_text(reply: messages.JobReply) -> str:
    return f"{reply.error_type}: {reply.error}" if reply.error_type else reply.error


def _root(errors: Mapping[str, str], replies: Mapping[int, Any], lost: Mapping[int, str]) -> str | None:
    """The server where the failure started: one we lost the connection to, else one whose
    error is not a consequence of another party failing."""
    gone = [p for p, why in lost.items() if why.startswith("connection lost")]
    if gone:
        return PARTY_NAMES[min(gone)]
    for p, r in sorted(replies.items()):
        if not r.ok and r.error_type not in ("PeerFailed", "PeerTimeout"):
            return PARTY_NAMES[p]
    return min(errors) if errors else None
