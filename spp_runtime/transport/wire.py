"""The wire format of a party-to-party message.

A message is a list of frames:

* frame 0, the header: a msgpack map
  ``{"v": version, "s": session, "q": sequence number, "r": round, "a": [[dtype, shape], ...]}``;
* frames 1..n: the raw C-ordered buffers of the n arrays, in header order (zero-copy).

``r`` is the sender's Lamport round for the message (0 for offline, dealer traffic); the
receiving context uses it to count rounds. :func:`decode` checks every field and the size of
every buffer and raises :class:`ProtocolError` naming the peer on anything unexpected.

``wire_bytes`` models the bytes a frame costs inside a CURVE-secured ZMTP 3 stream: each frame
travels as a MESSAGE command (frame header 2 or 9 bytes, command name 8, nonce 8, flags 1,
MAC 16) around its payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgpack
import numpy as np

from ..errors import ProtocolError

WIRE_VERSION = 1
ALLOWED_DTYPES = frozenset({"uint64", "int64", "uint32", "uint16", "uint8", "float64"})
CURVE_FRAME_OVERHEAD = 8 + 8 + 1 + 16  # command name, short nonce, flags, Poly1305 MAC


@dataclass(frozen=True)
class Message:
    """A decoded message."""

    session: bytes
    seq: int
    round: int
    arrays: list[np.ndarray]


def frame_wire_bytes(payload_len: int) -> int:
    """Bytes one frame of ``payload_len`` bytes occupies on a CURVE ZMTP stream."""
    body = payload_len + CURVE_FRAME_OVERHEAD
    return body + (2 if body <= 255 else 9)


def encode(session: bytes, seq: int, round_: int, arrays: Sequence[np.ndarray]) -> list:
    """Frames for a message carrying ``arrays`` (made C-contiguous, sent without copying)."""
    arrs = [_contiguous(a) for a in arrays]
    for a in arrs:
        if a.dtype.name not in ALLOWED_DTYPES:
            raise TypeError(f"cannot send arrays of dtype {a.dtype}")
    header = msgpack.packb(
        {
            "v": WIRE_VERSION,
            "s": session,
            "q": seq,
            "r": round_,
            "a": [[a.dtype.name, list(a.shape)] for a in arrs],
        },
        use_bin_type=True,
    )
    return [header, *(a.data.cast("B") if a.size else b"" for a in arrs)]


def wire_size(frames: Sequence) -> tuple[int, int]:
    """(payload bytes, wire bytes) of a frame list; the header counts as wire only."""
    lens = [len(f) if not isinstance(f, memoryview) else f.nbytes for f in frames]
    return sum(lens[1:]), sum(frame_wire_bytes(n) for n in lens)


def decode(frames: Sequence, *, peer: str, session: bytes, max_bytes: int) -> Message:
    """Parse and validate frames from ``peer``; any defect raises ProtocolError."""
    if not frames:
        raise ProtocolError("empty message", peer)
    total = sum(_len(f) for f in frames)
    if total > max_bytes:
        raise ProtocolError(f"message of {total} bytes exceeds the limit of {max_bytes}", peer)
    try:
        header = msgpack.unpackb(_bytes(frames[0]), raw=False)
    except Exception as exc:  # noqa: BLE001 (msgpack raises several unrelated types)
        raise ProtocolError(f"malformed message header ({type(exc).__name__})", peer) from None
    if not isinstance(header, dict) or not {"v", "s", "q", "r", "a"} <= header.keys():
        raise ProtocolError("message header lacks required fields", peer)
    if header["v"] != WIRE_VERSION:
        raise ProtocolError(f"unsupported wire version {header['v']!r}", peer)
    if header["s"] != session:
        raise ProtocolError("message belongs to another session", peer)
    seq, rnd, specs = header["q"], header["r"], header["a"]
    if not (isinstance(seq, int) and isinstance(rnd, int) and rnd >= 0):
        raise ProtocolError("malformed sequence or round number", peer)
    if not isinstance(specs, list) or len(specs) != len(frames) - 1:
        raise ProtocolError("array count does not match the frames received", peer)
    arrays = []
    for i, (spec, frame) in enumerate(zip(specs, frames[1:])):
        arrays.append(_array(spec, frame, i, peer))
    return Message(session=session, seq=seq, round=rnd, arrays=arrays)


def _array(spec: object, frame: object, i: int, peer: str) -> np.ndarray:
    if not (isinstance(spec, list) and len(spec) == 2 and spec[0] in ALLOWED_DTYPES):
        raise ProtocolError(f"array {i} has a malformed or disallowed type", peer)
    shape = spec[1]
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise ProtocolError(f"array {i} has a malformed shape", peer)
    dtype = np.dtype(spec[0])
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if n * dtype.itemsize != _len(frame):
        raise ProtocolError(f"array {i} buffer size does not match its shape", peer)
    return np.frombuffer(_bytes(frame), dtype=dtype).reshape(shape)


def _len(frame: object) -> int:
    if isinstance(frame, memoryview):
        return frame.nbytes
    return len(frame)  # type: ignore[arg-type]


def _bytes(frame: object) -> bytes | bytearray | memoryview:
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return frame
    buf = getattr(frame, "buffer", None)  # zmq.Frame
    if buf is not None:
        return buf
    raise ProtocolError("unexpected frame type")


def _contiguous(a: np.ndarray) -> np.ndarray:
    """C-contiguous without copying when it already is; keeps 0-d arrays 0-d (which
    ``np.ascontiguousarray`` would turn into shape (1,))."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)
