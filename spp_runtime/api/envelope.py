"""What every client <-> server message shares: a versioned msgpack header, raw array frames.

A message is one msgpack header map followed by raw array frames. Every header carries
``"v": VERSION`` (the client sends it with each request, the servers with each reply); a
receiver refuses a message of any other version, a header that is not a map, or an empty
message with :class:`BadRequest`, the one error for a malformed client message.

A header is at most ``max_bytes`` long (the servers pass ``limits.max_header_bytes``) and is
decoded with msgpack's ``max_*_len`` bounds, so a small header cannot unpack into a large
object tree (each element of a container costs at least one header byte).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
import numpy as np

from ..errors import ProtocolError

VERSION = 1
DEFAULT_MAX_HEADER_BYTES = 256 << 10
MAX_CONTAINER_LEN = 1 << 16  # entries of one list or map in a header


class BadRequest(ProtocolError):
    """A client's request is malformed or names something that does not exist."""


def pack(header: dict[str, Any], *frames: bytes | memoryview) -> list[bytes | memoryview]:
    """The frames of a message: ``header`` (``"v"`` added) then ``frames`` as they are."""
    return [msgpack.packb({"v": VERSION, **header}, use_bin_type=True), *frames]


def array_frame(a: np.ndarray) -> bytes | memoryview:
    """The raw bytes of a C-contiguous array, without a copy (``b""`` when it is empty)."""
    return a.data.cast("B") if a.size else b""


def decode_header(frames: Sequence, what: str, peer: str | None = None, *,
                  max_bytes: int = DEFAULT_MAX_HEADER_BYTES, max_len: int = MAX_CONTAINER_LEN) -> dict:
    """The header map of a message; BadRequest if it is missing, longer than ``max_bytes``,
    malformed or of another version; no list or map in it may hold more than ``max_len``
    entries."""
    if not frames:
        raise BadRequest(f"empty {what}", peer)
    size = frame_len(frames[0])
    if size > max_bytes:
        raise BadRequest(f"{what} header of {size} bytes exceeds limits.max_header_kb "
                         f"({max_bytes >> 10} KiB)", peer)
    n = min(size, max_len)
    try:
        header = msgpack.unpackb(frame_buf(frames[0]), raw=False, max_str_len=size, max_bin_len=size,
                                 max_array_len=n, max_map_len=n, max_ext_len=0)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise BadRequest(f"malformed {what} header ({type(exc).__name__})", peer) from None
    if not isinstance(header, dict):
        raise BadRequest(f"{what} header is not a map", peer)
    if header.get("v") != VERSION:
        raise BadRequest(f"unsupported {what} version {short(header.get('v'))}", peer)
    return header


def frame_len(frame: object) -> int:
    """Bytes in a frame (bytes, memoryview or ``zmq.Frame``)."""
    if isinstance(frame, memoryview):
        return frame.nbytes
    buf = getattr(frame, "buffer", None)  # zmq.Frame
    return buf.nbytes if buf is not None else len(frame)  # type: ignore[arg-type]


def frame_buf(frame: object) -> bytes | memoryview:
    """A frame's bytes without a copy."""
    buf = getattr(frame, "buffer", None)  # zmq.Frame
    return buf if buf is not None else frame  # type: ignore[return-value]


def short(value: object) -> str:
    """``repr(value)``, cut to 40 characters (errors never echo long client data)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
