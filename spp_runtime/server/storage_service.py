"""A primary server's storage requests: uploads, dataset listing and deletion, in-doubt uploads.

:class:`StorageService` owns the party's :class:`ShareStore` (``<data_dir>/<pN>``) and answers
the storage requests of ``api.storage_messages.STORAGE_KINDS``. The uploader (``owner``) is the
identity bound to the client's CURVE key by the ZAP handler, never what the client claims.
Every stored object has an owner and only the owner (or a grantee, for what the grant allows)
touches it: only the uploader continues, commits, aborts or sees a pending upload; only a
dataset's owner deletes it, sees its share digests, re-hashes it, or grants and revokes rights
on it (``grants.set`` / ``grants.revoke``); ``grants.list`` shows an owner the grants on its
datasets and a grantee its own. :meth:`StorageService.authorize` is the check a job passes
before it may read a stored dataset. Between servers it settles uploads left prepared by a
coordinator that went away (docs/STORAGE.md, recovery rule): P1 asks P0
``upload.resolve`` and applies the answer; P0 aborts its own prepared uploads that nobody
committed within ``resolve_after`` seconds.

Answers and logs name datasets, upload ids and parts, never share values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .. import PARTY_NAMES
from ..api import storage_messages as msg
from ..api.access import (
    DATASET_RIGHTS,
    INFER,
    MODEL_RIGHTS,
    PREDICT,
    Rights,
    describe,
    parse_rights,
)
from ..api.envelope import BadRequest
from ..config import ClusterConfig
from ..errors import SppError
from ..storage import grants as grant_rules
from ..storage.errors import AccessDenied, StorageError
from ..storage.meta import Manifest, UploadMeta, validate_upload_id
from ..storage.models import ModelManifest, ModelStore
from ..storage.store import ShareStore, UploadStatus

log = logging.getLogger(__name__)

SendControl = Callable[[int, dict], None]


@dataclass(frozen=True)
class _Target:
    """The object a grant request is about."""

    kind: str  # "dataset" or "model"
    name: str
    owner: str


class NotStoring(SppError):
    """A storage request reached the helper, which stores nothing."""


def store_dir(cfg: ClusterConfig, party: int):
    """Where party ``party`` keeps its shares (``parties.pN.data_dir``, else ``<data_dir>/<pN>``)."""
    return cfg.store_dir(party)


class StorageService:
    """Storage requests and upload recovery for P0 or P1."""

    def __init__(self, cfg: ClusterConfig, party: int, send_control: SendControl,
                 *, resolve_after: float | None = None) -> None:
        self.party = party
        self.name = PARTY_NAMES[party]
        self.clients = frozenset(cfg.allowed_clients)
        # a client that sent no chunk for longer than its own request timeout has gone
        stale = cfg.timeouts.recv_s + cfg.timeouts.heartbeat_timeout_s
        self.store = ShareStore(store_dir(cfg, party), party, stale_after=stale)
        self.models = ModelStore(self.store.root / "models", party, self.store.root / "trash")
        self._send_control = send_control
        self.resolve_after = cfg.timeouts.recv_s if resolve_after is None else resolve_after
        self._prepared_since: dict[str, float] = {}
        self._asked: dict[str, float] = {}
        self._in_doubt = set(self.store.recovery.in_doubt)
        rec = self.store.recovery
        if rec.discarded or rec.rolled_forward or rec.in_doubt or rec.corrupt:
            log.warning("%s store opened: discarded %d receiving uploads, rolled forward %d, "
                        "%d in doubt, corrupt datasets: %s", self.name, len(rec.discarded),
                        len(rec.rolled_forward), len(rec.in_doubt), sorted(rec.corrupt) or "none")

    # -- client requests -----------------------------------------------------------------------
    def handle(self, kind: str, header: dict, frames: Sequence, client: str) -> dict[str, Any]:
        """Run one storage request from ``client``; returns the answer body or raises."""
        if kind.startswith("upload.") and kind != "upload.begin":
            self._check_uploader(msg.text(header, "upload_id"), client, kind)
        if kind == "upload.begin":
            meta = UploadMeta.from_dict(header.get("meta"))
            meta = replace(meta, owner=client)  # the authenticated key decides the owner
            self._check_uploader(meta.upload_id, client, kind)
            self.store.begin(meta)
            log.info("%s: upload %s of dataset %r by %s: %d rows in %d chunks", self.name,
                     meta.upload_id, meta.name, client, meta.rows, meta.n_chunks)
            return {"owner": client}
        if kind == "upload.chunk":
            index = header.get("index")
            if isinstance(index, bool) or not isinstance(index, int):
                raise BadRequest("upload.chunk: index must be an integer")
            arrays = msg.decode_chunk_arrays(header, frames)
            ack = self.store.write_chunk(msg.text(header, "upload_id"), index, arrays, msg.digests(header))
            return {"index": ack.index, "duplicate": ack.duplicate}
        if kind == "upload.prepare":
            uid = msg.text(header, "upload_id")
            self.store.prepare(uid, msg.digests(header))
            self._prepared_since[uid] = time.monotonic()
            return {}
        if kind == "upload.commit":
            uid = msg.text(header, "upload_id")
            manifest = self.store.commit(uid)
            self._forget(uid)
            log.info("%s: committed dataset %r (upload %s)", self.name, manifest.name, uid)
            return {"manifest": manifest.to_dict()}
        if kind == "upload.abort":
            uid = msg.text(header, "upload_id")
            if header.get("unless_committed"):
                committed = self.store.abort_unless_committed(uid)
                self._forget(uid)
                return {"committed": committed}
            discarded = self.store.abort(uid)
            self._forget(uid)
            if discarded:
                log.info("%s: aborted upload %s", self.name, uid)
            return {"discarded": discarded}
        if kind == "upload.status":
            return {"status": self.store.status(msg.text(header, "upload_id")).value}
        if kind == "datasets.list":
            return {
                "datasets": [self._visible(m, client) for m in self.store.list()],
                "pending": [[u, n, s.value] for u, n, s in self.store.pending(owner=client)],
            }
        if kind == "datasets.show":
            name = msg.text(header, "name")
            verify = bool(header.get("verify"))
            manifest = self.store.show(name)
            if verify:
                self._check_owner(manifest, client, "re-hash")
                manifest = self.store.verify(name)
            return {"manifest": self._visible(manifest, client), "verified": verify}
        if kind == "datasets.delete":
            name = msg.text(header, "name")
            self._check_owner(self.store.show(name), client, "delete")
            self.store.delete(name)
            log.info("%s: deleted dataset %r for %s", self.name, name, client)
            return {"deleted": name}
        if kind.startswith("grants."):
            return self._grants(kind, header, client)
        if kind == "models.list":
            return {"models": [m.public_dict() for m in self.models.list()]}
        if kind == "models.show":
            return {"model": self.models.show(msg.text(header, "name")).public_dict()}
        if kind == "models.delete":
            name = msg.text(header, "name")
            m = self.models.show(name)
            if m.owner != client:
                raise AccessDenied(f"model {name!r} belongs to {m.owner}; only its owner may delete it")
            self.models.delete(name)
            log.info("%s: deleted model %r for %s", self.name, name, client)
            return {"deleted": name}
        raise BadRequest(f"unknown storage request {kind!r}")

    def _grants(self, kind: str, header: dict, client: str) -> dict[str, Any]:
        """``grants.*`` on a dataset (``dataset`` field) or a stored model (``model``)."""
        if kind == "grants.list":
            return {"grants": self._list_grants(header, client)}
        target = self._target(header)
        kind_name, name = target.kind, target.name
        grantee = msg.text(header, "grantee")
        grant_rules.validate_client(grantee)
        if target.owner != client:
            raise AccessDenied(f"{kind_name} {name!r} belongs to {target.owner}; only its owner may grant "
                               f"or revoke rights on it")
        if kind == "grants.set":
            try:
                allow = parse_rights(header.get("allow"), DATASET_RIGHTS if kind_name == "dataset" else MODEL_RIGHTS)
            except ValueError as exc:
                raise BadRequest(f"grants.set on {kind_name} {name!r}: {exc}") from None
            if grantee == client:
                raise AccessDenied(f"{kind_name} {name!r} is yours already; grants are for other clients")
            if grantee not in self.clients:
                raise AccessDenied(f"{self.name} knows no client {grantee!r} (clients.allowed: "
                                   f"{', '.join(sorted(self.clients))})")
            budget = header.get("budget")
            if budget is not None:
                if kind_name != "model":
                    raise BadRequest(f"grants.set on dataset {name!r}: a query budget applies to models only")
                try:
                    grant_rules.check_budget(budget)
                except ValueError as exc:
                    raise BadRequest(f"grants.set on model {name!r}: {exc}") from None
            if kind_name == "dataset":
                grant = self.store.set_grant(name, grantee, allow)
            else:
                grant = self.models.set_grant(name, grantee, allow, budget)
            log.info("%s: %s granted %s on %s %r to %s%s", self.name, client, describe(allow), kind_name, name,
                     grantee, "" if budget is None else f" (budget {budget} rows)")
            body: dict[str, Any] = {kind_name: name, "grantee": grantee, "allow": describe(grant.allow),
                                    "granted": grant.granted}
            if grant.budget is not None:
                body["budget"] = grant.budget.rows
            return body
        if kind == "grants.revoke":
            store = self.store if kind_name == "dataset" else self.models
            revoked = store.revoke(name, grantee)
            log.info("%s: %s revoked %s's rights on %s %r (%s)", self.name, client, grantee, kind_name, name,
                     "done" if revoked else "held none")
            return {kind_name: name, "grantee": grantee, "revoked": revoked}
        raise BadRequest(f"unknown storage request {kind!r}")

    def _target(self, header: dict) -> _Target:
        """The dataset or model a grant request names (exactly one of the two)."""
        if ("dataset" in header) == ("model" in header):
            raise BadRequest("a grant request names either a dataset or a model")
        if "dataset" in header:
            m = self.store.show(msg.text(header, "dataset"))
            return _Target("dataset", m.name, m.owner)
        mm = self.models.show(msg.text(header, "model"))
        return _Target("model", mm.name, mm.owner)

    def _list_grants(self, header: dict, client: str) -> list[dict[str, Any]]:
        """Grants on the client's datasets and models, and grants to the client."""
        rows = []
        objects: list[tuple[str, str, str, dict[str, grant_rules.Grant]]] = []
        want_ds, want_model = header.get("dataset"), header.get("model")
        if want_model is None:
            for m in [self.store.show(msg.text(header, "dataset"))] if want_ds is not None else self.store.list():
                objects.append(("dataset", m.name, m.owner, self.store.grants(m.name)[1]))
        if want_ds is None:
            for mm in [self.models.show(msg.text(header, "model"))] if want_model is not None else self.models.list():
                objects.append(("model", mm.name, mm.owner, self.models.grants(mm.name)[1]))
        for kind_name, name, owner, given in objects:
            for g in given.values():
                if client in (owner, g.grantee):
                    row: dict[str, Any] = {"kind": kind_name, "name": name, "owner": owner, "grantee": g.grantee,
                                           "allow": describe(g.allow), "granted": g.granted}
                    if g.budget is not None:
                        row["budget"] = g.budget.rows
                        row["used"] = self.models.used(name, g.grantee)
                    rows.append(row)
        return rows

    # -- access -------------------------------------------------------------------------------
    def authorize(self, client: str, name: str, needed: Rights | None, program: str) -> Manifest:
        """The manifest of dataset ``name`` if ``client`` may feed it to ``program`` (which
        needs ``needed`` on others' data; None: own data only), from this server's own grant
        store; AccessDenied naming the dataset and the missing grant otherwise."""
        manifest, given = self.store.grants(name)
        grant_rules.check(kind="dataset", name=name, owner=manifest.owner, grants=given, client=client,
                          needed=needed, program=program, party=self.name)
        return manifest

    def authorize_model(self, client: str, name: str) -> ModelManifest:
        """The manifest of stored model ``name`` if ``client`` may query it (``predict``), from
        this server's own stores; AccessDenied naming what is missing otherwise.

        The model's owner grants ``predict``; and a model trained on other owners' data carries
        their grants too: every owner of a dataset it was trained on (other than ``client``)
        must currently grant ``client`` the ``infer`` right on that same upload, or else a
        trainer could read back through queries the weights it may not release."""
        manifest, given = self.models.grants(name)
        grant_rules.check(kind="model", name=name, owner=manifest.owner, grants=given, client=client,
                          needed=frozenset({PREDICT}), program="predict", party=self.name)
        for src in manifest.sources:
            try:
                ds, ds_grants = self.store.grants(src.dataset)
            except StorageError:
                raise AccessDenied(f"model {name!r} was trained on dataset {src.dataset!r}, which {self.name} "
                                   f"no longer holds") from None
            if ds.upload_id != src.upload_id:
                raise AccessDenied(f"model {name!r} was trained on an earlier upload of dataset {src.dataset!r}")
            grant_rules.check(kind="dataset", name=src.dataset, owner=ds.owner, grants=ds_grants, client=client,
                              needed=frozenset({INFER}), program="predict", party=self.name)
        return manifest

    def authorize_predict(self, client: str, name: str, rows: int, *, charge: bool) -> ModelManifest:
        """:meth:`authorize_model`, then the client's query budget on the model: ``rows`` more
        predictions must fit (and with ``charge`` are counted, durably, before the job runs);
        AccessDenied (BudgetExhausted) naming the model and the rows left otherwise."""
        manifest = self.authorize_model(client, name)
        self.models.charge(name, client, rows, commit=charge)
        return manifest

    def _check_owner(self, manifest: Manifest, client: str, action: str) -> None:
        if manifest.owner != client:
            raise AccessDenied(f"dataset {manifest.name!r} belongs to {manifest.owner}; only its owner "
                               f"may {action} it")

    def _check_uploader(self, upload_id: str, client: str, kind: str) -> None:
        owner = self.store.upload_owner(upload_id)
        if owner is not None and owner != client:
            raise AccessDenied(f"{kind}: upload {upload_id} was begun by another client; only its "
                               f"uploader may continue, commit, abort or query it")

    @staticmethod
    def _visible(manifest: Manifest, client: str) -> dict[str, Any]:
        """What ``client`` may see of a manifest: everything if it owns the dataset, else all
        but the share digests."""
        return manifest.to_dict() if manifest.owner == client else manifest.public_dict()

    # -- between servers -----------------------------------------------------------------------
    def on_control(self, peer: int, body: dict) -> bool:
        """Handle an ``upload.resolve`` (P1 -> P0) or ``upload.resolved`` (P0 -> P1) command;
        False if ``body`` is not one of ours."""
        cmd = body.get("cmd")
        if cmd == "upload.resolve" and self.party == 0 and peer == 1:
            uid = validate_upload_id(body.get("upload_id"))
            try:
                committed = self.store.abort_unless_committed(uid)
            except StorageError as exc:
                log.warning("%s: cannot resolve upload %s for p1: %s", self.name, uid, exc)
                return True
            self._forget(uid)
            self._send_control(1, {"cmd": "upload.resolved", "upload_id": uid, "committed": committed})
            return True
        if cmd == "upload.resolved" and self.party == 1 and peer == 0:
            uid = validate_upload_id(body.get("upload_id"))
            if self.store.status(uid) is not UploadStatus.PREPARED:
                return True
            if body.get("committed") is True:
                self.store.commit(uid)
            else:
                self.store.abort(uid)
            log.info("%s: upload %s in doubt settled by p0: %s", self.name, uid,
                     "committed" if body.get("committed") is True else "aborted")
            self._forget(uid)
            return True
        return False

    def tick(self, p0_connected: bool) -> None:
        """Settle prepared uploads whose coordinator went away (called from the serve loop)."""
        now = time.monotonic()
        for uid, _, status in self.store.pending():
            if status is not UploadStatus.PREPARED:
                continue
            since = self._prepared_since.setdefault(uid, now)
            overdue = uid in self._in_doubt or now - since > self.resolve_after
            if not overdue:
                continue
            if self.party == 0:
                if now - since > self.resolve_after:
                    committed = self.store.abort_unless_committed(uid)
                    log.warning("%s: upload %s was prepared but never committed; %s", self.name, uid,
                                "it was committed" if committed else "aborted it")
                    self._forget(uid)
            elif p0_connected and now - self._asked.get(uid, 0.0) > 2.0:
                self._asked[uid] = now
                self._send_control(0, {"cmd": "upload.resolve", "upload_id": uid})

    def on_peer_lost(self) -> list[str]:
        """The other primary went away: discard every upload still receiving chunks, so that
        its name is free again at once (it cannot finish without both primaries, and a primary
        that restarts discards its receiving uploads anyway). Prepared uploads are left to the
        commit rules. Returns the upload ids discarded."""
        dropped = []
        for uid, name, status in self.store.pending():
            if status is UploadStatus.RECEIVING and self.store.abort(uid):
                dropped.append(uid)
                self._forget(uid)
                log.warning("%s: discarded upload %s of dataset %r: the other primary went away",
                            self.name, uid, name)
        return dropped

    def _forget(self, uid: str) -> None:
        self._prepared_since.pop(uid, None)
        self._asked.pop(uid, None)
        self._in_doubt.discard(uid)
