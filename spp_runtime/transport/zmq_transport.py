"""The three parties over CURVE-secured ZeroMQ, one OS process each.

Sockets of party ``i``:

* one ROUTER bound at its own address (CURVE server). The two peers' and the clients'
  connections arrive here; the ZAP handler accepts only configured keys and binds each key
  to an identity (``zmq_auth``), so every inbound message is attributed to the party or
  client whose key authenticated its connection;
* one DEALER per peer ``j``, connected to ``j``'s ROUTER (CURVE client, expecting ``j``'s
  public key), carrying everything ``i`` sends to ``j``. Its monitor tells when ``j`` is up,
  gone (process killed, connection dropped, heartbeats missed), or refused our key.

A party message is the frame list of ``wire.encode`` sent as-is (``copy=False``: buffers of
64 KiB and more go out without a copy, so the caller must not modify a sent array
afterwards). Control messages between servers are one msgpack frame ``{"ctl": kind, ...}``:
``hello`` (sent on every new connection), ``abort`` (a party gave up a session) and server
commands passed up to the caller.

Flow control: inside a session each party counts the bytes and messages it sent to each peer
and those it consumed (received by the protocol, not just buffered) from each; a receiver
reports its consumed counts with a ``credit`` control message every quarter window, and a
sender waits while more than ``options.flow_window_bytes`` (or ``flow_window_messages``) it
sent are unconfirmed. The helper deals
without ever waiting for P0 or P1, so without this it runs ahead and a whole training job's
dealt randomness piles up in the primaries' memory. Waiting cannot deadlock: a receiver that
waits for a message has consumed all earlier ones, and its unreported bytes stay below a
quarter window.

Clients: each authenticated client may have ``options.max_pending_per_client`` requests
waiting in this endpoint; a further request is answered at once with the refusal the caller's
``refuse`` hook makes (the server's "busy" error) and dropped. A message from a server's key
that is not server traffic (a client presenting a server's key pair) is answered the same way.

Sessions: a run (job) has a session id; messages are routed by the session in their header.
Messages of a session not yet begun wait; messages of a finished one are dropped. Inside a
session, a lost connection to either peer or an ``abort`` from either makes every receive
raise :class:`PeerFailed` naming that peer at once, instead of waiting for the timeout.

Threads: the thread that creates the endpoint owns its sockets (the I/O thread: it pumps, in
``next_event`` and in its own sends and receives). Sessions run side by side, each in its own
thread (``begin_session`` binds a session to the calling thread; ``send_frames`` and
``recv_frames`` use the calling thread's session). Another thread never touches a socket: what
it sends (party messages, control messages, replies to clients) goes to the I/O thread over an
``inproc`` pipe, without a copy, and its receives wait for the I/O thread to deliver. A worker
thread calls :meth:`release_thread` when it is done. Used from a single thread, everything
runs inline as before (``run_zmq``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import zmq

from .. import PARTY_NAMES
from ..errors import PeerFailed, PeerTimeout, SppError
from ..keys import KeyPair
from .base import Transport
from .zmq_auth import CLIENT_PREFIX, ZAP_DOMAIN, KeyAuthenticator, sender_identity
from .zmq_common import LinkMonitor, ZmqOptions, configure, curve_dealer

log = logging.getLogger(__name__)

_MAX_PENDING_SESSIONS = 64
_MAX_CLOSED_SESSIONS = 1024


@dataclass(frozen=True)
class PeerAddress:
    """How to reach one peer and which key it must prove."""

    party: int
    url: str
    public_key: bytes


@dataclass
class ClientRequest:
    """A message from an authenticated client; ``route`` is where the reply goes."""

    route: bytes
    client: str
    frames: list


@dataclass
class Refusal:
    """A client message the endpoint refuses before the server sees it: ``why`` is "busy"
    (the client has too many requests waiting) or "server-key" (it arrived on a connection
    that proved the key of server ``identity``)."""

    why: str
    identity: str
    frames: list


RefuseHook = Callable[[Refusal], Sequence | None]


@dataclass
class PeerControl:
    """A server command from a peer (e.g. P0 announcing the next job)."""

    peer: int
    message: dict


@dataclass
class _Session:
    """One running session on this party: its inbox and flow counters per peer."""

    id: bytes
    epochs: dict[int, tuple[int, int]]
    inbox: dict[int, deque] = field(default_factory=dict)
    sent: dict[int, list[int]] = field(default_factory=dict)  # [bytes, messages]
    credit: dict[int, list[int]] = field(default_factory=dict)
    consumed: dict[int, list[int]] = field(default_factory=dict)
    reported: dict[int, list[int]] = field(default_factory=dict)


class ConnectError(SppError):
    """A party could not connect to (or authenticate with) a peer."""


class ZmqTransport(Transport):
    """A party's CURVE ZeroMQ endpoint: party links, sessions, and client requests."""

    def __init__(
        self,
        party: int,
        keys: KeyPair,
        bind_url: str,
        peers: Mapping[int, PeerAddress],
        clients: Mapping[bytes, str] | None = None,
        options: ZmqOptions | None = None,
        refuse: RefuseHook | None = None,
    ) -> None:
        if keys.secret is None:
            raise ValueError("a server needs its secret key")
        if set(peers) != {0, 1, 2} - {party}:
            raise ValueError(f"party {party} needs the addresses of both other parties")
        self.party = party
        self.options = options or ZmqOptions()
        identities = {peers[p].public_key: PARTY_NAMES[p] for p in peers}
        for key, name in (clients or {}).items():
            if key in identities:
                raise ValueError(f"client {name!r} uses the key of {identities[key]}")
            identities[key] = CLIENT_PREFIX + name
        self._peer_by_name = {PARTY_NAMES[p]: p for p in peers}
        self._refuse = refuse
        self._queued: dict[str, int] = {}  # client requests waiting in _events, per client
        self._zctx = zmq.Context()
        self._auth = KeyAuthenticator(self._zctx, identities, own_key=keys.public,
                                      own_name=PARTY_NAMES[party])
        self._auth.start()
        self._router = self._zctx.socket(zmq.ROUTER)
        configure(self._router, self.options)
        self._router.router_mandatory = 1
        self._router.curve_server = True
        self._router.curve_publickey = keys.public
        self._router.curve_secretkey = keys.secret
        self._router.zap_domain = ZAP_DOMAIN.encode()
        try:
            self._router.bind(bind_url)
        except zmq.ZMQError as exc:
            self.close()
            raise ConnectError(f"{PARTY_NAMES[party]} cannot listen on {bind_url}: {exc}") from None
        self.bind_url = bind_url
        self._dealers: dict[int, zmq.Socket] = {}
        self._links: dict[int, LinkMonitor] = {}
        self._peers = dict(peers)
        for p, addr in sorted(peers.items()):
            self._dealers[p], self._links[p] = curve_dealer(
                self._zctx, keys.public, keys.secret, addr.public_key, addr.url, self.options
            )
        self._poller = zmq.Poller()
        self._poller.register(self._router, zmq.POLLIN)
        self._monitor_of = {}
        for p, link in self._links.items():
            self._poller.register(link.socket, zmq.POLLIN)
            self._monitor_of[link.socket] = p
        self._hellos = {p: 0 for p in peers}
        self._hello_since_up = {p: False for p in peers}  # a restarted peer says hello again
        # sessions (each bound to the thread that began it) and their traffic, under _cv
        self._cv = threading.Condition()
        self._tls = threading.local()
        self._sessions: dict[bytes, _Session] = {}
        self._pending: OrderedDict[bytes, dict[int, deque]] = OrderedDict()
        self._closed: OrderedDict[bytes, None] = OrderedDict()
        self._aborts: dict[bytes, tuple[int, str, str]] = {}
        self._events: deque = deque()
        # other threads send through the I/O thread: one inproc PUSH each (pooled), one PULL
        self._io_thread = threading.get_ident()
        self._outbox_url = f"inproc://spp-outbox-{id(self)}"
        self._outbox_in = self._zctx.socket(zmq.PULL)
        self._outbox_in.rcvhwm = 0
        self._outbox_in.linger = 0
        self._outbox_in.bind(self._outbox_url)
        self._poller.register(self._outbox_in, zmq.POLLIN)
        self._outbox_pool: list[zmq.Socket] = []
        self._woken = False
        self._outboxes: list[zmq.Socket] = []

    # -- connection state -------------------------------------------------------------------
    def connected(self, peer: int) -> bool:
        """Both directions with ``peer`` are up: our handshake done and its hello received."""
        return self._links[peer].up and self._hello_since_up[peer]

    def peer_status(self) -> dict[str, str]:
        """A readable state per peer ("connected", "connecting", or why it was refused)."""
        if self._on_io_thread():
            self._pump(0)
        out = {}
        for p, link in self._links.items():
            if self.connected(p):
                out[PARTY_NAMES[p]] = "connected"
            elif link.refused:
                out[PARTY_NAMES[p]] = f"refused: {link.refused}"
            else:
                out[PARTY_NAMES[p]] = "connecting"
        return out

    def wait_connected(self, timeout: float) -> None:
        """Block until both peers are connected in both directions.

        Raises ConnectError naming the peer if it refuses our key, presents the wrong key, or
        does not come up within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while not all(self.connected(p) for p in self._links):
            for p, link in self._links.items():
                if link.refused and not link.up:
                    raise ConnectError(
                        f"{PARTY_NAMES[self.party]} cannot connect to {PARTY_NAMES[p]} at "
                        f"{link.url}: {link.refused}"
                    )
            left = deadline - time.monotonic()
            if left <= 0:
                missing = [PARTY_NAMES[p] for p in self._links if not self.connected(p)]
                raise ConnectError(
                    f"{PARTY_NAMES[self.party]}: no connection with {', '.join(missing)} within "
                    f"{timeout:g} s (not running, unreachable, or keys do not match)"
                )
            self._pump(min(left, 0.2))

    # -- sessions ------------------------------------------------------------------------------
    @property
    def session(self) -> bytes | None:
        """The calling thread's session."""
        current = self._current()
        return None if current is None else current.id

    def running_sessions(self) -> list[bytes]:
        """Every session now open on this party (any thread)."""
        with self._cv:
            return list(self._sessions)

    def begin_session(self, session: bytes) -> None:
        """Start routing messages of ``session`` to this thread's receives; both peers must be
        connected. One session per thread; sessions of other threads run alongside."""
        if self._current() is not None:
            raise RuntimeError("this thread already runs a session")
        if self._on_io_thread():
            self._pump(0)
        with self._cv:
            if session in self._closed or session in self._sessions:
                raise ValueError("this session id was already used")
            for p in self._links:
                if not self.connected(p):
                    raise PeerFailed("not connected", PARTY_NAMES[p])
            buffered = self._pending.pop(session, {})
            state = _Session(session, {p: self._epoch(p) for p in self._links})
            for p in self._links:
                state.inbox[p] = buffered.get(p, deque())
                state.sent[p], state.credit[p], state.consumed[p], state.reported[p] = [0, 0], [0, 0], [0, 0], [0, 0]
            self._sessions[session] = state
        self._tls.session = state

    def end_session(self) -> None:
        """Finish this thread's session; its late messages are dropped from now on."""
        state = self._current()
        if state is None:
            return
        self._tls.session = None
        with self._cv:
            self._sessions.pop(state.id, None)
            self._closed[state.id] = None
            while len(self._closed) > _MAX_CLOSED_SESSIONS:
                self._closed.popitem(last=False)
            self._aborts.pop(state.id, None)

    def abort_session(self, reason: str, session: bytes | None = None, origin: str | None = None) -> None:
        """Tell both peers this party gave up a session (default: this thread's).

        ``reason`` is shown to the peers and their clients: it must name the problem only.
        ``origin`` names the party at fault when it is not this one (e.g. a peer that died).
        """
        session = session if session is not None else self.session
        if session is None:
            return
        msg = {"ctl": "abort", "s": session, "reason": reason[:500],
               "origin": origin or PARTY_NAMES[self.party]}
        for p in self._links:
            if self._links[p].up:
                self._send_control(p, msg)

    def cancel_sessions(self, reason: str) -> None:
        """Make every running session fail at once on this party (e.g. the server stops); the
        threads running them tell the peers as they give up."""
        with self._cv:
            for sid in self._sessions:
                self._aborts.setdefault(sid, (self.party, reason, PARTY_NAMES[self.party]))
            self._cv.notify_all()

    def wake(self) -> None:
        """Make the I/O thread's pending ``next_event`` return now (from any thread)."""
        if self._on_io_thread():
            self._woken = True
        else:
            self._outbox().send_multipart([b"w", b""])

    def release_thread(self) -> None:
        """A worker thread is done with this endpoint: its outbox goes back to the pool."""
        sock = getattr(self._tls, "outbox", None)
        if sock is not None:
            self._tls.outbox = None
            with self._cv:
                self._outbox_pool.append(sock)

    # -- Transport interface ---------------------------------------------------------------------
    def send_frames(self, peer: int, frames: Sequence) -> None:
        state = self._current()
        if state is not None:
            io = self._on_io_thread()
            sent, credit = state.sent[peer], state.credit[peer]
            while True:
                with self._cv:
                    self._raise_if_broken(state)
                    if (sent[0] - credit[0] <= self.options.flow_window_bytes
                            and sent[1] - credit[1] < self.options.flow_window_messages):
                        sent[0] += _nbytes(frames)
                        sent[1] += 1
                        break
                    if not io:
                        self._cv.wait(0.5)  # the peer is alive (heartbeats) but has not caught up yet
                        continue
                self._pump(0.5)
        self._send_party(peer, frames)

    def recv_frames(self, peer: int, timeout: float) -> Sequence:
        state = self._current()
        if state is None:
            raise RuntimeError("recv_frames outside a session")
        io = self._on_io_thread()
        deadline = time.monotonic() + timeout
        while True:
            with self._cv:
                self._raise_if_broken(state)
                if state.inbox[peer]:
                    frames = state.inbox[peer].popleft()
                    done, told = state.consumed[peer], state.reported[peer]
                    done[0] += _nbytes(frames)
                    done[1] += 1
                    credit = None
                    if (done[0] - told[0] >= self.options.flow_window_bytes // 4
                            or done[1] - told[1] >= max(1, self.options.flow_window_messages // 4)):
                        state.reported[peer] = list(done)
                        credit = {"ctl": "credit", "s": state.id, "n": done[0], "m": done[1]}
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PeerTimeout(f"no message within {timeout:g} s", PARTY_NAMES[peer])
                if not io:
                    self._cv.wait(min(left, 0.5))
                    continue
            self._pump(left)
        if credit is not None:
            self._send_control(peer, credit)
        return frames

    # -- server commands and clients ---------------------------------------------------------
    def send_control(self, peer: int, message: dict) -> None:
        """Send a server command (a msgpack map, must not use the key ``ctl``) to ``peer``."""
        if "ctl" in message:
            raise ValueError("'ctl' is reserved")
        self._send_control(peer, {"ctl": "cmd", "body": message})

    def next_event(self, timeout: float | None) -> ClientRequest | PeerControl | None:
        """The next client request or peer command, or None after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._events:
            left = None if deadline is None else deadline - time.monotonic()
            if self._woken or left is not None and left <= 0:
                self._woken = False
                return None
            self._pump(1.0 if left is None else min(left, 1.0))
        event = self._events.popleft()
        if isinstance(event, ClientRequest):
            self._queued[event.client] -= 1
            if not self._queued[event.client]:
                del self._queued[event.client]
        return event

    def reply(self, route: bytes, frames: Sequence) -> bool:
        """Send frames to a client; False (logged) if it has gone away (from another thread:
        True once handed to the I/O thread)."""
        if not self._on_io_thread():
            self._outbox().send_multipart([b"r", route, *frames], copy=False)
            return True
        try:
            self._router.send_multipart([route, *frames], copy=False)
            return True
        except zmq.ZMQError as exc:
            log.warning("could not reply to a client: %s", exc)
            return False

    def close(self) -> None:
        for link in getattr(self, "_links", {}).values():
            link.close()
        for s in getattr(self, "_dealers", {}).values():
            s.close()
        for s in getattr(self, "_outboxes", []):
            s.close(linger=0)
        if hasattr(self, "_outbox_in"):
            self._outbox_in.close()
        if hasattr(self, "_router"):
            self._router.close()
        if hasattr(self, "_auth"):
            self._auth.stop()
        self._zctx.term()

    # -- internals ---------------------------------------------------------------------------------
    def _epoch(self, p: int) -> tuple[int, int]:
        return (self._links[p].epoch, self._hellos[p])

    def _current(self) -> _Session | None:
        return getattr(self._tls, "session", None)

    def _on_io_thread(self) -> bool:
        return threading.get_ident() == self._io_thread

    def _outbox(self) -> zmq.Socket:
        """This (non-I/O) thread's pipe to the I/O thread."""
        sock = getattr(self._tls, "outbox", None)
        if sock is None:
            with self._cv:
                sock = self._outbox_pool.pop() if self._outbox_pool else None
                if sock is None:
                    sock = self._zctx.socket(zmq.PUSH)
                    sock.sndhwm = 0
                    sock.connect(self._outbox_url)
                    self._outboxes.append(sock)
            self._tls.outbox = sock
        return sock

    def _send_party(self, peer: int, frames: Sequence) -> None:
        if self._on_io_thread():
            self._dealers[peer].send_multipart(frames, copy=False)
        else:
            self._outbox().send_multipart([b"p", bytes([peer]), *frames], copy=False)

    def _drain_outbox(self) -> None:
        """Send what other threads handed over (I/O thread)."""
        while True:
            try:
                frames = self._outbox_in.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            kind, target, rest = frames[0].bytes, frames[1].bytes, frames[2:]
            if kind == b"p":
                self._dealers[target[0]].send_multipart(rest, copy=False)
            elif kind == b"c":
                self._dealers[target[0]].send(rest[0], copy=False)
            elif kind == b"r":
                self.reply(target, rest)
            else:
                self._woken = True

    def _raise_if_broken(self, state: _Session) -> None:
        for p, link in self._links.items():
            if not link.up or self._epoch(p) != state.epochs[p]:
                raise PeerFailed("connection lost (process stopped or network failed)", PARTY_NAMES[p])
        abort = self._aborts.get(state.id)
        if abort is not None:
            p, reason, origin = abort
            sender = PARTY_NAMES[p]
            if origin == sender or origin not in PARTY_NAMES:
                raise PeerFailed(f"gave up the run: {reason}", sender)
            raise PeerFailed(f"{reason} (reported by {sender})", origin)

    def _send_control(self, peer: int, msg: dict) -> None:
        packed = msgpack.packb(msg, use_bin_type=True)
        if self._on_io_thread():
            self._dealers[peer].send(packed)
        else:
            self._outbox().send_multipart([b"c", bytes([peer]), packed])

    def _pump(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for traffic, then sort everything that arrived (only the
        I/O thread pumps; the sessions of other threads are woken when their traffic is in)."""
        if not self._on_io_thread():
            raise RuntimeError("only the thread that created the endpoint may pump it")
        ready = dict(self._poller.poll(max(0, int(timeout_s * 1000))))
        for sock in sorted(ready, key=lambda s: s is self._router):  # link events first
            if sock is self._router:
                self._drain_router()
            elif sock is self._outbox_in:
                self._drain_outbox()
            else:
                p = self._monitor_of[sock]
                for ev in self._links[p].drain():
                    if ev == "up":
                        self._send_control(p, {"ctl": "hello"})
                        log.info("%s: link to %s is up", PARTY_NAMES[self.party], PARTY_NAMES[p])
                    elif ev == "down":
                        self._hello_since_up[p] = False
                        log.warning("%s: lost the connection to %s", PARTY_NAMES[self.party], PARTY_NAMES[p])
                    elif ev == "refused":
                        log.error("%s: %s at %s: %s", PARTY_NAMES[self.party], PARTY_NAMES[p],
                                  self._links[p].url, self._links[p].refused)
                with self._cv:
                    self._cv.notify_all()  # sessions check their links

    def _drain_router(self) -> None:
        while True:
            try:
                frames = self._router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if len(frames) < 2:
                continue
            who = sender_identity(frames[1])
            if who is None:
                continue
            if who.startswith(CLIENT_PREFIX):
                client = who[len(CLIENT_PREFIX):]
                if self._queued.get(client, 0) >= self.options.max_pending_per_client:
                    self._refuse_now(Refusal("busy", client, frames[1:]), frames[0].bytes)
                    continue
                self._queued[client] = self._queued.get(client, 0) + 1
                self._events.append(ClientRequest(frames[0].bytes, client, frames[1:]))
            elif who in self._peer_by_name:
                header = _peek(frames[1])
                if header is not None and "kind" in header and "ctl" not in header and "s" not in header:
                    # a client request over a server's key: never server traffic
                    log.warning("%s: a client request arrived on a connection that proved %s's key",
                                PARTY_NAMES[self.party], who)
                    self._refuse_now(Refusal("server-key", who, frames[1:]), frames[0].bytes)
                    continue
                with self._cv:
                    self._from_peer(self._peer_by_name[who], frames[1:], header)
                    self._cv.notify_all()

    def _refuse_now(self, refusal: Refusal, route: bytes) -> None:
        reply = self._refuse(refusal) if self._refuse is not None else None
        if reply is not None:
            self.reply(route, reply)

    def _from_peer(self, p: int, frames: list, header: dict | None) -> None:
        """Route one message from peer ``p`` (under ``_cv``)."""
        if header is not None and "ctl" in header and len(frames) == 1:
            self._control(p, header)
            return
        session = header.get("s") if header is not None else None
        if session in self._sessions:
            self._sessions[session].inbox[p].append(frames)
        elif session is None or not isinstance(session, bytes):
            if len(self._sessions) == 1:  # the one run it can belong to: it raises there
                next(iter(self._sessions.values())).inbox[p].append(frames)
            else:
                log.warning("dropped a malformed message from %s", PARTY_NAMES[p])
        elif session in self._closed:
            pass  # late traffic of a finished (usually failed) run
        else:
            slot = self._pending.setdefault(session, {})
            slot.setdefault(p, deque()).append(frames)
            while len(self._pending) > _MAX_PENDING_SESSIONS:
                self._pending.popitem(last=False)

    def _control(self, p: int, msg: dict) -> None:
        kind = msg.get("ctl")
        if kind == "hello":
            self._hellos[p] += 1
            self._hello_since_up[p] = True
        elif kind == "abort" and isinstance(msg.get("s"), bytes):
            if msg["s"] not in self._closed:
                reason = str(msg.get("reason", "no reason given"))
                self._aborts.setdefault(msg["s"], (p, reason, str(msg.get("origin"))))
                while len(self._aborts) > _MAX_CLOSED_SESSIONS:
                    self._aborts.pop(next(iter(self._aborts)))
        elif kind == "credit":
            state = self._sessions.get(msg.get("s"))  # type: ignore[arg-type]
            if state is not None and isinstance(msg.get("n"), int) and isinstance(msg.get("m"), int):
                credit = state.credit[p]
                credit[0], credit[1] = max(credit[0], msg["n"]), max(credit[1], msg["m"])
        elif kind == "cmd" and isinstance(msg.get("body"), dict):
            self._events.append(PeerControl(p, msg["body"]))
        else:
            log.warning("ignored an unknown control message from %s", PARTY_NAMES[p])


def _nbytes(frames: Sequence) -> int:
    """Bytes in a message's frames (zmq.Frame, bytes or arrays)."""
    return sum(memoryview(f).nbytes for f in frames)


_MAX_PEEK_BYTES = 1 << 20  # server headers and commands are far smaller


def _peek(frame: Any) -> dict | None:
    """The msgpack map in a header frame, or None if it is not one (or is too long)."""
    buf = frame.buffer if hasattr(frame, "buffer") else frame
    size = memoryview(buf).nbytes
    if size > _MAX_PEEK_BYTES:
        return None
    try:
        obj = msgpack.unpackb(buf, raw=False, max_str_len=size, max_bin_len=size, max_array_len=size,
                              max_map_len=size, max_ext_len=0)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    return obj if isinstance(obj, dict) else None
