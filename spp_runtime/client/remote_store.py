"""P0's and P1's share stores seen from the data owner's machine, over the CURVE channel.

:class:`RemoteStore` has the store's upload methods (:class:`UploadParticipant`), so
``push_upload`` / ``run_commit`` drive two remote stores exactly as they drive two local ones.
:func:`upload` secret-shares and pushes a dataset; :func:`list_datasets` merges both servers'
lists into one view (a dataset is *complete* when both list it with the same upload id).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .. import PARTY_NAMES
from ..data.readers import Dataset
from ..errors import SppError
from ..storage.errors import StorageError
from ..storage.meta import Manifest, UploadMeta
from ..storage.store import ChunkAck
from .client import Client
from .upload_driver import push_upload
from .upload_prep import DEFAULT_CHUNK_BYTES, ChunkPair, SharedUpload, UploadSummary


class RemoteStore:
    """One primary server's share store behind ``client`` (party 0 or 1)."""

    def __init__(self, client: Client, party: int, *, timeout: float | None = None) -> None:
        if party not in (0, 1):
            raise ValueError("only p0 and p1 store shares")
        self.client = client
        self.party = party
        self.timeout = timeout

    def _ask(self, kind: str, fields: Mapping | None = None, arrays: Mapping[str, np.ndarray] | None = None) -> dict:
        return self.client.request(self.party, kind, fields, arrays, timeout=self.timeout)

    # -- UploadParticipant ---------------------------------------------------------------------
    def begin(self, meta: UploadMeta) -> None:
        self._ask("upload.begin", {"meta": meta.to_dict()})

    def write_chunk(self, upload_id: str, index: int, arrays: Mapping[str, np.ndarray],
                    digests: Mapping[str, str]) -> ChunkAck:
        body = self._ask("upload.chunk", {"upload_id": upload_id, "index": index, "sha256": dict(digests)}, arrays)
        return ChunkAck(int(body.get("index", index)), bool(body.get("duplicate")))

    def prepare(self, upload_id: str, sha256: Mapping[str, str]) -> None:
        self._ask("upload.prepare", {"upload_id": upload_id, "sha256": dict(sha256)})

    def commit(self, upload_id: str) -> Manifest:
        return Manifest.from_dict(self._ask("upload.commit", {"upload_id": upload_id})["manifest"])

    def abort(self, upload_id: str) -> bool:
        return bool(self._ask("upload.abort", {"upload_id": upload_id}).get("discarded"))

    def abort_unless_committed(self, upload_id: str) -> bool:
        body = self._ask("upload.abort", {"upload_id": upload_id, "unless_committed": True})
        return bool(body.get("committed"))

    # -- datasets -------------------------------------------------------------------------------
    def list(self) -> list[Manifest]:
        return self.list_all()[0]

    def list_all(self) -> tuple[builtins.list[Manifest], builtins.list[tuple[str, str, str]]]:
        """Committed datasets and uploads not yet committed ``(upload_id, name, status)``."""
        body = self._ask("datasets.list")
        pending = [(str(u), str(n), str(st)) for u, n, st in body.get("pending", [])]
        return [Manifest.from_dict(d) for d in body.get("datasets", [])], pending

    def show(self, name: str, *, verify: bool = False) -> Manifest:
        return Manifest.from_dict(self._ask("datasets.show", {"name": name, "verify": verify})["manifest"])

    def delete(self, name: str) -> None:
        self._ask("datasets.delete", {"name": name})


@dataclass(frozen=True)
class DatasetView:
    """One dataset as the two servers report it."""

    name: str
    manifest: Manifest  # P0's (or P1's if only P1 has it)
    complete: bool
    note: str = ""


@dataclass(frozen=True)
class PendingUpload:
    """An upload a server holds but has not committed (receiving, or prepared and waiting)."""

    server: str
    upload_id: str
    name: str
    status: str


def upload(
    client: Client,
    dataset: Dataset,
    name: str,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_chunk: Callable[[ChunkPair], None] | None = None,
    max_attempts: int = 3,
) -> UploadSummary:
    """Encode, secret-share (OS CSPRNG) and push ``dataset`` to P0 and P1 as ``name``.

    The owner recorded by the servers is the client key's identity (the ``owner`` field sent
    here is only informative). Raises ``UploadFailed`` / ``UploadInDoubt``.
    """
    owner = client.cfg.default_client or "client"
    shared = SharedUpload(dataset, name=name, owner=owner, fxp=client.cfg.fxp, chunk_bytes=chunk_bytes)
    client.connect(parties=(0, 1))  # both primaries there before either holds the name
    stores = [RemoteStore(client, 0), RemoteStore(client, 1)]
    try:
        return push_upload(shared, stores, max_attempts=max_attempts, on_chunk=on_chunk)
    except KeyboardInterrupt:  # the owner gave up: discard the staging now, not after a timeout
        for s in stores:
            try:
                s.timeout = 2.0
                s.abort(shared.meta.upload_id)
            except (SppError, ConnectionError):
                pass  # the server discards it when it goes stale
        raise


def list_datasets(client: Client, pending: list[PendingUpload] | None = None,
                  unavailable: dict[str, str] | None = None) -> list[DatasetView]:
    """Both servers' datasets, merged by name; uploads not yet committed are appended to
    ``pending`` if given.

    With ``unavailable`` given, a primary that is down or does not answer is recorded there
    (server name -> why) and the other's datasets are listed alone (marked as unconfirmed);
    without it, or when neither answers, the error is raised."""
    lists: list[dict[str, Manifest] | None] = []
    for p in (0, 1):
        try:
            manifests, waiting = RemoteStore(client, p).list_all()
        except (ConnectionError, TimeoutError, SppError) as exc:
            if unavailable is None or isinstance(exc, StorageError):
                raise
            unavailable[PARTY_NAMES[p]] = str(exc)
            lists.append(None)
            continue
        lists.append({m.name: m for m in manifests})
        if pending is not None:
            pending.extend(PendingUpload(PARTY_NAMES[p], *w) for w in waiting)
    if lists[0] is None and lists[1] is None:
        raise SppError("; ".join(f"{k}: {v}" for k, v in (unavailable or {}).items()))
    views = []
    for i, only in enumerate(lists):
        if only is not None and lists[1 - i] is None:
            note = f"{PARTY_NAMES[1 - i]} unavailable"
            return [DatasetView(name, m, False, note) for name, m in sorted(only.items())]
    l0, l1 = lists[0] or {}, lists[1] or {}
    for name in sorted(set(l0) | set(l1)):
        m0, m1 = l0.get(name), l1.get(name)
        if m0 is not None and m1 is not None and m0.upload_id == m1.upload_id:
            views.append(DatasetView(name, m0, True))
        elif m0 is not None and m1 is not None:
            views.append(DatasetView(name, m0, False, "p0 and p1 hold different uploads"))
        else:
            missing = PARTY_NAMES[1] if m1 is None else PARTY_NAMES[0]
            views.append(DatasetView(name, m0 or m1, False, f"incomplete on {missing}"))  # type: ignore[arg-type]
    return views
