"""Reading a data owner's plaintext files (.npy, .npz, .csv, MNIST IDX) into checked float64.

Everything here runs on the owner's machine, before any sharing. Every problem raises
:class:`DataFormatError` whose message starts with the file name and says what is wrong and,
where it applies, where (array index, or CSV line and column). Messages never echo data values
other than an unparseable CSV cell or a label that is not a valid class number.

Two ways in:

* :func:`open_dataset` reads and checks the files **as a stream**, a block of rows at a time
  (gzip, .npz members and CSV included), and returns a :class:`StreamingDataset` whose
  :meth:`~StreamingDataset.blocks` reads them again in blocks for sharing. Memory stays
  bounded by the block size whatever the file size (``spp upload`` uses this). The only
  exception is a Fortran-order .npy array with more than one dimension, which is read whole
  for each pass.
* :func:`read_dataset` does the same checks and returns the whole :class:`Dataset` in memory.

Labels (``y``) are class numbers: a vector of whole numbers in ``0..MAX_LABEL`` (2^31 - 1,
the largest signed 32-bit integer), or a ``rows x classes`` matrix of one-hot rows (every
entry 0 or 1). :func:`check_labels` with ``classes=`` checks them against a model's classes.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, cast

import numpy as np
import numpy.lib.format as npformat

from ..encoding import FixedPoint
from ..errors import SppError
from .idx import IdxFile, IdxFormatError, open_idx

Format = Literal["npy", "npz", "csv", "idx"]
FORMATS: tuple[str, ...] = ("npy", "npz", "csv", "idx")

MAX_LABEL = 2**31 - 1
"""The largest label accepted at upload (a label must fit a signed 32-bit integer)."""
MAX_ROW_ELEMENTS = 1 << 24
"""The most values one row may hold (128 MiB as float64): rows are the unit of streaming."""
BLOCK_BYTES = 4 << 20
"""float64 bytes per block of rows while checking a file."""

_READ_BYTES = 1 << 20
_STREAM_ERRORS: tuple[type[Exception], ...] = (
    OSError, EOFError, zlib.error, zipfile.BadZipFile, zipfile.LargeZipFile,
)
_HEADER_ERRORS: tuple[type[Exception], ...] = (ValueError, *_STREAM_ERRORS)


class DataFormatError(SppError, ValueError):
    """A data file is missing, empty, corrupt, of the wrong shape, or holds unusable values."""


@dataclass(frozen=True)
class Dataset:
    """Plaintext features (``rows x ...``) and optional labels (``rows`` or ``rows x k``)."""

    features: np.ndarray
    labels: np.ndarray | None
    source: str

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])

    def parts(self) -> dict[str, np.ndarray]:
        """The arrays to share, by part name: ``x`` (features) and, if present, ``y``."""
        out = {"x": self.features}
        if self.labels is not None:
            out["y"] = self.labels
        return out

    @property
    def row_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of one row of each part."""
        return {p: tuple(int(s) for s in a.shape[1:]) for p, a in self.parts().items()}

    @property
    def label_range(self) -> tuple[int, int] | None:
        """``(smallest, largest)`` of a label vector of whole numbers (None otherwise)."""
        y = self.labels
        if y is None or y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            return None
        return int(y.min()), int(y.max())

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        """Every part ``rows`` rows at a time (views, not copies)."""
        if rows < 1:
            raise ValueError(f"rows per block must be positive, got {rows}")
        parts = self.parts()
        for start in range(0, self.rows, rows):
            yield {p: np.asarray(a[start : start + rows], dtype=np.float64) for p, a in parts.items()}


