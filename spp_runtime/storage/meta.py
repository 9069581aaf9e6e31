"""What an upload declares (:class:`UploadMeta`) and what a server records (:class:`Manifest`).

Both travel as plain dicts (JSON on disk, msgpack on the wire) and are checked field by field
when read back, because they come from a client or from disk. A dataset has one or more
*parts* (``x`` for features, ``y`` for labels) sharing a row count; each server stores its
share of each part as raw little-endian uint64 in C order, and a part's checksum is the sha256
of exactly those bytes, so the owner can compute it while streaming and a server can check
it against the file.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..api import names
from ..api.storage_messages import MAX_NDIM, SHARE_DTYPE
from .errors import InvalidMetadata

FORMAT_VERSION = 1
MAX_PARTS = 8
MAX_ROWS = 1 << 40


def validate_name(name: object) -> str:
    """A dataset name: 1-64 of letters, digits, ``.``, ``_``, ``-``, starting alphanumeric."""
    if not names.is_dataset_name(name):
        raise InvalidMetadata(
            f"invalid dataset name {str(name)[:80]!r}: use 1-64 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit"
        )
    return name


def validate_upload_id(upload_id: object) -> str:
    """An upload id: 16-64 lowercase hex digits (see :func:`new_upload_id`)."""
    if not names.is_upload_id(upload_id):
        raise InvalidMetadata(f"invalid upload id {str(upload_id)[:80]!r}: need 16-64 hex digits")
    return upload_id


def validate_digest(digest: object, what: str) -> str:
    """A sha256 digest as 64 lowercase hex digits."""
    if not names.is_sha256(digest):
        raise InvalidMetadata(f"{what}: not a sha256 hex digest")
    return digest


def new_upload_id() -> str:
    """A fresh random upload id (128 bits from the OS CSPRNG)."""
    return os.urandom(16).hex()


def share_digest(arrays: Iterable[np.ndarray]) -> str:
    """sha256 of the little-endian uint64 bytes of ``arrays``, in order (C order each)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=SHARE_DTYPE).data.cast("B"))
    return h.hexdigest()


