"""Test helpers: sharing plaintext inputs inside a program, recording a party's view."""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np

from spp_runtime.protocols.basic import share_input
from spp_runtime.transport.base import Transport
from spp_runtime.transport.wire import decode

ULP = 2.0**-16


def inputs(ctx, *arrays, encoded=False):
    """Secret-share test arrays (P0 is the owner); returns SharedTensors in order."""
    out = [
        share_input(ctx, a if ctx.party == 0 else None, 0, np.shape(a), encoded=encoded)
        for a in arrays
    ]
    return out if len(out) != 1 else out[0]


def edge_values(frac_bits: int = 16) -> np.ndarray:
    """0, +-1 ulp, the extremes of the representable range, and +-1 ulp around powers of 2."""
    ulp = 2.0**-frac_bits
    top = 2.0 ** (63 - frac_bits)
    powers = 2.0 ** np.arange(-frac_bits, 63 - frac_bits)
    near = np.concatenate([powers - ulp, powers, powers + ulp])
    near = near[(near > 0) & (near < top)]
    # top - 1 is the largest float64 below the range's end that encodes exactly
    vals = np.concatenate([[0.0, ulp, -ulp, top - 1.0, -top], near, -near])
    return np.unique(vals)


class RecordingTransport(Transport):
    """Wraps a transport and keeps every array a party receives, per sending peer."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.party = inner.party
        self.received: dict[int, list[np.ndarray]] = defaultdict(list)
        self._lock = threading.Lock()

    def send_frames(self, peer, frames):
        self.inner.send_frames(peer, frames)

    def recv_frames(self, peer, timeout):
        frames = self.inner.recv_frames(peer, timeout)
        msg = decode(frames, peer=str(peer), session=_session_of(frames), max_bytes=1 << 40)
        with self._lock:
            self.received[peer].extend(a.copy() for a in msg.arrays)
        return frames


def _session_of(frames):
    import msgpack

    return msgpack.unpackb(bytes(frames[0]), raw=False)["s"]


def recorder():
    """A wrap_transport hook for run_local plus the list of recorders it created."""
    made: list[RecordingTransport] = []

    def wrap(t: Transport) -> Transport:
        r = RecordingTransport(t)
        made.append(r)
        return r

    return wrap, made
