"""ZAP authentication for a server socket: accept only configured CURVE keys, name the sender.

The authenticator runs pyzmq's ZAP handler thread with a callback that accepts exactly the
public keys it was given, and reports the identity bound to the key (``"p1"``,
``"client:analyst"``) as the connection's ZMTP ``User-Id``. Every message received on the
socket carries that property (``frame.get("User-Id")``), so a party is known by the key it
proved possession of, never by anything it claims in a message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

ZAP_DOMAIN = "spp"
CLIENT_PREFIX = "client:"

log = logging.getLogger(__name__)


class KeyAuthenticator(ThreadAuthenticator):
    """ZAP handler accepting the keys of ``identities`` (z85 public key -> identity)."""

    def __init__(self, zctx: zmq.Context, identities: Mapping[bytes, str], *,
                 own_key: bytes | None = None, own_name: str = "this server") -> None:
        super().__init__(zctx, log=logging.getLogger(__name__ + ".zap"))
        self._identities = dict(identities)
        self._refused: set[bytes] = set()
        self._own_key = own_key
        self._own_name = own_name

    def start(self) -> None:
        super().start()
        self.configure_curve_callback(ZAP_DOMAIN, self)

    # credentials provider protocol of pyzmq: callback(domain, z85 key) -> bool
    def callback(self, domain: str, key: bytes) -> bool:
        known = key in self._identities
        if not known and key not in self._refused:
            if len(self._refused) < 1000:  # log each key once (clients retry every second)
                self._refused.add(key)
            if key == self._own_key:
                log.warning("refused a connection that proved %s's own key (a client using this "
                            "server's key pair?)", self._own_name)
            else:
                log.warning("refused a connection with an unknown CURVE key %s", key.decode())
        return known

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self._identities[z85.encode(client_public_key)]


def sender_identity(frame: zmq.Frame) -> str | None:
    """The authenticated identity of the connection a received frame came in on."""
    try:
        value = frame.get("User-Id")
    except zmq.ZMQError:
        return None
    return value if isinstance(value, str) else None
