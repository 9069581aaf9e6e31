"""The data owner's side of an upload: encode, secret-share and checksum, chunk by chunk.

:class:`SharedUpload` turns a checked dataset into a stream of :class:`ChunkPair` s: for each
block of rows, P0's share and P1's share of every part (``x`` features, ``y`` labels), each
with its sha256. The dataset is either in memory (:class:`~spp_runtime.data.readers.Dataset`)
or still in its files (:class:`~spp_runtime.data.readers.StreamingDataset`, from
``open_dataset``): rows are read, encoded and shared one chunk at a time, so the owner's
memory holds about one chunk whatever the dataset's size. Shares come from
:func:`spp_runtime.sharing.share` (OS CSPRNG), so either one alone is uniformly random.
While streaming it hashes each server's whole share of each part; those digests go to that
server only in ``prepare``. A server must never see the other server's digests: with a
low-entropy secret, ``sha256(x - x0)`` would let it test guesses of ``x`` against its own
share ``x0``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..data.readers import DataFormatError, check_labels
from ..encoding import FixedPoint
from ..sharing import share
from ..storage.meta import SHARE_DTYPE, UploadMeta, new_upload_id

DEFAULT_CHUNK_BYTES = 4 << 20  # one server's share bytes per chunk


class RowBlocks(Protocol):
    """A dataset read a block of rows at a time: ``Dataset`` or ``StreamingDataset``."""

    @property
    def source(self) -> str: ...
    @property
    def rows(self) -> int: ...
    @property
    def row_shapes(self) -> dict[str, tuple[int, ...]]: ...
    def blocks(self, rows: int) -> Iterator[dict[str, np.ndarray]]: ...


@dataclass(frozen=True)
class ServerChunk:
    """One server's shares of one chunk's rows, per part, with their sha256 digests."""

    index: int
    arrays: dict[str, np.ndarray]
    sha256: dict[str, str]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


@dataclass(frozen=True)
class ChunkPair:
    """Chunk ``index`` (rows ``row_start .. row_start + rows``) for P0 and for P1."""

    index: int
    row_start: int
    rows: int
    p0: ServerChunk
    p1: ServerChunk

    def for_party(self, party: int) -> ServerChunk:
        return (self.p0, self.p1)[party]


@dataclass(frozen=True)
class UploadSummary:
    """What the owner is shown at the end: sizes, chunking and each server's checksums."""

    name: str
    upload_id: str
    rows: int
    shapes: dict[str, tuple[int, ...]]
    frac_bits: int
    chunks: int
    bytes_per_server: int
    sha256: tuple[dict[str, str], dict[str, str]]
    note: str = ""

    def lines(self) -> list[str]:
        """Human-readable summary lines (sizes and digests of shares, never values)."""
        shapes = ", ".join(f"{p} {'x'.join(map(str, s))}" for p, s in self.shapes.items())
        out = [
            f"dataset {self.name}: {self.rows} rows ({shapes}), {self.frac_bits} fractional bits",
            f"{self.chunks} chunks, {self.bytes_per_server} bytes of shares to each of p0 and p1",
        ]
        for party, digests in enumerate(self.sha256):
            for part, d in digests.items():
                out.append(f"p{party} {part} sha256 {d}")
        if self.note:
            out.append(f"note: {self.note}")
        return out


def declared_classes(dataset: RowBlocks) -> int | None:
    """What the owner states about its labels from the plaintext it checked: a label vector's
    largest label + 1 (its check pass records the range), a one-hot matrix's width; None without
    labels or when the range is unknown. The servers refuse a train or infer job whose model has
    fewer classes (``Manifest.classes``)."""
    shapes = dataset.row_shapes
    if "y" not in shapes:
        return None
    if len(shapes["y"]) == 1 and shapes["y"][0] > 1:
        return int(shapes["y"][0])
    label_range = getattr(dataset, "label_range", None)
    return None if label_range is None else int(label_range[1]) + 1