def detect_format(path: Path) -> Format:
    """The format from the file name, else from the first bytes (magic numbers)."""
    name = path.name.lower()
    stem = name.removesuffix(".gz")
    if stem.endswith(".npy"):
        return "npy"
    if stem.endswith(".npz"):
        return "npz"
    if stem.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if "idx" in stem or stem.endswith("-ubyte"):
        return "idx"
    head = _read_head(path, 8)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if head.startswith(b"\x1f\x8b") or head[:2] == b"\x00\x00":
        return "idx"
    raise DataFormatError(
        f"{path}: cannot tell the file format from its name or contents; "
        f"use a .npy, .npz, .csv or IDX file (or name the format)"
    )


# -- one array, read a block of rows at a time ------------------------------------------------


class ArraySource(ABC):
    """One numeric array in a file (or in memory), read a block of rows at a time.

    ``rows`` is None when it is known only after a full pass (CSV); ``row_shape`` is the shape
    of one row; ``scalar`` marks a 0-d array (no rows at all).
    """

    name: str
    rows: int | None
    row_shape: tuple[int, ...]
    scalar: bool = False

    @abstractmethod
    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        """The array ``rows`` rows at a time (any real dtype), from the start of the file."""

    def read(self) -> np.ndarray:
        """The whole array as float64."""
        if self.scalar:
            return self._scalar_value()
        out = [np.asarray(b, dtype=np.float64) for b in self.blocks(_rows_per_block(self.row_shape))]
        if not out:
            return np.empty((0, *self.row_shape))
        return out[0].copy() if len(out) == 1 else np.concatenate(out)

    def _scalar_value(self) -> np.ndarray:
        """A 0-d array's value; only sources that can hold one (memory, .npy) set ``scalar``."""
        raise DataFormatError(f"{self.name}: a single value, not an array of rows")


class MemorySource(ArraySource):
    """An array already in memory."""

    def __init__(self, array: np.ndarray, name: str) -> None:
        a = np.asarray(array)
        _check_dtype(a.dtype, name)
        self.array = a
        self.name = name
        self.scalar = a.ndim == 0
        self.rows = None if self.scalar else int(a.shape[0])
        self.row_shape = tuple(int(s) for s in a.shape[1:])

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        for start in range(0, self.rows or 0, rows):
            yield self.array[start : start + rows]

    def _scalar_value(self) -> np.ndarray:
        return self.array.astype(np.float64)


class IdxSource(ArraySource):
    """An IDX file (raw or gzip'd), header and length checked at open."""

    def __init__(self, path: Path) -> None:
        try:
            self.file: IdxFile = open_idx(path)
        except IdxFormatError as exc:
            raise DataFormatError(str(exc)) from None
        self.name = str(path)
        self.rows = self.file.shape[0]
        self.row_shape = self.file.shape[1:]

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        try:
            yield from self.file.blocks(rows)
        except IdxFormatError as exc:
            raise DataFormatError(str(exc)) from None


