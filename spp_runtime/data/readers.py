"""Reading a data owner's plaintext files (.npy, .npz, .csv, MNIST IDX) into checked float64.

Everything here runs on the owner's machine, before any sharing. :func:`read_dataset` returns
the features (one row per example) and optional labels as float64 arrays, after checking that
they can be encoded in the cluster's fixed-point format. Every problem raises
:class:`DataFormatError` whose message starts with the file name and says what is wrong and,
where it applies, where (array index, or CSV line and column). Messages never echo data values
other than the unparseable CSV cell itself.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..encoding import FixedPoint
from ..errors import EncodingError, SppError
from .idx import IdxFormatError, read_idx

Format = Literal["npy", "npz", "csv", "idx"]
FORMATS: tuple[str, ...] = ("npy", "npz", "csv", "idx")


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
        raw = _read_npy(p)
    elif kind == "npz":
        raw = _read_npz(p, array)
    elif kind == "csv":
        raw = _read_csv(p, delimiter, header)
    else:
        try:
            raw = read_idx(p)
        except IdxFormatError as exc:
            raise DataFormatError(str(exc)) from None
    return _as_float(raw, p)


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
    """Read features and labels and check them for upload.

    Labels come from ``labels`` (a file in any supported format, or an array), or, for an
    .npz, from its array ``labels_array``. ``scale`` multiplies the features (``1/255`` for
    MNIST pixels); ``flatten`` turns each row into a vector; ``row_shape`` is the shape every
    row must have. Raises :class:`DataFormatError` for any problem, including values that the
    fixed-point format ``fxp`` cannot encode (NaN, infinity, out of range).
    """
    p = Path(path)
    fxp = fxp or FixedPoint()
    x = read_array(p, fmt=fmt, array=array, delimiter=delimiter, header=header)
    x = _check_rows(x, str(p), "data")
    if scale is not None:
        if not np.isfinite(scale) or scale == 0:
            raise DataFormatError(f"{p}: scale must be a finite non-zero number, got {scale}")
        x = x * float(scale)
    if flatten:
        x = x.reshape(x.shape[0], -1)
    if row_shape is not None and tuple(x.shape[1:]) != tuple(row_shape):
        raise DataFormatError(
            f"{p}: each row has shape {tuple(x.shape[1:])}, expected {tuple(row_shape)}"
        )
    y = _read_labels(p, labels, labels_array, fmt, delimiter, header)
    if y is not None:
        y_name = str(labels) if isinstance(labels, (str, Path)) else f"{p} labels"
        y = _check_rows(y, y_name, "labels")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]  # a one-column table of labels is a vector
        if y.ndim > 2:
            raise DataFormatError(
                f"{y_name}: labels must be a vector or a rows x classes matrix, got shape {y.shape}"
            )
        if y.shape[0] != x.shape[0]:
            raise DataFormatError(
                f"{y_name}: {y.shape[0]} labels but {p} has {x.shape[0]} rows"
            )
        check_encodable(y, fxp, y_name)
    check_encodable(x, fxp, str(p))
    return Dataset(features=x, labels=y, source=str(p))


def check_encodable(values: np.ndarray, fxp: FixedPoint, name: str) -> None:
    """Raise DataFormatError (naming ``name`` and the index) if ``fxp`` cannot encode a value."""
    try:
        fxp.encode(values, name=f"{name}: value")
    except EncodingError as exc:
        raise DataFormatError(str(exc)) from None


# -- labels ------------------------------------------------------------------------------


def _read_labels(
    p: Path,
    labels: str | Path | np.ndarray | None,
    labels_array: str | None,
    fmt: Format | None,
    delimiter: str | None,
    header: bool | None,
) -> np.ndarray | None:
    """Labels from an array, a file of their own (format detected), or an .npz array."""
    if labels is not None and labels_array is not None:
        raise DataFormatError(f"{p}: give labels as a file/array or as an .npz array name, not both")
    if labels_array is not None:
        if (fmt or detect_format(p)) != "npz":
            raise DataFormatError(f"{p}: a labels array name only applies to .npz files")
        return _as_float(_read_npz(p, labels_array), p)
    if labels is None:
        return None
    if isinstance(labels, np.ndarray):
        return _as_float(labels, Path(f"{p} labels"))
    return read_array(Path(labels), delimiter=delimiter, header=header)


# -- checks --------------------------------------------------------------------------------


def _check_rows(a: np.ndarray, name: str, what: str) -> np.ndarray:
    if a.ndim == 0:
        raise DataFormatError(f"{name}: {what} is a single number; need at least one row")
    if a.shape[0] == 0:
        raise DataFormatError(f"{name}: {what} has no rows")
    if a.size == 0:
        raise DataFormatError(f"{name}: {what} rows are empty (shape {a.shape})")
    return a


def _as_float(raw: np.ndarray, p: Path) -> np.ndarray:
    a = np.asarray(raw)
    if a.dtype == object:
        raise DataFormatError(f"{p}: holds Python objects, not numbers")
    if a.dtype.kind not in "biuf":
        raise DataFormatError(f"{p}: holds {a.dtype} values; need real numbers")
    return a.astype(np.float64, copy=False)


def _read_head(p: Path, n: int) -> bytes:
    try:
        with p.open("rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise DataFormatError(f"{p}: cannot read ({exc.strerror})") from None


# -- formats -------------------------------------------------------------------------------


def _read_maybe_gzip(p: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic number."""
    raw = p.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(f"{p}: corrupt or truncated gzip data ({exc})") from None


