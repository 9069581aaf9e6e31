"""A primary server's storage requests: uploads, dataset listing and deletion, in-doubt uploads.

:class:`StorageService` owns the party's :class:`ShareStore` (``<data_dir>/<pN>``) and answers
the storage requests of ``api.storage_messages.STORAGE_KINDS``. The uploader (``owner``) is the
identity bound to the client's CURVE key by the ZAP handler, never what the client claims;
only a dataset's owner may delete it. Between servers it settles uploads left prepared by a
coordinator that went away (docs/STORAGE.md, recovery rule): P1 asks P0
``upload.resolve`` and applies the answer; P0 aborts its own prepared uploads that nobody
committed within ``resolve_after`` seconds.

Answers and logs name datasets, upload ids and parts, never share values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .. import PARTY_NAMES
from ..api import storage_messages as msg
from ..api.envelope import BadRequest
from ..config import ClusterConfig
from ..errors import SppError
from ..storage.errors import StorageError
from ..storage.meta import UploadMeta, validate_upload_id
from ..storage.store import ShareStore, UploadStatus

log = logging.getLogger(__name__)

SendControl = Callable[[int, dict], None]


class NotStoring(SppError):
    """A storage request reached the helper, which stores nothing."""


def store_dir(cfg: ClusterConfig, party: int):
    """Where party ``party`` keeps its shares: ``<data_dir>/<pN>``."""
    return cfg.data_dir / PARTY_NAMES[party]


class StorageService:
    """Storage requests and upload recovery for P0 or P1."""

    def __init__(self, cfg: ClusterConfig, party: int, send_control: SendControl,
                 *, resolve_after: float | None = None) -> None:
        self.party = party
        self.name = PARTY_NAMES[party]
        # a client that sent no chunk for longer than its own request timeout has gone
        stale = cfg.timeouts.recv_s + cfg.timeouts.heartbeat_timeout_s
        self.store = ShareStore(store_dir(cfg, party), party, stale_after=stale)
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
        if kind == "upload.begin":
            meta = UploadMeta.from_dict(header.get("meta"))
            meta = replace(meta, owner=client)  # the authenticated key decides the owner
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
                "datasets": [m.to_dict() for m in self.store.list()],
                "pending": [[u, n, s.value] for u, n, s in self.store.pending()],
            }
        if kind == "datasets.show":
            name = msg.text(header, "name")
            manifest = self.store.verify(name) if header.get("verify") else self.store.show(name)
            return {"manifest": manifest.to_dict(), "verified": bool(header.get("verify"))}
        if kind == "datasets.delete":
            name = msg.text(header, "name")
            manifest = self.store.show(name)
            if manifest.owner != client:
                raise StorageError(f"dataset {name!r} belongs to {manifest.owner}; only its owner may delete it")
            self.store.delete(name)
            log.info("%s: deleted dataset %r for %s", self.name, name, client)
            return {"deleted": name}
        raise BadRequest(f"unknown storage request {kind!r}")

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