class NpySource(ArraySource):
    """One .npy array in a stream: a raw or gzip'd .npy file, or a member of an .npz.

    The header is parsed and the data length checked at open (a gzip'd file is decompressed
    once as a stream to count its bytes); the data is then read a block of rows at a time.
    """

    def __init__(
        self,
        opener: Callable[[], AbstractContextManager[IO[bytes]]],
        name: str,
        *,
        kind: str,
        length: Callable[[IO[bytes], int], int],
        label: str | None = None,
    ) -> None:
        self._opener = opener
        self.name = name
        self._kind = kind  # "npy" or "npz", for messages
        self._label = label  # an npz member's name, for messages
        with self._guard(), opener() as fh:
            shape, fortran, dtype, offset = _npy_header(fh)
            if dtype.hasobject:
                what = f"array {label!r} holds" if label else "holds"
                raise DataFormatError(f"{name}: {what} Python objects, not numbers")
            _check_dtype(dtype, name)
            expected = dtype.itemsize
            for s in shape:
                expected *= s
            actual = length(fh, offset)
        if actual < expected:
            raise DataFormatError(
                f"{name}: truncated or corrupt .{kind} file (header says shape {shape} x "
                f"{dtype.itemsize} B = {expected} B, file holds {actual} B)"
            )
        self._shape, self._fortran, self._dtype, self._offset = shape, fortran, dtype, offset
        self.scalar = len(shape) == 0
        self.rows = None if self.scalar else shape[0]
        self.row_shape = tuple(shape[1:])

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except DataFormatError:
            raise
        except _HEADER_ERRORS as exc:
            if "pickle" in str(exc).lower():
                raise DataFormatError(f"{self.name}: holds Python objects, not numbers") from None
            raise DataFormatError(f"{self.name}: truncated or corrupt .{self._kind} file ({exc})") from None

    @contextmanager
    def _stream(self) -> Iterator[IO[bytes]]:
        """The stream positioned at the data, after checking the header again."""
        with self._opener() as fh:
            shape, fortran, dtype, offset = _npy_header(fh)
            if (shape, fortran, dtype, offset) != (self._shape, self._fortran, self._dtype, self._offset):
                raise DataFormatError(f"{self.name}: the file changed while it was being read")
            yield fh

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        total = self.rows or 0
        row_bytes = self._dtype.itemsize * _elements(self.row_shape)
        with self._guard(), self._stream() as fh:
            if self._fortran and len(self._shape) > 1:  # columns first: read it whole
                whole = self._read_exact(fh, total * row_bytes)
                arr = np.frombuffer(whole, dtype=self._dtype).reshape(self._shape[::-1]).T
                for start in range(0, total, rows):
                    yield arr[start : start + rows]
                return
            done = 0
            while done < total:
                n = min(rows, total - done)
                raw = self._read_exact(fh, n * row_bytes)
                yield np.frombuffer(raw, dtype=self._dtype).reshape((n, *self.row_shape))
                done += n

    def _read_exact(self, fh: IO[bytes], n: int) -> bytes:
        raw = fh.read(n)
        if len(raw) != n:
            raise DataFormatError(f"{self.name}: the file changed while it was being read (shorter)")
        return raw

    def _scalar_value(self) -> np.ndarray:
        with self._guard(), self._stream() as fh:
            raw = self._read_exact(fh, self._dtype.itemsize)
            return np.frombuffer(raw, dtype=self._dtype).reshape(()).astype(np.float64)


