"""The IDX file format (MNIST's), gzip'd or raw, read with every header field checked.

Layout: two zero bytes, a type code, the number of dimensions ``d``, then ``d`` big-endian
uint32 sizes, then the data in C order, big-endian. A file whose magic, type, sizes or length
do not fit raises :class:`IdxFormatError` naming the file and the problem.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import SppError

_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_DIMS = 8


class IdxFormatError(SppError, ValueError):
    """An IDX file is truncated, corrupt or not IDX at all."""


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into a native-endian numpy array."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise IdxFormatError(f"{p}: no such file") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise IdxFormatError(f"{p}: corrupt or truncated gzip data ({exc})") from None
    return parse_idx(raw, name=str(p))


def parse_idx(raw: bytes, *, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file."""
    if len(raw) < 4:
        raise IdxFormatError(f"{name}: too short to be an IDX file ({len(raw)} bytes)")
    zero, type_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0:
        raise IdxFormatError(f"{name}: bad magic number (not an IDX file)")
    if type_code not in _TYPES:
        raise IdxFormatError(f"{name}: unknown IDX data type 0x{type_code:02x}")
    if not 1 <= ndim <= MAX_DIMS:
        raise IdxFormatError(f"{name}: unsupported number of dimensions {ndim}")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IdxFormatError(f"{name}: truncated header")
    dims = struct.unpack(f">{ndim}I", raw[4:header_len])
    dtype = _TYPES[type_code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise IdxFormatError(
            f"{name}: data {what}: header says {dims} x {dtype.itemsize} B = {expected} B, "
            f"file holds {actual} B"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write ``array`` as IDX (gzip'd when the name ends in .gz or ``compress`` is set)."""
    p = Path(path)
    codes = {v.newbyteorder("="): k for k, v in _TYPES.items()}
    dt = np.dtype(array.dtype).newbyteorder("=")
    if dt not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    code = codes[dt]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    body = np.ascontiguousarray(array, dtype=_TYPES[code]).tobytes()
    data = header + body
    if compress or (compress is None and p.suffix == ".gz"):
        data = gzip.compress(data)
    p.write_bytes(data)
