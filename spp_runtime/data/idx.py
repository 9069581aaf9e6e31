"""The IDX file format (MNIST's), gzip'd or raw, read with every header field checked.

Layout: two zero bytes, a type code, the number of dimensions ``d``, then ``d`` big-endian
uint32 sizes, then the data in C order, big-endian. A file whose magic, type, sizes or length
do not fit raises :class:`IdxFormatError` naming the file and the problem.

Sizes are computed with Python integers (never a fixed-width product), so a header claiming
``2^31 x 2^31 x 2^31`` elements is compared with the real file length and refused as
"truncated", like any other header that claims more bytes than the file holds.

:func:`open_idx` reads the header and the data length only; :meth:`IdxFile.blocks` then
streams the data a block of rows at a time (gzip is decompressed as a stream), so a file of
any size is read in bounded memory. :func:`read_idx` reads a whole file into one array.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

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
_READ_BYTES = 1 << 20  # bytes per read when only counting a stream's length
GZIP_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)


class IdxFormatError(SppError, ValueError):
    """An IDX file is truncated, corrupt or not IDX at all."""


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX header declares: element type, dimensions and the data's byte length."""

    dtype: np.dtype  # as stored (big-endian for multi-byte types)
    dims: tuple[int, ...]
    header_len: int

    @property
    def data_bytes(self) -> int:
        """Bytes of data the header claims: the product of the sizes (a Python int, exact)."""
        n = self.dtype.itemsize
        for d in self.dims:
            n *= d
        return n


def parse_header(head: bytes, *, name: str = "<bytes>") -> IdxHeader:
    """Parse an IDX header from the first bytes of a file (at least ``4 + 4 * ndim``)."""
    if len(head) < 4:
        raise IdxFormatError(f"{name}: too short to be an IDX file ({len(head)} bytes)")
    zero, type_code, ndim = struct.unpack(">HBB", head[:4])
    if zero != 0:
        raise IdxFormatError(f"{name}: bad magic number (not an IDX file)")
    if type_code not in _TYPES:
        raise IdxFormatError(f"{name}: unknown IDX data type 0x{type_code:02x}")
    if not 1 <= ndim <= MAX_DIMS:
        raise IdxFormatError(f"{name}: unsupported number of dimensions {ndim}")
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        raise IdxFormatError(f"{name}: truncated header")
    dims = tuple(int(d) for d in struct.unpack(f">{ndim}I", head[4:header_len]))
    return IdxHeader(_TYPES[type_code], dims, header_len)


def check_length(header: IdxHeader, actual: int, *, name: str) -> None:
    """Raise IdxFormatError unless the file holds exactly the data bytes its header claims."""
    expected = header.data_bytes
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise IdxFormatError(
            f"{name}: data {what}: header says {header.dims} x {header.dtype.itemsize} B = "
            f"{expected} B, file holds {actual} B"
        )


@dataclass(frozen=True)
class IdxFile:
    """An IDX file whose header and length were checked; its data is read on demand."""

    path: Path
    header: IdxHeader
    gzipped: bool

    @property
    def shape(self) -> tuple[int, ...]:
        return self.header.dims

    @property
    def dtype(self) -> np.dtype:
        """The element type of the arrays :meth:`blocks` yields (native byte order)."""
        return self.header.dtype.newbyteorder("=")

    @property
    def row_bytes(self) -> int:
        n = self.header.dtype.itemsize
        for d in self.header.dims[1:]:
            n *= d
        return n

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        """The data ``rows`` rows at a time (the last block may be shorter), native-endian.

        Reads the file again from the start (decompressing gzip as a stream); raises
        IdxFormatError if it no longer holds the data its header claims.
        """
        if rows < 1:
            raise ValueError(f"rows per block must be positive, got {rows}")
        name = str(self.path)
        total = self.header.dims[0]
        row_shape = self.header.dims[1:]
        with _guard(name, self.gzipped), _open(self.path, self.gzipped) as fh:
            head = fh.read(self.header.header_len)
            if parse_header(head, name=name) != self.header:
                raise IdxFormatError(f"{name}: the file changed while it was being read")
            done = 0
            while done < total:
                n = min(rows, total - done)
                want = n * self.row_bytes
                raw = fh.read(want)
                if len(raw) != want:
                    raise IdxFormatError(f"{name}: the file changed while it was being read (shorter)")
                block = np.frombuffer(raw, dtype=self.header.dtype).reshape((n, *row_shape))
                yield block.astype(self.dtype, copy=False) if block.dtype != self.dtype else block
                done += n


def open_idx(path: str | Path) -> IdxFile:
    """Check an IDX file's header against its length without reading the data into memory.

    A raw file's length comes from the file system; a gzip'd file is decompressed once as a
    stream to count its bytes (and to find corrupt or truncated gzip data early).
    """
    p = Path(path)
    name = str(p)
    try:
        with p.open("rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
    except FileNotFoundError:
        raise IdxFormatError(f"{p}: no such file") from None
    except OSError as exc:
        raise IdxFormatError(f"{p}: cannot read ({exc.strerror})") from None
    with _guard(name, gzipped), _open(p, gzipped) as fh:
        head = fh.read(4)
        if len(head) == 4:
            head += fh.read(4 * head[3])
        header = parse_header(head, name=name)
        if gzipped:
            actual = 0
            while chunk := fh.read(_READ_BYTES):
                actual += len(chunk)
        else:
            actual = p.stat().st_size - header.header_len
    check_length(header, actual, name=name)
    return IdxFile(p, header, gzipped)


def read_idx(path: str | Path) -> np.ndarray:
    """Read a whole IDX file (``.gz`` or raw) into a native-endian numpy array."""
    f = open_idx(path)
    out = np.empty(f.shape, dtype=f.dtype)
    done = 0
    for block in f.blocks(max(1, (8 << 20) // max(1, f.row_bytes))):
        out[done : done + len(block)] = block
        done += len(block)
    return out


def parse_idx(raw: bytes, *, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file."""
    header = parse_header(raw[: 4 + 4 * MAX_DIMS], name=name)
    check_length(header, len(raw) - header.header_len, name=name)
    arr = np.frombuffer(raw, dtype=header.dtype, offset=header.header_len).reshape(header.dims)
    return arr.astype(header.dtype.newbyteorder("="), copy=True)


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


@contextmanager
def _open(path: Path, gzipped: bool) -> Iterator[IO[bytes]]:
    """The file's bytes as a stream (gunzipped as read when ``gzipped``)."""
    with path.open("rb") as raw:
        if not gzipped:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            yield cast(IO[bytes], gz)


@contextmanager
def _guard(name: str, gzipped: bool) -> Iterator[None]:
    """Turn read errors into IdxFormatError naming the file."""
    try:
        yield
    except IdxFormatError:
        raise
    except GZIP_ERRORS as exc:
        if gzipped and not isinstance(exc, FileNotFoundError):
            raise IdxFormatError(f"{name}: corrupt or truncated gzip data ({exc})") from None
        raise IdxFormatError(f"{name}: cannot read ({exc})") from None
