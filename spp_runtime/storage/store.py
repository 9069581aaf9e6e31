"""A primary server's share store: datasets on disk, uploads with a two-phase commit.

Layout under the data directory (one per primary server; P2 has none)::

    store.json                      which party owns the directory
    datasets/<name>/manifest.json   a committed dataset: its manifest ...
    datasets/<name>/<part>.u64      ... and this server's share of each part (raw <u8, C order)
    datasets/<name>/grants.json     the owner's grants (replaced atomically; see ``grants``)
    staging/<upload_id>/            an upload not yet committed (upload.json + part files)
    trash/                          trees being deleted (emptied on open)

Directories are 0700 and files 0600 (the root is set to 0700 when the store opens, so shares
written by older versions with looser modes are closed to other users too).

An upload goes ``begin`` -> ``write_chunk`` x n -> ``prepare`` -> ``commit`` (or ``abort``).
Only ``commit`` makes a dataset visible, by one atomic rename of its staging directory into
``datasets/``; nothing under ``staging/`` is ever listed or loaded. Share files and manifests of
a committed dataset are never written again; only its ``grants.json`` is replaced (atomically). Every metadata file is
written atomically (temporary file, fsync, rename, fsync of the directory); share files are
fsynced and re-hashed from disk in ``prepare``, before the server votes yes.

Restart rules (:meth:`ShareStore.__init__` runs them): an upload still *receiving* when the
process stopped is discarded (its client has gone; it must begin again); a *prepared* upload
is kept, invisible, until the coordinator commits or aborts it (two-phase commit: a server
that voted yes must be able to commit after a restart); an upload whose commit had begun
(manifest written, rename not yet done) is rolled forward. Committed datasets are never
rewritten, only renamed away by ``delete``, so no fault in an upload can damage them.

One process owns a data directory; within it, a lock serialises the store's operations.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

import numpy as np

from .. import PARTY_NAMES
from ..api.access import Rights
from ..errors import ConfigError
from . import grants as grant_files
from .atomic import (
    DIR_MODE,
    FILE_MODE,
    atomic_write_json,
    durable_rename,
    fsync_dir,
    fsync_file,
    make_dir,
    read_json,
    remove_temporaries,
    remove_tree,
)
from .errors import (
    ChecksumMismatch,
    ChunkRejected,
    CorruptDataset,
    DatasetExists,
    DatasetNotFound,
    InvalidMetadata,
    StorageError,
    UploadNotFound,
    UploadStateError,
)
from .meta import (
    SHARE_DTYPE,
    Manifest,
    UploadMeta,
    validate_digest,
    validate_name,
    validate_upload_id,
)

STORE_FILE = "store.json"
MANIFEST = "manifest.json"
UPLOAD_FILE = "upload.json"
STORE_VERSION = 1
DEFAULT_STALE_AFTER = 600.0
_HASH_BLOCK = 1 << 22


class UploadStatus(str, Enum):
    """Where an upload stands on one server."""

    UNKNOWN = "unknown"  # never begun here, aborted, or discarded after a restart
    RECEIVING = "receiving"
    PREPARED = "prepared"
    COMMITTED = "committed"


@dataclass(frozen=True)
class ChunkAck:
    """A server's answer to a chunk: its index and whether it had already been stored."""

    index: int
    duplicate: bool


@dataclass
class RecoveryReport:
    """What opening the store found and did (names and upload ids only)."""

    discarded: list[str] = field(default_factory=list)
    rolled_forward: list[str] = field(default_factory=list)
    in_doubt: list[str] = field(default_factory=list)
    corrupt: dict[str, str] = field(default_factory=dict)


@dataclass
class _Upload:
    meta: UploadMeta
    path: Path
    state: UploadStatus
    next_chunk: int = 0
    chunk_digests: list[dict[str, str]] = field(default_factory=list)
    hashes: dict[str, hashlib._Hash] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    last_activity: float = 0.0