class SharedUpload:
    """Encode and share a dataset lazily, one chunk of rows at a time.

    ``chunk_rows`` defaults to as many rows as fit in ``chunk_bytes`` of one server's share.
    :meth:`chunks` is a single pass; the per-server digests and the summary are available
    once it has been consumed in full. To retry a failed upload from scratch, make a new
    ``SharedUpload`` (fresh shares; the servers discard the old staging on ``begin``).
    """

    def __init__(
        self,
        dataset: RowBlocks,
        *,
        name: str,
        owner: str,
        fxp: FixedPoint | None = None,
        chunk_rows: int | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        upload_id: str | None = None,
    ) -> None:
        self.fxp = fxp or FixedPoint()
        self.dataset = dataset
        shapes = dataset.row_shapes
        row_bytes = sum(_elements(s) * SHARE_DTYPE.itemsize for s in shapes.values())
        if chunk_rows is None:
            if chunk_bytes < 1:
                raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
            chunk_rows = max(1, chunk_bytes // row_bytes)
        self.meta = UploadMeta(
            upload_id=upload_id or new_upload_id(),
            name=name,
            owner=owner,
            frac_bits=self.fxp.frac_bits,
            rows=dataset.rows,
            chunk_rows=min(chunk_rows, dataset.rows),
            parts={p: tuple(int(n) for n in s) for p, s in shapes.items()},
            classes=declared_classes(dataset),
        )
        self._hashes = [{p: hashlib.sha256() for p in shapes} for _ in range(2)]
        self._started = False
        self._finished = False

    def chunks(self) -> Iterator[ChunkPair]:
        """Yield every chunk in order, encoding and sharing it only when asked for."""
        if self._started:
            raise RuntimeError("SharedUpload.chunks() is a single pass; make a new SharedUpload to retry")
        self._started = True
        blocks = self.dataset.blocks(self.meta.chunk_rows)
        for index in range(self.meta.n_chunks):
            start, rows = self.meta.chunk_rows_of(index)
            block = next(blocks, None)
            if block is None or set(block) != set(self.meta.parts) or any(len(v) != rows for v in block.values()):
                raise DataFormatError(f"{self.dataset.source}: rows {start}.. are missing (the data changed?)")
            if "y" in block:  # class numbers, or one-hot rows (see readers.check_labels)
                check_labels(block["y"], f"{self.dataset.source} labels", row_offset=start)
            sides: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] = ({}, {})
            for part, values in block.items():
                s0, s1 = share(self.fxp.encode(values, name=f"{part} rows from {start}"))
                sides[0][part], sides[1][part] = s0, s1
            del block, values  # only the shares stay alive while the chunk is sent
            digests = []
            for party in (0, 1):
                d = {}
                for part, arr in sides[party].items():
                    blob = np.ascontiguousarray(arr, dtype=SHARE_DTYPE).data.cast("B")
                    d[part] = hashlib.sha256(blob).hexdigest()
                    self._hashes[party][part].update(blob)
                digests.append(d)
            yield ChunkPair(
                index,
                start,
                rows,
                ServerChunk(index, sides[0], digests[0]),
                ServerChunk(index, sides[1], digests[1]),
            )
        if next(blocks, None) is not None:
            raise DataFormatError(f"{self.dataset.source}: more than {self.meta.rows} rows (the data changed?)")
        self._finished = True

    def sha256(self, party: int) -> dict[str, str]:
        """Server ``party``'s whole-share digest of each part (after all chunks were made)."""
        if not self._finished:
            raise RuntimeError("digests are known only after every chunk has been produced")
        return {p: h.hexdigest() for p, h in self._hashes[party].items()}

    def summary(self) -> UploadSummary:
        """Rows, shapes, chunk count, bytes per server and digests (after all chunks)."""
        return UploadSummary(
            name=self.meta.name,
            upload_id=self.meta.upload_id,
            rows=self.meta.rows,
            shapes={p: self.meta.shape(p) for p in self.meta.parts},
            frac_bits=self.meta.frac_bits,
            chunks=self.meta.n_chunks,
            bytes_per_server=self.meta.share_bytes(),
            sha256=(self.sha256(0), self.sha256(1)),
        )


def _elements(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
