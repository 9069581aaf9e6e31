"""Three OS processes over ZeroMQ, every socket CURVE-encrypted and authenticated.

Topology: each party binds one ROUTER socket (CURVE server) and connects one DEALER (CURVE
client, identity = its party name) to each other party's ROUTER. A party sends to a peer on
its DEALER and receives everything on its ROUTER; clients (data owners, job submitters)
connect DEALERs to the ROUTER too.

Authentication: a ZAP handler accepts only the public keys in the configuration (the other
parties' and the known clients'). The key a message was authenticated with arrives as the
frame's ``User-Id``; a message whose claimed party identity does not match the key is
dropped and logged, so no party or client can impersonate another.

Frames on the wire: ``[kind, *payload]`` where kind is ``b"P"`` (protocol message: the
engine's wire format, see :mod:`.wire`) or ``b"C"`` (control: one msgpack map, optionally
followed by raw array frames). Arrays travel as separate zero-copy frames.

Liveness: ZMTP heartbeats (1 s) and socket monitors; when a connection to a peer drops
(process killed, network gone) the peer is marked failed and any receive from it raises
:class:`PeerFailed` naming it at once, instead of waiting for the timeout.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

import msgpack
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from .. import PARTY_NAMES
from ..errors import PeerFailed, PeerTimeout, ProtocolError
from .base import Transport

log = logging.getLogger(__name__)

PROTOCOL = b"P"
CONTROL = b"C"
HEARTBEAT_MS = 1000
HEARTBEAT_TIMEOUT_MS = 4000


@dataclass
class KeyPair:
    public: bytes  # z85
    secret: bytes  # z85

    @classmethod
    def generate(cls) -> "KeyPair":
        public, secret = zmq.curve_keypair()
        return cls(public, secret)

    @classmethod
    def load(cls, secret_file: str) -> "KeyPair":
        public, secret = zmq.auth.load_certificate(secret_file)
        if secret is None:
            raise ValueError(f"{secret_file} holds no secret key")
        return cls(public, secret)


@dataclass
class Endpoint:
    """Where a party listens (``bind``) and where others reach it (``host``)."""

    host: str
    port: int
    bind: str = "0.0.0.0"

    @property
    def connect_url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    @property
    def bind_url(self) -> str:
        return f"tcp://{self.bind}:{self.port}"


class _Allow:
    """ZAP credentials provider: accept exactly the configured public keys."""

    def __init__(self, allowed: dict[bytes, str]) -> None:
        self.allowed = allowed

    def callback(self, domain: str, key: bytes) -> bool:
        ok = key in self.allowed  # pyzmq passes the z85-encoded client key
        if not ok:
            log.warning("rejected a connection with an unknown public key")
        return ok


@dataclass
class ControlMessage:
    sender: str  # party name or client name
    route: bytes  # routing id to reply to
    body: dict
    arrays: list = field(default_factory=list)


class ZmqTransport(Transport):
    """One party's sockets. Not thread-safe: use it from the party's protocol thread."""

    def __init__(
        self,
        party: int,
        endpoints: Sequence[Endpoint],
        keys: KeyPair,
        party_publics: Sequence[bytes],
        client_publics: dict[str, bytes] | None = None,
        *,
        max_message_bytes: int = 1 << 31,
    ) -> None:
        self.party = party
        self.name = PARTY_NAMES[party]
        self._zctx = zmq.Context()
        self._endpoints = list(endpoints)
        self._keys = keys
        self._party_publics = list(party_publics)
        self._max = max_message_bytes
        allowed = {pk: PARTY_NAMES[i] for i, pk in enumerate(party_publics) if i != party}
        for name, pk in (client_publics or {}).items():
            allowed[pk] = name
        self._key_owner = allowed
        self._auth = ThreadAuthenticator(self._zctx)
        self._auth.start()
        self._auth.configure_curve_callback(domain="*", credentials_provider=_Allow(allowed))
        self._router = self._zctx.socket(zmq.ROUTER)
        self._secure(self._router, server=True)
        self._router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._router.bind(self._endpoints[party].bind_url)
        self._dealers: dict[int, zmq.Socket] = {}
        self._monitors: dict[zmq.Socket, int] = {}
        self._proto: dict[int, deque] = {p: deque() for p in range(3) if p != party}
        self._control: deque[ControlMessage] = deque()
        self._failed: dict[int, str] = {}
        self._aborted: dict[int, str] = {}
        self._handshaken: set[int] = set()
        self._hello_from: set[int] = set()
        self._barriers: dict[int, int] = {p: 0 for p in range(3) if p != party}
        self._barrier_count = 0
        self.session: bytes | None = None
        self._finished: set[bytes] = set()
        self._poller = zmq.Poller()
        self._poller.register(self._router, zmq.POLLIN)

    # -- set-up ---------------------------------------------------------------------------
    def _secure(self, sock: zmq.Socket, *, server: bool, server_key: bytes | None = None) -> None:
        sock.curve_secretkey = self._keys.secret
        sock.curve_publickey = self._keys.public
        if server:
            sock.curve_server = True
        else:
            sock.curve_serverkey = server_key
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)
        sock.setsockopt(zmq.MAXMSGSIZE, self._max)

    def connect(self) -> None:
        """Connect a DEALER to each other party (returns at once; see :meth:`wait_ready`)."""
        for peer in range(3):
            if peer == self.party:
                continue
            d = self._zctx.socket(zmq.DEALER)
            d.setsockopt(zmq.IDENTITY, self.name.encode())
            self._secure(d, server=False, server_key=self._party_publics[peer])
            mon = d.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            )
            self._poller.register(mon, zmq.POLLIN)
            self._monitors[mon] = peer
            d.connect(self._endpoints[peer].connect_url)
            self._dealers[peer] = d

    def wait_ready(self, timeout: float) -> None:
        """Block until both peers are connected and have greeted us; errors name the peer."""
        deadline = time.monotonic() + timeout
        greeted: set[int] = set()
        while True:
            for peer in self._handshaken - greeted:
                self.send_control_to_party(peer, {"type": "hello", "from": self.name})
                greeted.add(peer)
            if len(self._hello_from) == 2 and len(greeted) == 2:
                return
            for peer, why in self._failed.items():
                raise PeerFailed(f"could not connect: {why}", PARTY_NAMES[peer])
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sorted(PARTY_NAMES[p] for p in self._proto if p not in self._hello_from)
                raise PeerTimeout(f"no connection within {timeout:g} s", ", ".join(missing))
            self._pump(min(left, 0.2))

    # -- sending ----------------------------------------------------------------------------
    def send_frames(self, peer: int, frames: Sequence) -> None:
        self._check_alive(peer)
        self._dealers[peer].send_multipart([PROTOCOL, *frames], copy=False)

    def send_control_to_party(self, peer: int, body: dict, arrays: Sequence = ()) -> None:
        self._dealers[peer].send_multipart([CONTROL, msgpack.packb(body, use_bin_type=True), *arrays], copy=False)

    def reply(self, route: bytes, body: dict, arrays: Sequence = ()) -> None:
        """Send a control message to a client (or party) through the ROUTER."""
        try:
            self._router.send_multipart([route, CONTROL, msgpack.packb(body, use_bin_type=True), *arrays], copy=False)
        except zmq.ZMQError as exc:  # the client went away
            log.warning("could not reply to a client: %s", exc)

    # -- receiving --------------------------------------------------------------------------
    def recv_frames(self, peer: int, timeout: float) -> Sequence:
        deadline = time.monotonic() + timeout
        while True:
            found = self._take(peer)
            if found is not None:
                return found
            self._check_alive(peer)
            left = deadline - time.monotonic()
            if left <= 0:
                raise PeerTimeout(f"no message within {timeout:g} s", PARTY_NAMES[peer])
            self._pump(min(left, 0.5))

    def _take(self, peer: int) -> Sequence | None:
        """The first buffered message of the current session from ``peer``; messages of
        finished sessions are dropped, those of later sessions stay buffered."""
        q = self._proto[peer]
        for i, frames in enumerate(q):
            sess = _session_of(frames)
            if self.session is None or sess == self.session:
                del q[i]
                return frames
        if self._finished:
            kept = [f for f in q if _session_of(f) not in self._finished]
            q.clear()
            q.extend(kept)
        return None

    def begin_session(self, session: bytes) -> None:
        """Start a job: receives return only this session's protocol messages."""
        self.session = session
        self._aborted.clear()

    def end_session(self) -> None:
        """The current job is over: its late messages will be dropped."""
        if self.session is not None:
            self._finished.add(self.session)
        self.session = None
        self._aborted.clear()

    def abort_session(self, reason: str) -> None:
        """Tell both peers this party gave up on the current job, so they stop waiting."""
        for peer in self._dealers:
            try:
                self.send_control_to_party(peer, {"type": "abort", "job": self.session, "error": reason})
            except zmq.ZMQError:
                pass

    def barrier(self, timeout: float) -> None:
        """Wait until both peers reach the same barrier: everything sent before it has been
        delivered (messages are ordered per link), so closing afterwards loses nothing."""
        self._barrier_count += 1
        for peer in self._dealers:
            self.send_control_to_party(peer, {"type": "barrier", "n": self._barrier_count})
        deadline = time.monotonic() + timeout
        while any(n < self._barrier_count for n in self._barriers.values()):
            for peer, n in self._barriers.items():
                if n < self._barrier_count:
                    self._check_alive(peer)
            left = deadline - time.monotonic()
            if left <= 0:
                waiting = [PARTY_NAMES[p] for p, n in self._barriers.items() if n < self._barrier_count]
                raise PeerTimeout(f"barrier not reached within {timeout:g} s", ", ".join(waiting))
            self._pump(min(left, 0.2))

    def recv_control(self, timeout: float) -> ControlMessage | None:
        """The next control message (from a party or a client), or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self._control:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._pump(min(left, 0.5))
        return self._control.popleft()

    def drop_protocol_messages(self) -> None:
        """Forget buffered protocol messages (between jobs, after a failure)."""
        for q in self._proto.values():
            q.clear()

    def _check_alive(self, peer: int) -> None:
        if peer in self._failed:
            raise PeerFailed(self._failed[peer], PARTY_NAMES[peer])
        if peer in self._aborted:
            raise PeerFailed(f"aborted the job: {self._aborted[peer]}", PARTY_NAMES[peer])

    def mark_failed(self, peer: int, why: str) -> None:
        self._failed.setdefault(peer, why)

    def clear_failure(self, peer: int) -> None:
        self._failed.pop(peer, None)

    def _pump(self, timeout: float) -> None:
        events = dict(self._poller.poll(int(timeout * 1000)))
        for mon, peer in list(self._monitors.items()):
            if mon in events:
                self._on_monitor(mon, peer)
        if self._router in events:
            while True:
                try:
                    frames = self._router.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self._on_message(frames)

    def _on_monitor(self, mon: zmq.Socket, peer: int) -> None:
        while True:
            try:
                evt = recv_monitor_message(mon, zmq.NOBLOCK)
            except zmq.Again:
                return
            kind = evt["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._handshaken.add(peer)
                self.clear_failure(peer)
            elif kind == zmq.EVENT_DISCONNECTED:
                if peer in self._handshaken:
                    self.mark_failed(peer, "connection lost (peer process stopped or unreachable)")
            elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self.mark_failed(peer, "authentication failed: the peer refused our key or we refused its key")
            else:
                self.mark_failed(peer, "secure handshake failed (this party does not have the peer's public key, or the peer refused ours)")

    def _on_message(self, frames: list) -> None:
        if len(frames) < 3:
            log.warning("dropped a malformed message (%d frames)", len(frames))
            return
        route = bytes(frames[0].bytes)
        user = frames[1].get("User-Id")
        owner = self._key_owner.get(user.encode() if isinstance(user, str) else user)
        kind = frames[1].bytes
        if owner is None:
            log.warning("dropped a message authenticated with an unknown key")
            return
        if owner in PARTY_NAMES:
            peer = PARTY_NAMES.index(owner)
            if route != owner.encode():
                log.warning("dropped a message from %s claiming to be %r", owner, route[:16])
                return
        else:
            peer = None
        body_frames = frames[2:]
        if kind == PROTOCOL and peer is not None:
            self._proto[peer].append(body_frames)
        elif kind == CONTROL:
            try:
                body = msgpack.unpackb(body_frames[0].bytes, raw=False)
                if not isinstance(body, dict):
                    raise ValueError("not a map")
            except Exception:  # noqa: BLE001 - any decoding failure is a bad message
                log.warning("dropped a malformed control message from %s", owner)
                return
            if peer is not None and body.get("type") == "hello":
                self._hello_from.add(peer)
                return
            if peer is not None and body.get("type") == "barrier":
                self._barriers[peer] = max(self._barriers[peer], int(body.get("n", 0)))
                return
            if peer is not None and body.get("type") == "abort":
                if self.session is not None and body.get("job") == self.session:
                    self._aborted[peer] = str(body.get("error", "unknown reason"))[:500]
                return
            self._control.append(ControlMessage(owner, route, body, list(body_frames[1:])))
        else:
            log.warning("dropped a message of unknown kind from %s", owner)

    def close(self) -> None:
        for mon in self._monitors:
            mon.close(0)
        for d in self._dealers.values():
            try:
                d.disable_monitor()
            except zmq.ZMQError:
                pass
            d.close(0)
        self._router.close(0)
        self._auth.stop()
        self._zctx.term()


def frame_bytes(frame: Any) -> bytes:
    return frame.bytes if hasattr(frame, "bytes") else bytes(frame)


def _session_of(frames: Sequence) -> bytes | None:
    """The session id in a protocol message's header (None if unreadable)."""
    try:
        header = msgpack.unpackb(frame_bytes(frames[0]), raw=False)
        return header.get("s") if isinstance(header, dict) else None
    except Exception:  # noqa: BLE001 - malformed headers are rejected later by wire.decode
        return None


__all__ = ["ZmqTransport", "KeyPair", "Endpoint", "ControlMessage", "ProtocolError"]
