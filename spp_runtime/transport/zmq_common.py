"""ZeroMQ socket settings and connection monitoring shared by the servers and the client.

Every socket: CURVE, no send high-water mark (``0``: nothing is ever dropped and a send never
blocks on a slow peer), ZMTP heartbeats so a silent peer is declared dead after
``heartbeat_timeout_s``, and a bounded frame size on receive (``MAXMSGSIZE``: a larger frame,
or one merely declared larger, closes that connection before anything is allocated, also
during the handshake). A server's socket also bounds the messages it queues per connection
(``rcv_hwm``): a client that floods it is slowed down by TCP, never buffered without limit.
The servers' own traffic never comes near that bound, since their flow control keeps at most
``flow_window_messages`` unconsumed messages in flight per link.

:class:`LinkMonitor` follows one connecting socket's monitor events. A connect-side socket
talks to exactly one remote, so its events say which party (or server) is up, gone, or
refused our key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import zmq
from zmq.utils.monitor import recv_monitor_message

_MONITORED = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_DISCONNECTED
)


@dataclass(frozen=True)
class ZmqOptions:
    """Socket-level settings (from the cluster config)."""

    heartbeat_s: float = 0.5
    heartbeat_timeout_s: float = 2.0
    max_message_bytes: int = 256 << 20
    linger_s: float = 2.0
    # Flow control: a party stops sending to a peer while more than this many bytes (or
    # messages) it sent in the current run are not yet consumed by that peer (bounds the
    # helper's lead, and keeps party traffic far below ``rcv_hwm``).
    flow_window_bytes: int = 128 << 20
    flow_window_messages: int = 256
    # Messages a receiving socket queues per connection (0: unbounded; clients use 0, their
    # only peers are the servers they asked).
    rcv_hwm: int = 0
    # Requests one client may have waiting at a server; more are refused at once.
    max_pending_per_client: int = 16


# CURVE wraps each frame in a MESSAGE command (name, nonce, flags, MAC): the limit on what
# arrives must leave room for that around a frame of exactly max_message_bytes.
FRAME_SLACK = 1024


def configure(sock: zmq.Socket, opts: ZmqOptions) -> None:
    """Options every socket gets: no drops, heartbeats, message size bound, linger."""
    sock.sndhwm = 0
    sock.rcvhwm = opts.rcv_hwm
    sock.linger = int(opts.linger_s * 1000)
    sock.setsockopt(zmq.HEARTBEAT_IVL, int(opts.heartbeat_s * 1000))
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(opts.heartbeat_timeout_s * 1000))
    sock.setsockopt(zmq.HEARTBEAT_TTL, int(opts.heartbeat_timeout_s * 1000))
    sock.setsockopt(zmq.MAXMSGSIZE, int(opts.max_message_bytes) + FRAME_SLACK)


def curve_dealer(
    zctx: zmq.Context, public: bytes, secret: bytes, server_key: bytes, url: str, opts: ZmqOptions
) -> tuple[zmq.Socket, LinkMonitor]:
    """A DEALER that authenticates to the server holding ``server_key`` at ``url``."""
    sock = zctx.socket(zmq.DEALER)
    configure(sock, opts)
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.curve_serverkey = server_key
    sock.reconnect_ivl = 100
    sock.reconnect_ivl_max = 1000
    monitor = LinkMonitor(sock, url)
    sock.connect(url)
    return sock, monitor


class LinkMonitor:
    """State of one outgoing connection, from its socket's monitor events.

    ``epoch`` counts connections lost; a message in flight when a connection drops is lost
    with it, so callers compare epochs to detect a broken run. ``refused`` holds a readable
    reason once a handshake failed (wrong key on either side). While not up, ``tcp_refused``
    says the last TCP connect was refused (nothing listens there) and ``tcp_since`` when a
    TCP connection came up that has not finished its handshake (the process is frozen or
    overloaded): :meth:`why_not_up` turns them into words.
    """

    def __init__(self, sock: zmq.Socket, url: str) -> None:
        self.url = url
        self.socket = sock.get_monitor_socket(_MONITORED)
        self._owner = sock
        self.up = False
        self.ever_up = False
        self.epoch = 0
        self.refused: str | None = None
        self.tcp_refused = False
        self.tcp_since: float | None = None

    def why_not_up(self) -> str:
        """Why this link is not up, as far as its events tell."""
        if self.refused:
            return self.refused
        if self.tcp_since is not None:
            return (f"it accepted a TCP connection {time.monotonic() - self.tcp_since:.1f} s ago but did "
                    "not complete the handshake (server frozen, stopped or overloaded)")
        if self.tcp_refused:
            return "connection refused (no server is listening there: not running?)"
        if self.ever_up:
            return "the connection was lost (server killed, frozen or unreachable)"
        return "no answer to the TCP connection (host unreachable or port filtered?)"

    def handle(self) -> str | None:
        """Process one pending event; returns "up", "down", "refused" or None."""
        msg = recv_monitor_message(self.socket, flags=zmq.NOBLOCK)
        event = msg["event"]
        if event == zmq.EVENT_CONNECTED:
            self.tcp_refused, self.tcp_since = False, time.monotonic()
            return None
        if event == zmq.EVENT_CONNECT_RETRIED:
            self.tcp_refused, self.tcp_since = True, None
            return None
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.up = self.ever_up = True
            self.refused = None
            self.tcp_refused, self.tcp_since = False, None
            return "up"
        if event == zmq.EVENT_DISCONNECTED:
            self.tcp_since = None
            was_up, self.up = self.up, False
            if was_up:
                self.epoch += 1
                return "down"
            return None
        self.tcp_since = None
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            reason = "it refused our key (our public key is not in its config)"
        else:
            reason = "the CURVE handshake failed (its key is not the public key in our config)"
        first, self.refused = self.refused != reason, reason
        return "refused" if first else None  # reconnect attempts repeat it: report once

    def drain(self) -> list[str]:
        """Process every pending event."""
        out = []
        while self.socket.poll(0):
            ev = self.handle()
            if ev:
                out.append(ev)
        return out

    def close(self) -> None:
        try:
            self._owner.disable_monitor()
        except zmq.ZMQError:
            pass
        self.socket.close(linger=0)