class ShareStore:
    """One primary server's shares of every dataset, under ``data_dir``.

    ``verify_on_open`` re-hashes every committed dataset when opening (else only sizes and
    manifests are checked, and :meth:`verify` / ``load(verify=True)`` hash on demand).
    ``stale_after`` (seconds without a chunk) lets a new upload of the same name replace an
    abandoned one. ``max_dataset_bytes`` caps one dataset's share.
    """

    def __init__(
        self,
        data_dir: str | Path,
        party: int,
        *,
        verify_on_open: bool = False,
        stale_after: float = DEFAULT_STALE_AFTER,
        max_dataset_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if party == 2:
            raise ConfigError("P2 (the helper) stores no data; only p0 and p1 have a share store")
        if party not in (0, 1):
            raise ConfigError(f"party must be 0 or 1, got {party}")
        self.root = Path(data_dir)
        self.party = party
        self.stale_after = stale_after
        self.max_dataset_bytes = max_dataset_bytes
        self._clock = clock
        self._lock = threading.RLock()
        self._uploads: dict[str, _Upload] = {}
        self._datasets = self.root / "datasets"
        self._staging = self.root / "staging"
        self._trash = self.root / "trash"
        self._claim_directory()
        self.recovery = self._recover(verify_on_open)

    @property
    def name(self) -> str:
        return PARTY_NAMES[self.party]

    # -- opening ------------------------------------------------------------------------------
    def _claim_directory(self) -> None:
        for d in (self.root, self._datasets, self._staging, self._trash):
            make_dir(d)
        try:
            os.chmod(self.root, DIR_MODE)  # closes older, looser stores to other users
        except OSError as exc:
            raise ConfigError(f"cannot make {self.root} private (mode 0700): {exc.strerror}") from None
        marker = self.root / STORE_FILE
        if marker.exists():
            try:
                info = read_json(marker)
                owner = info["party"]
            except (ValueError, KeyError, TypeError):
                raise ConfigError(f"{marker}: unreadable store marker") from None
            if owner != self.party:
                who = PARTY_NAMES[owner] if owner in (0, 1) else repr(owner)
                raise ConfigError(
                    f"data directory {self.root} belongs to {who}, not {self.name}; "
                    f"check the data volume mounts"
                )
        else:
            atomic_write_json(marker, {"party": self.party, "version": STORE_VERSION})

    def _recover(self, verify: bool) -> RecoveryReport:
        report = RecoveryReport()
        for leftover in list(self._trash.iterdir()):
            shutil.rmtree(leftover, ignore_errors=True)
        remove_temporaries(self.root)
        for sdir in sorted(self._staging.iterdir()):
            self._recover_staging(sdir, report)
        for ddir in sorted(self._datasets.iterdir()):
            remove_temporaries(ddir)
            try:
                manifest = self._read_manifest(ddir)
                self._check_sizes(manifest, ddir)
                if verify:
                    self._verify_dir(manifest, ddir)
            except (CorruptDataset, InvalidMetadata) as exc:
                report.corrupt[ddir.name] = str(exc)
        return report

    def _recover_staging(self, sdir: Path, report: RecoveryReport) -> None:
        label = sdir.name
        if (sdir / MANIFEST).exists():  # commit had begun here: finish it
            try:
                manifest = self._read_manifest(sdir)
            except (CorruptDataset, InvalidMetadata):
                remove_tree(sdir, self._trash)
                report.discarded.append(label)
                return
            target = self._datasets / manifest.name
            if target.exists():
                remove_tree(sdir, self._trash)
                report.discarded.append(label)
                return
            (sdir / UPLOAD_FILE).unlink(missing_ok=True)
            durable_rename(sdir, target)
            report.rolled_forward.append(manifest.name)
            return
        try:
            info = read_json(sdir / UPLOAD_FILE)
            meta = UploadMeta.from_dict(info["meta"])
            state = UploadStatus(info["state"])
            if meta.upload_id != sdir.name:
                raise InvalidMetadata("upload id does not match its directory")
            if state is not UploadStatus.PREPARED:
                raise InvalidMetadata("interrupted while receiving")
            sha = {p: validate_digest(info["sha256"][p], f"digest of {p}") for p in meta.parts}
        except (OSError, ValueError, KeyError, TypeError, InvalidMetadata):
            remove_tree(sdir, self._trash)
            report.discarded.append(label)
            return
        self._uploads[meta.upload_id] = _Upload(
            meta=meta,
            path=sdir,
            state=UploadStatus.PREPARED,
            next_chunk=meta.n_chunks,
            sha256=sha,
            last_activity=self._clock(),
        )
        report.in_doubt.append(meta.upload_id)

    # -- uploads ------------------------------------------------------------------------------
    def begin(self, meta: UploadMeta) -> None:
        """Start receiving an upload; a repeated ``begin`` of a receiving upload restarts it.

        Raises DatasetExists when the name is taken by a committed dataset, a prepared upload,
        or a live upload (one that sent a chunk within ``stale_after`` seconds).
        """
        with self._lock:
            uid = meta.upload_id
            old = self._uploads.get(uid)
            if old is not None:
                if old.state is UploadStatus.PREPARED:
                    raise UploadStateError(
                        f"upload {uid} is already prepared on {self.name}; commit or abort it"
                    )
                self._discard(old)
            if (self._datasets / meta.name).exists():
                try:
                    m = self._read_manifest(self._datasets / meta.name)
                    who = f" (owner {m.owner}, created {m.created})"
                except (CorruptDataset, InvalidMetadata):
                    who = " (its manifest is unreadable)"
                raise DatasetExists(
                    f"dataset {meta.name!r} already exists on {self.name}{who}; "
                    f"delete it first or choose another name"
                )
            for other in list(self._uploads.values()):
                if other.meta.name != meta.name:
                    continue
                if other.state is UploadStatus.PREPARED:
                    raise DatasetExists(
                        f"dataset {meta.name!r} has an upload awaiting commit on {self.name} "
                        f"(upload {other.meta.upload_id})"
                    )
                if self._clock() - other.last_activity < self.stale_after:
                    raise DatasetExists(
                        f"an upload of dataset {meta.name!r} is in progress on {self.name} "
                        f"(upload {other.meta.upload_id}); retry after it finishes or "
                        f"{self.stale_after:g} s after its last chunk"
                    )
                self._discard(other)
            size = meta.share_bytes()
            if self.max_dataset_bytes is not None and size > self.max_dataset_bytes:
                raise StorageError(
                    f"dataset {meta.name!r} needs {size} bytes on {self.name}, more than the "
                    f"limit of {self.max_dataset_bytes}"
                )
            free = shutil.disk_usage(self.root).free
            if size > free:
                raise StorageError(
                    f"not enough disk space on {self.name} for dataset {meta.name!r}: needs "
                    f"{size} bytes, {free} free"
                )
            sdir = self._staging / uid
            with self._disk(f"cannot stage upload {uid}"):
                if sdir.exists():
                    remove_tree(sdir, self._trash)
                make_dir(sdir)
                for part in meta.parts:
                    (sdir / f"{part}.u64").touch(mode=FILE_MODE)
                atomic_write_json(
                    sdir / UPLOAD_FILE,
                    {"meta": meta.to_dict(), "state": UploadStatus.RECEIVING.value},
                )
            self._uploads[uid] = _Upload(
                meta=meta,
                path=sdir,
                state=UploadStatus.RECEIVING,
                hashes={p: hashlib.sha256() for p in meta.parts},
                last_activity=self._clock(),
            )

    def write_chunk(
        self,
        upload_id: str,
        index: int,
        arrays: Mapping[str, np.ndarray],
        digests: Mapping[str, str],
    ) -> ChunkAck:
        """Store chunk ``index`` (this server's shares of its rows of every part).

        Chunks must come in order. Re-sending a stored chunk with the same digests is a no-op
        (so a client may retry after a lost acknowledgement); different digests are rejected.
        The digests are checked against the received bytes before anything is written.
        """
        with self._lock:
            up = self._receiving(upload_id)
            meta = up.meta
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < meta.n_chunks:
                raise ChunkRejected(
                    f"upload {upload_id}: chunk index {index!r} outside 0..{meta.n_chunks - 1}"
                )
            if set(digests) != set(meta.parts) or set(arrays) != set(meta.parts):
                raise ChunkRejected(
                    f"upload {upload_id} chunk {index}: parts {sorted(arrays)} / digests "
                    f"{sorted(digests)} do not match the declared parts {sorted(meta.parts)}"
                )
            claimed = {p: validate_digest(d, f"chunk {index} digest of {p}") for p, d in digests.items()}
            if index < up.next_chunk:
                if up.chunk_digests[index] == claimed:
                    up.last_activity = self._clock()
                    return ChunkAck(index, duplicate=True)
                raise ChunkRejected(
                    f"upload {upload_id}: chunk {index} was already stored with different content"
                )
            if index > up.next_chunk:
                raise ChunkRejected(
                    f"upload {upload_id}: expected chunk {up.next_chunk}, got chunk {index}"
                )
            start, rows = meta.chunk_rows_of(index)
            blobs: dict[str, memoryview] = {}
            for part, arr in arrays.items():
                a = np.asarray(arr)
                want = (rows, *meta.parts[part])
                if a.dtype.kind != "u" or a.dtype.itemsize != 8 or a.shape != want:
                    raise ChunkRejected(
                        f"upload {upload_id} chunk {index} part {part}: expected uint64 {want}, "
                        f"got {a.dtype} {a.shape}"
                    )
                blob = np.ascontiguousarray(a, dtype=SHARE_DTYPE).data.cast("B")
                if hashlib.sha256(blob).hexdigest() != claimed[part]:
                    raise ChunkRejected(
                        f"upload {upload_id} chunk {index} part {part}: checksum mismatch "
                        f"(data corrupted in transit); resend the chunk"
                    )
                blobs[part] = blob
            with self._disk(f"cannot store chunk {index} of upload {upload_id}"):
                for part, blob in blobs.items():
                    offset = start * meta.row_elements(part) * SHARE_DTYPE.itemsize
                    with open(up.path / f"{part}.u64", "r+b") as fh:
                        fh.seek(offset)
                        fh.write(blob)
                        fh.truncate()
            for part, blob in blobs.items():
                up.hashes[part].update(blob)
            up.chunk_digests.append(claimed)
            up.next_chunk += 1
            up.last_activity = self._clock()
            return ChunkAck(index, duplicate=False)

    def prepare(self, upload_id: str, sha256: Mapping[str, str]) -> None:
        """Vote yes: all chunks are here, the whole-part checksums match, data is on disk.

        ``sha256`` is the owner's digest of this server's share of each part. After this
        returns, the upload survives a restart and waits for :meth:`commit` or :meth:`abort`.
        Repeating it on a prepared upload with the same digests is a no-op.
        """
        with self._lock:
            up = self._uploads.get(upload_id)
            if up is None:
                raise self._not_found(upload_id)
            if set(sha256) != set(up.meta.parts):
                raise InvalidMetadata(
                    f"upload {upload_id}: need one digest per part {sorted(up.meta.parts)}"
                )
            claimed = {p: validate_digest(d, f"digest of part {p}") for p, d in sha256.items()}
            if up.state is UploadStatus.PREPARED:
                if claimed != up.sha256:
                    raise ChecksumMismatch(
                        f"upload {upload_id} is prepared on {self.name} with different checksums"
                    )
                return
            if up.next_chunk != up.meta.n_chunks:
                raise UploadStateError(
                    f"upload {upload_id} has {up.next_chunk} of {up.meta.n_chunks} chunks on "
                    f"{self.name}; cannot prepare"
                )
            for part in up.meta.parts:
                if up.hashes[part].hexdigest() != claimed[part]:
                    raise ChecksumMismatch(
                        f"upload {upload_id} part {part}: the share received by {self.name} "
                        f"does not match the owner's whole-dataset checksum"
                    )
            with self._disk(f"cannot prepare upload {upload_id}"):
                for part in up.meta.parts:
                    path = up.path / f"{part}.u64"
                    fsync_file(path)
                    if _hash_file(path) != claimed[part]:
                        raise ChecksumMismatch(
                            f"upload {upload_id} part {part}: the staged file on {self.name} "
                            f"does not match its checksum after writing (disk error?)"
                        )
                fsync_dir(up.path)
                atomic_write_json(
                    up.path / UPLOAD_FILE,
                    {"meta": up.meta.to_dict(), "state": UploadStatus.PREPARED.value, "sha256": claimed},
                )
            up.state = UploadStatus.PREPARED
            up.sha256 = claimed
            up.hashes = {}

    def commit(self, upload_id: str) -> Manifest:
        """Make a prepared upload visible as a dataset (idempotent: a committed id returns its
        manifest)."""
        with self._lock:
            up = self._uploads.get(upload_id)
            if up is None:
                done = self._committed_manifest(upload_id)
                if done is not None:
                    return done
                raise self._not_found(upload_id)
            if up.state is not UploadStatus.PREPARED:
                raise UploadStateError(
                    f"upload {upload_id} is not prepared on {self.name}; cannot commit"
                )
            target = self._datasets / up.meta.name
            if target.exists():
                raise DatasetExists(f"dataset {up.meta.name!r} already exists on {self.name}")
            manifest = Manifest(
                name=up.meta.name,
                owner=up.meta.owner,
                party=self.party,
                frac_bits=up.meta.frac_bits,
                rows=up.meta.rows,
                parts=dict(up.meta.parts),
                sha256=dict(up.sha256),
                upload_id=upload_id,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
                classes=up.meta.classes,
            )
            with self._disk(f"cannot commit upload {upload_id}"):
                atomic_write_json(up.path / MANIFEST, manifest.to_dict())
                (up.path / UPLOAD_FILE).unlink(missing_ok=True)
                fsync_dir(up.path)
                durable_rename(up.path, target)
            del self._uploads[upload_id]
            return manifest

    def abort(self, upload_id: str) -> bool:
        """Discard an upload that is not committed; ``False`` if there was nothing to discard.

        Raises UploadStateError if the upload was already committed (delete the dataset).
        """
        with self._lock:
            up = self._uploads.get(upload_id)
            if up is not None:
                self._discard(up)
                return True
            done = self._committed_manifest(validate_upload_id(upload_id))
            if done is not None:
                raise UploadStateError(
                    f"upload {upload_id} is already committed on {self.name} as dataset "
                    f"{done.name!r}; delete the dataset instead"
                )
            return False

    def abort_unless_committed(self, upload_id: str) -> bool:
        """The commit point's answer to an in-doubt peer: ``True`` if committed here, else
        abort it here (atomically, so a later commit fails) and return ``False``."""
        with self._lock:
            if self.status(upload_id) is UploadStatus.COMMITTED:
                return True
            self.abort(upload_id)
            return False

    def status(self, upload_id: str) -> UploadStatus:
        """Where an upload stands on this server."""
        with self._lock:
            up = self._uploads.get(validate_upload_id(upload_id))
            if up is not None:
                return up.state
            if self._committed_manifest(upload_id) is not None:
                return UploadStatus.COMMITTED
            return UploadStatus.UNKNOWN

    def pending(self, owner: str | None = None) -> list[tuple[str, str, UploadStatus]]:
        """Uploads not yet committed: ``(upload_id, dataset name, status)``; only those begun
        by ``owner`` if given."""
        with self._lock:
            return [(u, up.meta.name, up.state) for u, up in sorted(self._uploads.items())
                    if owner is None or up.meta.owner == owner]

    def upload_owner(self, upload_id: str) -> str | None:
        """Who began an upload (pending or committed); None if this server does not know it."""
        with self._lock:
            up = self._uploads.get(validate_upload_id(upload_id))
            if up is not None:
                return up.meta.owner
            done = self._committed_manifest(upload_id)
            return None if done is None else done.owner

    # -- grants -------------------------------------------------------------------------------
    def grants(self, name: str) -> tuple[Manifest, dict[str, grant_files.Grant]]:
        """A committed dataset's manifest and the grants its owner gave (see ``grants``)."""
        with self._lock:
            ddir = self._dataset_dir(name)
            manifest = self._read_manifest(ddir)
            return manifest, grant_files.read(ddir, manifest.upload_id)

    def set_grant(self, name: str, grantee: str, allow: Rights) -> grant_files.Grant:
        """Give ``grantee`` exactly the rights ``allow`` on dataset ``name`` (replacing what it
        had); written atomically beside the manifest before this returns."""
        with self._lock:
            manifest, current = self.grants(name)
            grant = grant_files.new_grant(grant_files.validate_client(grantee), allow)
            with self._disk(f"cannot record the grant on dataset {name!r}"):
                grant_files.write(self._dataset_dir(name), name, manifest.upload_id,
                                  {**current, grantee: grant})
            return grant

    def revoke(self, name: str, grantee: str) -> bool:
        """Take every right on dataset ``name`` from ``grantee``; False if it held none."""
        with self._lock:
            manifest, current = self.grants(name)
            if grantee not in current:
                return False
            del current[grantee]
            with self._disk(f"cannot record the revocation on dataset {name!r}"):
                grant_files.write(self._dataset_dir(name), name, manifest.upload_id, current)
            return True

    def usage(self) -> list[tuple[str, str, int]]:
        """``(upload id, owner, share bytes)`` of every committed dataset and every upload not
        yet committed (owner quotas count both)."""
        with self._lock:
            held = [(u, up.meta.owner, up.meta.share_bytes()) for u, up in self._uploads.items()]
        return held + [(m.upload_id, m.owner, m.share_bytes()) for m in self.list()]

    # -- committed datasets -------------------------------------------------------------------
    def list(self) -> list[Manifest]:
        """Manifests of all committed datasets with a readable manifest, by name."""
        out = []
        for d in sorted(self._datasets.iterdir()):
            try:
                out.append(self._read_manifest(d))
            except (CorruptDataset, InvalidMetadata):
                continue
        return out

    def show(self, name: str) -> Manifest:
        """The manifest of one committed dataset."""
        return self._read_manifest(self._dataset_dir(name))

    def load(self, name: str, part: str = "x", *, verify: bool = False, mmap: bool = True) -> np.ndarray:
        """This server's share of one part (read-only, memory-mapped unless ``mmap=False``)."""
        ddir = self._dataset_dir(name)
        manifest = self._read_manifest(ddir)
        if part not in manifest.parts:
            raise DatasetNotFound(
                f"dataset {name!r} has no part {part!r} (parts: {', '.join(manifest.parts)})"
            )
        self._check_sizes(manifest, ddir)
        path = ddir / f"{part}.u64"
        if verify and _hash_file(path) != manifest.sha256[part]:
            raise CorruptDataset(f"dataset {name!r} part {part} on {self.name}: checksum mismatch ({path})")
        shape = manifest.shape(part)
        if mmap:
            return np.memmap(path, dtype=SHARE_DTYPE, mode="r", shape=shape)
        return np.fromfile(path, dtype=SHARE_DTYPE).reshape(shape)

    def verify(self, name: str) -> Manifest:
        """Re-hash a committed dataset's files; CorruptDataset names what does not match."""
        ddir = self._dataset_dir(name)
        manifest = self._read_manifest(ddir)
        self._verify_dir(manifest, ddir)
        return manifest

    def verify_all(self) -> dict[str, str]:
        """Verify every committed dataset; returns ``{name: problem}`` for those that fail."""
        problems: dict[str, str] = {}
        for d in sorted(self._datasets.iterdir()):
            try:
                self._verify_dir(self._read_manifest(d), d)
            except (CorruptDataset, InvalidMetadata) as exc:
                problems[d.name] = str(exc)
        return problems

    def delete(self, name: str) -> None:
        """Remove a committed dataset (atomically: it vanishes in one rename)."""
        with self._lock:
            ddir = self._dataset_dir(name)
            remove_tree(ddir, self._trash)

    # -- internals ----------------------------------------------------------------------------
    @contextmanager
    def _disk(self, what: str) -> Iterator[None]:
        """Turn an OS-level I/O failure (disk full, permissions) into a StorageError."""
        try:
            yield
        except OSError as exc:
            raise StorageError(f"{what} on {self.name}: {exc.strerror or exc}") from None

    def _receiving(self, upload_id: str) -> _Upload:
        up = self._uploads.get(upload_id)
        if up is None:
            raise self._not_found(upload_id)
        if up.state is not UploadStatus.RECEIVING:
            raise UploadStateError(f"upload {upload_id} is {up.state.value} on {self.name}; no more chunks")
        return up

    def _not_found(self, upload_id: str) -> UploadNotFound:
        return UploadNotFound(
            f"no upload {str(upload_id)[:80]} in progress on {self.name} (never begun, aborted, "
            f"or discarded after an interruption); begin the upload again"
        )

    def _discard(self, up: _Upload) -> None:
        remove_tree(up.path, self._trash)
        self._uploads.pop(up.meta.upload_id, None)

    def _dataset_dir(self, name: str) -> Path:
        ddir = self._datasets / validate_name(name)
        if not ddir.is_dir():
            raise DatasetNotFound(f"no dataset named {name!r} on {self.name}")
        return ddir

    def _committed_manifest(self, upload_id: str) -> Manifest | None:
        for m in self.list():
            if m.upload_id == upload_id:
                return m
        return None

    def _read_manifest(self, ddir: Path) -> Manifest:
        path = ddir / MANIFEST
        try:
            manifest = Manifest.from_dict(read_json(path))
        except FileNotFoundError:
            raise CorruptDataset(f"dataset {ddir.name!r} on {self.name}: manifest missing ({path})") from None
        except (ValueError, InvalidMetadata) as exc:
            raise CorruptDataset(
                f"dataset {ddir.name!r} on {self.name}: unreadable manifest ({path}: {exc})"
            ) from None
        if manifest.party != self.party:
            raise CorruptDataset(f"dataset {ddir.name!r}: manifest is for p{manifest.party}, not {self.name}")
        return manifest

    def _check_sizes(self, manifest: Manifest, ddir: Path) -> None:
        for part in manifest.parts:
            path = ddir / f"{part}.u64"
            want = int(np.prod(manifest.shape(part), dtype=np.int64)) * SHARE_DTYPE.itemsize
            have = path.stat().st_size if path.exists() else -1
            if have != want:
                what = "missing" if have < 0 else f"{have} bytes, expected {want}"
                raise CorruptDataset(f"dataset {manifest.name!r} part {part} on {self.name}: file {what} ({path})")

    def _verify_dir(self, manifest: Manifest, ddir: Path) -> None:
        self._check_sizes(manifest, ddir)
        for part in manifest.parts:
            path = ddir / f"{part}.u64"
            if _hash_file(path) != manifest.sha256[part]:
                raise CorruptDataset(
                    f"dataset {manifest.name!r} part {part} on {self.name}: checksum mismatch ({path})"
                )


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()