def _read_npy(p: Path) -> np.ndarray:
    try:
        return np.load(io.BytesIO(_read_maybe_gzip(p)), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataFormatError(f"{p}: holds Python objects, not numbers") from None
        raise DataFormatError(f"{p}: truncated or corrupt .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise DataFormatError(f"{p}: truncated or corrupt .npy file ({exc})") from None


def _read_npz(p: Path, array: str | None) -> np.ndarray:
    try:
        with np.load(p, allow_pickle=False) as npz:
            names = list(npz.files)
            if not names:
                raise DataFormatError(f"{p}: the .npz holds no arrays")
            if array is None:
                if len(names) > 1:
                    raise DataFormatError(
                        f"{p}: holds several arrays ({', '.join(names)}); say which one to use"
                    )
                array = names[0]
            if array not in names:
                raise DataFormatError(
                    f"{p}: no array named {array!r} (it holds {', '.join(names)})"
                )
            return npz[array]
    except DataFormatError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataFormatError(f"{p}: array {array!r} holds Python objects, not numbers") from None
        raise DataFormatError(f"{p}: truncated or corrupt .npz file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise DataFormatError(f"{p}: truncated or corrupt .npz file ({exc})") from None


def _read_csv(p: Path, delimiter: str | None, header: bool | None) -> np.ndarray:
    """Numeric CSV: fast C parser first; on failure a line-by-line pass names the problem."""
    try:
        text = _read_maybe_gzip(p).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{p}: not a UTF-8 text file (byte {exc.start})") from None
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        raise DataFormatError(f"{p}: no data (only blank lines)")
    delim = delimiter if delimiter is not None else _detect_delimiter(lines[0][1])
    if header is None:
        header = (
            len(lines) > 1
            and not _all_numeric(_split(lines[0][1], delim))
            and _all_numeric(_split(lines[1][1], delim))
        )
    if header:
        skip = lines[0][0]
        lines = lines[1:]
        if not lines:
            raise DataFormatError(f"{p}: only a header line, no data rows")
    else:
        skip = 0
    try:
        return np.loadtxt(
            io.StringIO(text),
            delimiter=None if delim == " " else delim,
            skiprows=skip,
            ndmin=2,
            comments=None,
            quotechar='"',
            dtype=np.float64,
        )
    except ValueError:
        _locate_csv_error(lines, delim, p)
        raise DataFormatError(f"{p}: cannot parse as a numeric table") from None


def _locate_csv_error(lines: list[tuple[int, str]], delim: str, p: Path) -> None:
    """Raise a DataFormatError naming the first ragged line or unparseable cell."""
    width = len(_split(lines[0][1], delim))
    for lineno, line in lines:
        cells = _split(line, delim)
        if len(cells) != width:
            raise DataFormatError(
                f"{p}: line {lineno} has {_columns(len(cells))}, expected {width} "
                f"(as on line {lines[0][0]})"
            )
        for col, cell in enumerate(cells, start=1):
            try:
                float(cell)
            except ValueError:
                what = "an empty cell" if cell == "" else f"non-numeric cell {cell[:40]!r}"
                raise DataFormatError(f"{p}: line {lineno}, column {col}: {what}") from None


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


def _all_numeric(cells: list[str]) -> bool:
    try:
        for c in cells:
            float(c)
    except ValueError:
        return False
    return True
