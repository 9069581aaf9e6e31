"""P0's and P1's share stores seen from the data owner's machine, over the CURVE channel.

:class:`RemoteStore` has the store's upload methods (:class:`UploadParticipant`), so
``push_upload`` / ``run_commit`` drive two remote stores exactly as they drive two local ones.
:func:`upload` secret-shares and pushes a dataset; :func:`list_datasets` merges both servers'
lists into one view (a dataset is *complete* when both list it with the same upload id).
:func:`grant` and :func:`revoke` send the owner's grant or revocation to both primaries (each
checks jobs against its own copy, so a job needs both), :func:`list_grants` merges their lists.
Servers show a manifest's share digests to the dataset's owner only (``sha256`` is empty for
everyone else).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .. import PARTY_NAMES
from ..errors import SppError
from ..storage.errors import StorageError
from ..storage.meta import Manifest, UploadMeta
from ..storage.models import ModelManifest
from ..storage.store import ChunkAck
from .client import Client
from .upload_driver import push_upload
from .upload_prep import DEFAULT_CHUNK_BYTES, ChunkPair, RowBlocks, SharedUpload, UploadSummary


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
        return [Manifest.from_dict(d, digests_required=False) for d in body.get("datasets", [])], pending

    def show(self, name: str, *, verify: bool = False) -> Manifest:
        body = self._ask("datasets.show", {"name": name, "verify": verify})
        return Manifest.from_dict(body["manifest"], digests_required=False)

    def delete(self, name: str) -> None:
        self._ask("datasets.delete", {"name": name})

    # -- grants -------------------------------------------------------------------------------
    def grant(self, dataset: str, grantee: str, allow: Iterable[str], *, kind: str = "dataset",
              budget: int | None = None) -> dict:
        """Give ``grantee`` exactly the rights ``allow`` on a dataset (or, with
        ``kind="model"``, a stored model) the client owns; ``budget``: at most that many rows
        of predictions on the model (a fresh count)."""
        header: dict = {kind: dataset, "grantee": grantee, "allow": sorted(allow)}
        if budget is not None:
            header["budget"] = budget
        return self._ask("grants.set", header)

    def revoke(self, dataset: str, grantee: str, *, kind: str = "dataset") -> bool:
        """Take every right on a dataset (or model) the client owns from ``grantee``; False if
        it had none."""
        return bool(self._ask("grants.revoke", {kind: dataset, "grantee": grantee}).get("revoked"))

    def grants(self, name: str | None = None, *, kind: str = "dataset") -> builtins.list[dict]:
        """Grants this server holds that the client may see: on its datasets and models, or to
        it; only on the dataset (or model) ``name`` if given."""
        body = self._ask("grants.list", {} if name is None else {kind: name})
        rows = body.get("grants", [])
        return [dict(r) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []

    # -- stored models --------------------------------------------------------------------------
    def models(self) -> builtins.list[ModelManifest]:
        return [ModelManifest.from_dict(d, digests_required=False) for d in self._ask("models.list").get("models", [])]

    def show_model(self, name: str) -> ModelManifest:
        return ModelManifest.from_dict(self._ask("models.show", {"name": name})["model"], digests_required=False)

    def delete_model(self, name: str) -> None:
        self._ask("models.delete", {"name": name})


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
    dataset: RowBlocks,
    name: str,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_chunk: Callable[[ChunkPair], None] | None = None,
    max_attempts: int = 3,
) -> UploadSummary:
    """Encode, secret-share (OS CSPRNG) and push ``dataset`` to P0 and P1 as ``name``.

    ``dataset`` is a ``Dataset`` in memory or a ``StreamingDataset`` (``open_dataset``), read
    one chunk of rows at a time.

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


@dataclass(frozen=True)
class GrantView:
    """One grant as the two primaries hold it (a job needs it on both)."""

    kind: str  # "dataset" or "model"
    name: str
    owner: str
    grantee: str
    allow: dict[str, str]  # server -> rights ("train,infer"), for the servers that hold it
    granted: str
    budget: dict[str, str] = field(default_factory=dict)  # server -> "used/rows" (models with a budget)

    @property
    def complete(self) -> bool:
        """Both primaries hold the same rights."""
        return len(self.allow) == 2 and len(set(self.allow.values())) == 1


def grant(client: Client, name: str, grantee: str, allow: Iterable[str], *, kind: str = "dataset",
          budget: int | None = None) -> dict[str, object]:
    """Send the grant on a dataset (or model) to P0 and P1; ``{server: answer body or the
    exception}``. Idempotent: a grant that reached one server only is completed by sending
    it again (a grant with a ``budget`` then starts a fresh count on both)."""
    rights = sorted(set(allow))
    return _both(client, lambda s: s.grant(name, grantee, rights, kind=kind, budget=budget))


def revoke(client: Client, name: str, grantee: str, *, kind: str = "dataset") -> dict[str, object]:
    """Send the revocation to P0 and P1; ``{server: revoked (bool) or the exception}``. Jobs
    stop as soon as either server has it (a job needs the grant on both)."""
    return _both(client, lambda s: s.revoke(name, grantee, kind=kind))


def list_grants(client: Client, name: str | None = None, *, kind: str = "dataset") -> list[GrantView]:
    """Both servers' grants the client may see, merged per (object, grantee)."""
    merged: dict[tuple[str, str, str], dict] = {}
    for p in (0, 1):
        for row in RemoteStore(client, p).grants(name, kind=kind):
            key = (str(row.get("kind")), str(row.get("name")), str(row.get("grantee")))
            entry = merged.setdefault(key, {"owner": str(row.get("owner")), "allow": {},
                                            "granted": str(row.get("granted"))})
            entry["allow"][PARTY_NAMES[p]] = str(row.get("allow"))
            if row.get("budget") is not None:
                used = row.get("used")
                entry.setdefault("budget", {})[PARTY_NAMES[p]] = \
                    f"{'?' if used is None else used}/{row.get('budget')}"
    return [GrantView(k, n, e["owner"], g, e["allow"], e["granted"], e.get("budget", {}))
            for (k, n, g), e in sorted(merged.items())]


@dataclass(frozen=True)
class ModelView:
    """One stored model as the two primaries report it."""

    name: str
    manifest: ModelManifest  # P0's (or P1's if only P1 has it)
    complete: bool
    note: str = ""


def list_models(client: Client) -> list[ModelView]:
    """Both servers' stored models, merged by name (complete: both hold the same model id)."""
    lists = [{m.name: m for m in RemoteStore(client, p).models()} for p in (0, 1)]
    views = []
    for name in sorted(set(lists[0]) | set(lists[1])):
        m0, m1 = lists[0].get(name), lists[1].get(name)
        if m0 is not None and m1 is not None:
            same = m0.model_id == m1.model_id
            views.append(ModelView(name, m0, same, "" if same else "p0 and p1 hold different models"))
        else:
            missing = PARTY_NAMES[1] if m1 is None else PARTY_NAMES[0]
            views.append(ModelView(name, m0 or m1, False, f"incomplete on {missing}"))  # type: ignore[arg-type]
    return views


def _both(client: Client, fn: Callable[[RemoteStore], object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for p in (0, 1):
        try:
            out[PARTY_NAMES[p]] = fn(RemoteStore(client, p))
        except (SppError, ConnectionError) as exc:
            out[PARTY_NAMES[p]] = exc
    return out
