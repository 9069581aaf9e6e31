"""Storage requests between a client and a primary server (the part-2 message flow).

A request is one msgpack header ``{"v", "kind", "rid", ...}`` (``kind`` one of
``STORAGE_KINDS``, ``rid`` a request id echoed in the answer) followed, for ``upload.chunk``
only, by one raw little-endian uint64 frame per part in the header's ``parts`` order. Answers
are :func:`.messages.encode_answer`. See docs/STORAGE.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .envelope import BadRequest, array_frame, pack

STORAGE_KINDS = frozenset({
    "upload.begin", "upload.chunk", "upload.prepare", "upload.commit", "upload.abort",
    "upload.status", "datasets.list", "datasets.show", "datasets.delete",
    "grants.set", "grants.revoke", "grants.list", "models.list", "models.show", "models.delete",
})
SHARE_DTYPE = np.dtype("<u8")  # shares in chunk frames (and in the servers' stores)
MAX_NDIM = 8  # dimensions of a part's rows (and of a chunk's part)


def encode_request(kind: str, rid: str, fields: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> list:
    """Frames of a storage request; ``arrays`` (chunk shares per part) become raw frames."""
    header: dict[str, Any] = {"kind": kind, "rid": rid, **fields}
    frames = []
    if arrays:
        header["parts"] = [[p, list(a.shape)] for p, a in arrays.items()]
        frames = [array_frame(np.ascontiguousarray(a, dtype=SHARE_DTYPE)) for a in arrays.values()]
    return pack(header, *frames)


def decode_chunk_arrays(header: Mapping[str, Any], frames: Sequence) -> dict[str, np.ndarray]:
    """The per-part arrays of an ``upload.chunk`` request (read-only views of the frames)."""
    specs = header.get("parts")
    if not isinstance(specs, list) or len(specs) != len(frames):
        raise BadRequest("upload.chunk: 'parts' must list one [part, shape] per data frame")
    out: dict[str, np.ndarray] = {}
    for spec, frame in zip(specs, frames):
        if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str)
                and isinstance(spec[1], list) and len(spec[1]) <= MAX_NDIM
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in spec[1])):
            raise BadRequest("upload.chunk: each part must be [name, [dims...]]")
        buf = frame.buffer if hasattr(frame, "buffer") else memoryview(frame)
        if buf.nbytes != math.prod(spec[1]) * SHARE_DTYPE.itemsize:  # Python integers: no overflow
            raise BadRequest(f"upload.chunk: part {spec[0]!r} has {buf.nbytes} bytes, not shape {spec[1]}")
        out[spec[0]] = np.frombuffer(buf, dtype=SHARE_DTYPE).reshape(spec[1])
    return out


def text(header: Mapping[str, Any], key: str) -> str:
    """A required string field of a request."""
    value = header.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{header.get('kind')}: field {key!r} must be a string")
    return value


def digests(header: Mapping[str, Any], key: str = "sha256") -> dict[str, str]:
    """A required ``{part: hex digest}`` field of a request."""
    value = header.get(key)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadRequest(f"{header.get('kind')}: field {key!r} must map parts to hex digests")
    return value