def _npy_header(fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, bytes before the data)`` of a .npy stream."""
    version = npformat.read_magic(fh)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"unsupported .npy format version {version}")
    if version == (1, 0):
        shape, fortran, dtype = npformat.read_array_header_1_0(fh)
    else:  # 2.0 and 3.0 headers differ only in how non-ASCII field names are encoded
        shape, fortran, dtype = npformat.read_array_header_2_0(fh)
    return tuple(int(s) for s in shape), bool(fortran), np.dtype(dtype), fh.tell()


def _npy_file_source(p: Path) -> NpySource:
    gzipped = _read_head(p, 2) == b"\x1f\x8b"

    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        with p.open("rb") as raw:
            if gzipped:
                with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                    yield cast(IO[bytes], gz)
            else:
                yield raw

    def length(fh: IO[bytes], offset: int) -> int:
        if not gzipped:
            return p.stat().st_size - offset
        n = 0
        while chunk := fh.read(_READ_BYTES):
            n += len(chunk)
        return n

    return NpySource(opener, str(p), kind="npy", length=length)


def _npz_source(p: Path, array: str | None) -> NpySource:
    try:
        with zipfile.ZipFile(p) as zf:
            members = {n.removesuffix(".npy"): n for n in zf.namelist()}
            infos = {n: zf.getinfo(n) for n in members.values()}
    except _STREAM_ERRORS as exc:
        raise DataFormatError(f"{p}: truncated or corrupt .npz file ({exc})") from None
    names = list(members)
    if not names:
        raise DataFormatError(f"{p}: the .npz holds no arrays")
    if array is None:
        if len(names) > 1:
            raise DataFormatError(f"{p}: holds several arrays ({', '.join(names)}); say which one to use")
        array = names[0]
    if array not in members:
        raise DataFormatError(f"{p}: no array named {array!r} (it holds {', '.join(names)})")
    member = members[array]
    size = infos[member].file_size

    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        with zipfile.ZipFile(p) as zf, zf.open(member) as fh:
            yield fh

    return NpySource(opener, str(p), kind="npz", length=lambda fh, offset: size - offset, label=array)


class CsvSource(ArraySource):
    """A numeric table in a text file (raw or gzip'd), parsed a block of lines at a time.

    The delimiter and a header line are detected from the first two non-blank lines unless
    given; the row count is known only after a full pass (``rows`` is None).
    """

    def __init__(self, path: Path, delimiter: str | None, header: bool | None) -> None:
        self.path = path
        self.name = str(path)
        self.rows = None
        head: list[tuple[int, str]] = []
        lines = self._lines()
        for item in lines:
            head.append(item)
            if len(head) == 3:
                break
        lines.close()
        if not head:
            raise DataFormatError(f"{path}: no data (only blank lines)")
        delim = delimiter if delimiter is not None else _detect_delimiter(head[0][1])
        if header is None:
            first = _split(head[0][1], delim)
            if len(head) == 1:  # a lone line with no number at all is a header
                header = not any(_is_number(c) for c in first)
            else:
                header = not _all_numeric(first) and _all_numeric(_split(head[1][1], delim))
        self.delim = delim
        self.header = header
        data = head[1:] if header else head
        if not data:
            raise DataFormatError(f"{path}: only a header line, no data rows")
        self._first = data[0]
        self.width = self._parse([data[0]], width=None).shape[1]
        self.row_shape = (self.width,)

    def _lines(self) -> Generator[tuple[int, str], None, None]:
        """``(line number, text)`` of every non-blank line, decoded as UTF-8 (a BOM dropped)."""
        gzipped = _read_head(self.path, 2) == b"\x1f\x8b"
        offset = 0
        lineno = 0
        try:
            with self.path.open("rb") as raw, (
                gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else nullcontext(raw)
            ) as fh:
                for chunk in fh:
                    try:
                        text = chunk.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise DataFormatError(
                            f"{self.path}: not a UTF-8 text file (byte {offset + exc.start})"
                        ) from None
                    if offset == 0:
                        text = text.removeprefix("\ufeff")
                    offset += len(chunk)
                    for line in text.splitlines():
                        lineno += 1
                        if line.strip():
                            yield lineno, line
        except DataFormatError:
            raise
        except _STREAM_ERRORS as exc:
            if gzipped:
                raise DataFormatError(f"{self.path}: corrupt or truncated gzip data ({exc})") from None
            raise DataFormatError(f"{self.path}: cannot read ({exc})") from None

    def _parse(self, lines: list[tuple[int, str]], width: int | None) -> np.ndarray:
        try:
            arr = np.loadtxt(
                [text for _, text in lines],
                delimiter=None if self.delim == " " else self.delim,
                ndmin=2,
                comments=None,
                quotechar='"',
                dtype=np.float64,
            )
            if width is None or arr.shape[1] == width:
                return arr
        except ValueError:
            pass
        _locate_csv_error(lines, self.delim, self.path, width, self._first[0] if width else None)
        raise DataFormatError(
            f"{self.path}: lines {lines[0][0]}-{lines[-1][0]}: cannot parse as a numeric table"
        )

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        lines = self._lines()
        if self.header:
            next(lines)
        batch: list[tuple[int, str]] = []
        for item in lines:
            batch.append(item)
            if len(batch) == rows:
                yield self._parse(batch, self.width)
                batch = []
        if batch:
            yield self._parse(batch, self.width)


def open_source(
    path: str | Path,
    *,
    fmt: Format | None = None,
    array: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
) -> ArraySource:
    """Open one numeric array in a file, checking its header (not yet its values)."""
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such file")
    if not p.is_file():
        raise DataFormatError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise DataFormatError(f"{p}: empty file")
    kind = fmt or detect_format(p)
    if kind not in FORMATS:
        raise DataFormatError(f"{p}: unknown format {kind!r}; use one of {', '.join(FORMATS)}")
    if array is not None and kind != "npz":
        raise DataFormatError(f"{p}: an array name ({array!r}) only applies to .npz files")
    if kind == "npy":
        return _npy_file_source(p)
    if kind == "npz":
        return _npz_source(p, array)
    if kind == "csv":
        return CsvSource(p, delimiter, header)
    return IdxSource(p)


def read_array(
    path: str | Path,
    *,
    fmt: Format | None = None,
    array: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
) -> np.ndarray:
    """Read one numeric array from a file as float64, checking only the file itself.

    ``array`` names the array inside an .npz (needed when it holds more than one).
    ``delimiter`` and ``header`` apply to CSV; ``None`` means detect them.
    """
    return open_source(path, fmt=fmt, array=array, delimiter=delimiter, header=header).read()


# -- a dataset: features and labels, checked in one streaming pass -------------------------------


class _Part:
    """One part of a dataset: an array source with the owner's scaling and reshaping."""

    def __init__(self, source: ArraySource, name: str, row_shape: tuple[int, ...],
                 scale: float | None = None) -> None:
        self.source = source
        self.name = name
        self.row_shape = row_shape
        self.scale = scale

    def blocks(self, rows: int) -> Generator[np.ndarray, None, None]:
        for raw in self.source.blocks(rows):
            v = np.asarray(raw, dtype=np.float64)
            if self.scale is not None:
                v = v * self.scale
            yield v.reshape((len(v), *self.row_shape))


class StreamingDataset:
    """A checked dataset still in its files: ``blocks(rows)`` reads it again, block by block.

    Made by :func:`open_dataset`, which has read every value once and checked it (fixed-point
    range, labels). ``label_range`` is ``(smallest, largest)`` label of a label vector.
    """

    def __init__(self, source: str, rows: int, parts: dict[str, _Part],
                 label_range: tuple[int, int] | None) -> None:
        self.source = source
        self.rows = rows
        self._parts = parts
        self.label_range = label_range

    @property
    def row_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of one row of each part (``x``, and ``y`` if labels were given)."""
        return {p: part.row_shape for p, part in self._parts.items()}

    @property
    def has_labels(self) -> bool:
        return "y" in self._parts

    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        """Every part as float64, ``rows`` rows at a time, read from the files again.

        Raises DataFormatError if a file no longer holds the rows it held when checked.
        """
        if rows < 1:
            raise ValueError(f"rows per block must be positive, got {rows}")
        its = {p: part.blocks(rows) for p, part in self._parts.items()}
        try:
            done = 0
            while done < self.rows:
                n = min(rows, self.rows - done)
                out = {}
                for p, it in its.items():
                    block = next(it, None)
                    if block is None or len(block) != n:
                        raise DataFormatError(f"{self._parts[p].name}: the file changed while it was being read")
                    out[p] = block
                yield out
                done += n
            for p, it in its.items():
                if next(it, None) is not None:
                    raise DataFormatError(f"{self._parts[p].name}: the file changed while it was being read")
        finally:
            for it in its.values():
                it.close()

    def load(self) -> Dataset:
        """The whole dataset in memory."""
        shapes = self.row_shapes
        arrays = {p: np.empty((self.rows, *s)) for p, s in shapes.items()}
        done = 0
        for block in self.blocks(_rows_per_block(*shapes.values())):
            n = len(block["x"])
            for p, a in block.items():
                arrays[p][done : done + n] = a
            done += n
        return Dataset(features=arrays["x"], labels=arrays.get("y"), source=self.source)


def open_dataset(
    path: str | Path,
    *,
    labels: str | Path | np.ndarray | None = None,
    fmt: Format | None = None,
    array: str | None = None,
    labels_array: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
    scale: float | None = None,
    flatten: bool = False,
    row_shape: tuple[int, ...] | None = None,
    fxp: FixedPoint | None = None,
) -> StreamingDataset:
    """Open and check features and labels for upload, reading the files block by block.

    Labels come from ``labels`` (a file in any supported format, or an array), or, for an
    .npz, from its array ``labels_array``. ``scale`` multiplies the features (``1/255`` for
    MNIST pixels); ``flatten`` turns each row into a vector; ``row_shape`` is the shape every
    row must have. Raises :class:`DataFormatError` for any problem, including values that the
    fixed-point format ``fxp`` cannot encode (NaN, infinity, out of range) and labels that are
    not class numbers (see :func:`check_labels`). Memory stays bounded by :data:`BLOCK_BYTES`
    per part, whatever the file size.
    """
    p = Path(path)
    fxp = fxp or FixedPoint()
    xs = open_source(p, fmt=fmt, array=array, delimiter=delimiter, header=header)
    _check_structure(xs, str(p), "data")
    if scale is not None:
        if not np.isfinite(scale) or scale == 0:
            raise DataFormatError(f"{p}: scale must be a finite non-zero number, got {scale}")
        scale = float(scale)
    x_shape = (_elements(xs.row_shape),) if flatten else xs.row_shape
    if row_shape is not None and tuple(x_shape) != tuple(row_shape):
        raise DataFormatError(f"{p}: each row has shape {tuple(x_shape)}, expected {tuple(row_shape)}")
    parts = {"x": _Part(xs, str(p), x_shape, scale)}
    ys = _open_labels(p, labels, labels_array, fmt, delimiter, header)
    if ys is not None:
        y_name = str(labels) if isinstance(labels, (str, Path)) else f"{p} labels"
        _check_structure(ys, y_name, "labels")
        y_shape = ys.row_shape
        if y_shape == (1,):
            y_shape = ()  # a one-column table of labels is a vector
        if len(y_shape) > 1:
            shape = (ys.rows if ys.rows is not None else "?", *ys.row_shape)
            raise DataFormatError(
                f"{y_name}: labels must be a vector or a rows x classes matrix, got shape {shape}"
            )
        if xs.rows is not None and ys.rows is not None:
            _check_counts(ys.rows, xs.rows, y_name, p)
        parts["y"] = _Part(ys, y_name, y_shape)
    x_rows, _ = _scan(parts["x"], fxp, labels=False)
    label_range = None
    if "y" in parts:
        y_rows, label_range = _scan(parts["y"], fxp, labels=True)
        _check_counts(y_rows, x_rows, parts["y"].name, p)
    return StreamingDataset(str(p), x_rows, parts, label_range)


def read_dataset(
    path: str | Path,
    *,
    labels: str | Path | np.ndarray | None = None,
    fmt: Format | None = None,
    array: str | None = None,
    labels_array: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
    scale: float | None = None,
    flatten: bool = False,
    row_shape: tuple[int, ...] | None = None,
    fxp: FixedPoint | None = None,
) -> Dataset:
    """Read features and labels, checked as by :func:`open_dataset`, into memory."""
    return open_dataset(
        path, labels=labels, fmt=fmt, array=array, labels_array=labels_array, delimiter=delimiter,
        header=header, scale=scale, flatten=flatten, row_shape=row_shape, fxp=fxp,
    ).load()


def _scan(part: _Part, fxp: FixedPoint, *, labels: bool) -> tuple[int, tuple[int, int] | None]:
    """Read a part once, checking every value; its row count and (for labels) label range."""
    rows = 0
    lo: int | None = None
    hi: int | None = None
    for block in part.blocks(_rows_per_block(part.row_shape)):
        if labels:
            got = check_labels(block, part.name, row_offset=rows)
            if got is not None:
                lo = got[0] if lo is None else min(lo, got[0])
                hi = got[1] if hi is None else max(hi, got[1])
        check_encodable(block, fxp, part.name, row_offset=rows)
        rows += len(block)
    if rows == 0:
        raise DataFormatError(f"{part.name}: {'labels' if labels else 'data'} has no rows")
    return rows, (None if lo is None or hi is None else (lo, hi))


def _check_counts(y_rows: int, x_rows: int, y_name: str, p: Path) -> None:
    if y_rows != x_rows:
        raise DataFormatError(f"{y_name}: {y_rows} labels but {p} has {x_rows} rows")


def _check_structure(src: ArraySource, name: str, what: str) -> None:
    if src.scalar:
        raise DataFormatError(f"{name}: {what} is a single number; need at least one row")
    if src.rows == 0:
        raise DataFormatError(f"{name}: {what} has no rows")
    n = _elements(src.row_shape)
    if n == 0:
        shape = (src.rows if src.rows is not None else "?", *src.row_shape)
        raise DataFormatError(f"{name}: {what} rows are empty (shape {shape})")
    if n > MAX_ROW_ELEMENTS:
        raise DataFormatError(
            f"{name}: each row holds {n} values (shape {src.row_shape}); at most "
            f"{MAX_ROW_ELEMENTS} per row are supported"
        )


def _elements(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _rows_per_block(*row_shapes: tuple[int, ...]) -> int:
    per_row = sum(_elements(s) for s in row_shapes) * 8
    return max(1, BLOCK_BYTES // max(1, per_row))


# -- checks of values ---------------------------------------------------------------------------


def check_encodable(values: np.ndarray, fxp: FixedPoint, name: str, *, row_offset: int = 0) -> None:
    """Raise DataFormatError (naming ``name`` and the index) if ``fxp`` cannot encode a value.

    ``values`` may be a block of rows starting at row ``row_offset`` of the file; the index in
    the message counts from the file's first row.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    if not finite.all():
        pos = _first(~finite)
        kind = "NaN" if np.isnan(v[pos]) else "infinity"
        raise DataFormatError(f"{name}: value at index {_fmt(pos, row_offset)} is {kind}; cannot encode")
    scaled = v * fxp.scale
    np.rint(scaled, out=scaled)
    bad = (scaled >= 2.0**63) | (scaled < -(2.0**63))
    if bad.any():
        raise DataFormatError(
            f"{name}: value at index {_fmt(_first(bad), row_offset)} is outside the fixed-point range "
            f"[-{fxp.max_abs:g}, {fxp.max_abs:g}) for {fxp.frac_bits} fractional bits"
        )


def check_labels(
    values: np.ndarray, name: str, *, classes: int | None = None, row_offset: int = 0
) -> tuple[int, int] | None:
    """Check labels; returns ``(smallest, largest)`` of a label vector (None for a matrix).

    A vector holds class numbers: whole numbers in ``0..MAX_LABEL``, or in ``0..classes - 1``
    when ``classes`` is given (a model's output count). A ``rows x classes`` matrix holds
    one-hot rows: every entry 0 or 1 (and ``classes`` columns when given). Raises
    DataFormatError naming ``name``, the row (counted from ``row_offset``) and the bad value.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 2:
        if classes is not None and v.shape[1] != classes:
            raise DataFormatError(
                f"{name}: one-hot label rows have {v.shape[1]} columns but the model has {classes} classes"
            )
        bad = (v != 0) & (v != 1)
        if bad.any():
            r, c = _first(bad)
            raise DataFormatError(
                f"{name}: label at row {row_offset + r}, column {c} is {_show(v[r, c])}; "
                f"one-hot label rows hold only 0 and 1"
            )
        return None
    if v.ndim != 1:
        raise DataFormatError(f"{name}: labels must be a vector or a rows x classes matrix")
    top = MAX_LABEL if classes is None else classes - 1
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(v) | (v < 0) | (v > top) | (v != np.floor(v))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        what = f"0..{top}" if classes is None else f"0..{top} (the model has {classes} classes)"
        raise DataFormatError(
            f"{name}: label at row {row_offset + r} is {_show(v[r])}; labels must be whole numbers in {what}"
        )
    if v.size == 0:
        return None
    return int(v.min()), int(v.max())


def _first(mask: np.ndarray) -> tuple[int, ...]:
    flat = int(np.flatnonzero(mask.reshape(-1))[0])
    return tuple(int(i) for i in np.unravel_index(flat, mask.shape))


def _fmt(pos: tuple[int, ...], row_offset: int) -> str:
    if pos:
        pos = (pos[0] + row_offset, *pos[1:])
    return "(" + ", ".join(str(p) for p in pos) + ")" if len(pos) != 1 else str(pos[0])


def _show(value: float) -> str:
    """A label value as the owner wrote it: 3, -1, 0.5, 1000000000000, NaN, infinity."""
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "infinity" if value > 0 else "-infinity"
    if value == np.floor(value) and abs(value) < 2.0**63:
        return str(int(value))
    return repr(float(value))


# -- labels ------------------------------------------------------------------------------


def _open_labels(
    p: Path,
    labels: str | Path | np.ndarray | None,
    labels_array: str | None,
    fmt: Format | None,
    delimiter: str | None,
    header: bool | None,
) -> ArraySource | None:
    """Labels from an array, a file of their own (format detected), or an .npz array."""
    if labels is not None and labels_array is not None:
        raise DataFormatError(f"{p}: give labels as a file/array or as an .npz array name, not both")
    if labels_array is not None:
        if (fmt or detect_format(p)) != "npz":
            raise DataFormatError(f"{p}: a labels array name only applies to .npz files")
        return _npz_source(p, labels_array)
    if labels is None:
        return None
    if isinstance(labels, np.ndarray):
        return MemorySource(labels, f"{p} labels")
    return open_source(Path(labels), delimiter=delimiter, header=header)


def _check_dtype(dtype: np.dtype, name: str) -> None:
    if dtype.hasobject:
        raise DataFormatError(f"{name}: holds Python objects, not numbers")
    if dtype.kind not in "biuf":
        raise DataFormatError(f"{name}: holds {dtype} values; need real numbers")


def _read_head(p: Path, n: int) -> bytes:
    try:
        with p.open("rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise DataFormatError(f"{p}: cannot read ({exc.strerror})") from None


# -- CSV helpers ------------------------------------------------------------------------------


def _locate_csv_error(
    lines: list[tuple[int, str]], delim: str, p: Path, width: int | None, width_line: int | None
) -> None:
    """Raise a DataFormatError naming the first ragged line or unparseable cell."""
    if width is None:
        width, width_line = len(_split(lines[0][1], delim)), lines[0][0]
    for lineno, line in lines:
        cells = _split(line, delim)
        if len(cells) != width:
            raise DataFormatError(
                f"{p}: line {lineno} has {_columns(len(cells))}, expected {width} "
                f"(as on line {width_line})"
            )
        for col, cell in enumerate(cells, start=1):
            if not _is_number(cell):
                what = "an empty cell" if cell == "" else f"non-numeric cell {cell[:40]!r}"
                raise DataFormatError(f"{p}: line {lineno}, column {col}: {what}")


def _columns(n: int) -> str:
    return f"{n} column" if n == 1 else f"{n} columns"


def _detect_delimiter(first: str) -> str:
    for cand in (",", ";", "\t", "|"):
        if cand in first:
            return cand
    return " " if len(first.split()) > 1 else ","


def _split(line: str, delim: str) -> list[str]:
    if delim == " ":
        return line.split()
    return [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=delim))]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _all_numeric(cells: list[str]) -> bool:
    return all(_is_number(c) for c in cells)