def _int(value: object, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidMetadata(f"{what} must be an integer in [{lo}, {hi}], got {str(value)[:40]}")
    return value


def _shape(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_NDIM:
        raise InvalidMetadata(f"{what} must be a list of at most {MAX_NDIM} sizes")
    return tuple(_int(v, what, 1, MAX_ROWS) for v in value)


def _parts(value: object) -> dict[str, tuple[int, ...]]:
    if not isinstance(value, Mapping) or not 1 <= len(value) <= MAX_PARTS:
        raise InvalidMetadata(f"parts must map 1-{MAX_PARTS} part names to row shapes")
    out: dict[str, tuple[int, ...]] = {}
    for k, v in value.items():
        if not names.is_part(k):
            raise InvalidMetadata(f"invalid part name {str(k)[:40]!r}")
        out[k] = _shape(v, f"row shape of part {k}")
    if "x" not in out:
        raise InvalidMetadata("parts must include 'x' (the features)")
    return out


def _str(value: object, what: str, max_len: int = 128) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_len or not value.isprintable():
        raise InvalidMetadata(f"{what} must be 1-{max_len} printable characters")
    return value


def _classes(value: object, parts: Mapping[str, tuple[int, ...]]) -> int | None:
    if value is None:
        return None
    if "y" not in parts:
        raise InvalidMetadata("classes describes the labels (part 'y'), which this dataset lacks")
    return _int(value, "classes", 1, 1 << 31)


def _share_bytes(rows: int, parts: Mapping[str, tuple[int, ...]]) -> int:
    return sum(rows * math.prod(shape) * SHARE_DTYPE.itemsize for shape in parts.values())


@dataclass(frozen=True)
class UploadMeta:
    """An upload's declaration, sent by the owner to both servers in ``begin``.

    ``parts`` maps each part name to its row shape (the shape of one row); every part has
    ``rows`` rows. Chunk ``i`` holds rows ``[i * chunk_rows, min((i + 1) * chunk_rows, rows))``
    of every part. ``classes`` (optional, None when unknown) is the owner's statement, made from
    the plaintext it holds, that every label in part ``y`` is an integer in ``[0, classes)``;
    the servers refuse a train or infer job whose model has fewer classes.
    """

    upload_id: str
    name: str
    owner: str
    frac_bits: int
    rows: int
    chunk_rows: int
    parts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    classes: int | None = None

    def __post_init__(self) -> None:
        validate_upload_id(self.upload_id)
        validate_name(self.name)
        _str(self.owner, "owner")
        _int(self.frac_bits, "frac_bits", 0, 40)
        _int(self.rows, "rows", 1, MAX_ROWS)
        _int(self.chunk_rows, "chunk_rows", 1, MAX_ROWS)
        object.__setattr__(self, "parts", _parts(self.parts))
        _classes(self.classes, self.parts)

    @property
    def n_chunks(self) -> int:
        return -(-self.rows // self.chunk_rows)

    def chunk_rows_of(self, index: int) -> tuple[int, int]:
        """``(row_start, rows)`` of chunk ``index``."""
        if not 0 <= index < self.n_chunks:
            raise InvalidMetadata(f"chunk index {index} outside 0..{self.n_chunks - 1}")
        start = index * self.chunk_rows
        return start, min(self.chunk_rows, self.rows - start)

    def shape(self, part: str) -> tuple[int, ...]:
        """The full shape ``(rows, *row_shape)`` of one part."""
        return (self.rows, *self.parts[part])

    def row_elements(self, part: str) -> int:
        return math.prod(self.parts[part])  # Python integers: no overflow

    def share_bytes(self) -> int:
        """Bytes of one server's share of the whole dataset."""
        return _share_bytes(self.rows, self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "name": self.name,
            "owner": self.owner,
            "frac_bits": self.frac_bits,
            "rows": self.rows,
            "chunk_rows": self.chunk_rows,
            "parts": {k: list(v) for k, v in self.parts.items()},
            "classes": self.classes,
        }

    @classmethod
    def from_dict(cls, d: object) -> UploadMeta:
        if not isinstance(d, Mapping):
            raise InvalidMetadata("upload metadata must be a mapping")
        keys = {"upload_id", "name", "owner", "frac_bits", "rows", "chunk_rows", "parts"}
        optional = {"classes"}
        missing, extra = keys - set(d), set(d) - keys - optional
        if missing or extra:
            raise InvalidMetadata(
                f"upload metadata fields: missing {sorted(missing)}, unknown {sorted(map(str, extra))}"
            )
        return cls(**{k: d[k] for k in (keys | optional) & set(d)})


@dataclass(frozen=True)
class Manifest:
    """A server's record of one committed dataset (``manifest.json`` beside its share files).

    ``sha256`` maps each part to the digest of this server's stored share of it; ``classes``
    is the upload's (see :class:`UploadMeta`), None when unknown.
    """

    name: str
    owner: str
    party: int
    frac_bits: int
    rows: int
    parts: dict[str, tuple[int, ...]]
    sha256: dict[str, str]
    upload_id: str
    created: str
    state: str = "committed"
    format_version: int = FORMAT_VERSION
    classes: int | None = None

    def shape(self, part: str) -> tuple[int, ...]:
        return (self.rows, *self.parts[part])

    def share_bytes(self) -> int:
        """Bytes of this server's share of the whole dataset."""
        return _share_bytes(self.rows, self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "name": self.name,
            "owner": self.owner,
            "party": self.party,
            "frac_bits": self.frac_bits,
            "rows": self.rows,
            "parts": {k: list(v) for k, v in self.parts.items()},
            "sha256": dict(self.sha256),
            "upload_id": self.upload_id,
            "created": self.created,
            "state": self.state,
            "classes": self.classes,
        }

    def public_dict(self) -> dict[str, Any]:
        """The manifest as a client other than the owner sees it: without the share digests
        (a digest of a share lets whoever holds the other share test guesses of the data)."""
        d = self.to_dict()
        del d["sha256"]
        return d

    @classmethod
    def from_dict(cls, d: object, *, digests_required: bool = True) -> Manifest:
        """Check a manifest read from disk, or (``digests_required=False``) received by a
        client, where only the owner is shown the digests (``sha256`` is then ``{}``)."""
        if not isinstance(d, Mapping):
            raise InvalidMetadata("manifest must be a mapping")
        try:
            if d["format_version"] != FORMAT_VERSION:
                raise InvalidMetadata(f"unsupported manifest format {d['format_version']!r}")
            parts = _parts(d["parts"])
            digests = d["sha256"] if digests_required or "sha256" in d else {}
            if not isinstance(digests, Mapping) or (set(digests) != set(parts) and (digests or digests_required)):
                raise InvalidMetadata("manifest sha256 must have one digest per part")
            return cls(
                name=validate_name(d["name"]),
                owner=_str(d["owner"], "owner"),
                party=_int(d["party"], "party", 0, 1),
                frac_bits=_int(d["frac_bits"], "frac_bits", 0, 40),
                rows=_int(d["rows"], "rows", 1, MAX_ROWS),
                parts=parts,
                sha256={k: validate_digest(v, f"digest of part {k}") for k, v in digests.items()},
                upload_id=validate_upload_id(d["upload_id"]),
                created=_str(d["created"], "created", 64),
                state=_str(d["state"], "state", 32),
                classes=_classes(d.get("classes"), parts),
            )
        except KeyError as exc:
            raise InvalidMetadata(f"manifest lacks field {exc.args[0]!r}") from None
