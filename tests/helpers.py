"""Test helpers: sharing plaintext inputs inside a program, recording a party's view."""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np

from spp_runtime.tensor import share_input
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
    """Wraps a transport and keeps every array a party receives (per sending peer) and,
    as messages, what it sends (per receiving peer)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.party = inner.party
        self.received: dict[int, list[np.ndarray]] = defaultdict(list)
        self.sent_messages: dict[int, list[list[np.ndarray]]] = defaultdict(list)
        self.received_messages: dict[int, list[list[np.ndarray]]] = defaultdict(list)
        self._lock = threading.Lock()

    def send_frames(self, peer, frames):
        msg = decode(frames, peer=str(peer), session=_session_of(frames), max_bytes=1 << 40)
        with self._lock:
            self.sent_messages[peer].append([a.copy() for a in msg.arrays])
        self.inner.send_frames(peer, frames)

    def recv_frames(self, peer, timeout):
        frames = self.inner.recv_frames(peer, timeout)
        msg = decode(frames, peer=str(peer), session=_session_of(frames), max_bytes=1 << 40)
        with self._lock:
            self.received[peer].extend(a.copy() for a in msg.arrays)
            self.received_messages[peer].append([a.copy() for a in msg.arrays])
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


def private_bits(ctx, bits, owner):
    """Bits known to primary ``owner`` as a BitTensor (the other primary holds zeros)."""
    from spp_runtime.protocols.boolean import BitTensor

    return BitTensor.private(ctx, bits if ctx.party == owner else None, owner, np.shape(bits))


def ks_uniform(u: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance of samples in [0, 1) from the uniform distribution.

    Under uniformity sqrt(n) * D exceeds 1.95 with probability about 1e-3.
    """
    u = np.sort(np.asarray(u, dtype=np.float64).reshape(-1))
    n = u.size
    grid = np.arange(1, n + 1) / n
    return float(max(np.max(grid - u), np.max(u - (grid - 1 / n))))


def ring_to_unit(x: np.ndarray) -> np.ndarray:
    """uint64 ring elements mapped to [0, 1) (uniform elements give uniform reals)."""
    return (np.asarray(x, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) / 2.0**53


def chi2_uniform(values: np.ndarray, k: int) -> float:
    """Chi-square statistic of integer samples in [0, k) against the uniform distribution,
    standardised: (chi2 - (k-1)) / sqrt(2 (k-1)), about N(0, 1) under uniformity."""
    counts = np.bincount(np.asarray(values, dtype=np.int64).reshape(-1), minlength=k)
    if counts.size > k:
        return float("inf")
    expected = counts.sum() / k
    chi2 = float(np.sum((counts - expected) ** 2) / expected)
    return (chi2 - (k - 1)) / np.sqrt(2 * (k - 1))
