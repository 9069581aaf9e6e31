"""A primary server's trained models: shares of the weights, kept on the servers.

``spp train --save-as NAME`` stores the trained weights as shares on P0 and P1 instead of
sending them to the client. A model belongs to the client that trained it (its *owner*) and
records where its weights came from: the stored datasets it was trained on (their owners and
uploads), so that every later use can be checked against those owners' current grants.

Layout under ``<store>/models/``::

    <name>/manifest.json      name, owner, party, model_id, frac_bits, tensors (shapes),
                              sha256 per tensor, config (the public model config), sources,
                              info, created
    <name>/<tensor>.u64       this server's share of one weight tensor (raw <u8, C order)
    <name>/grants.json        the owner's grants on the model (``predict``, budgets; ``storage.grants``)
    <name>/queries.json       rows of predictions counted against budgets (``storage.queries``)
    <name>/opening/           the weights opened once under a fixed mask (``storage.openings``)
    .new-<name>-<random>/     a save in progress (removed when the store opens)

A save writes every file into a fresh directory, fsyncs, and renames it into place, so a
model is either complete or absent on each server; ``model_id`` (the id of the job that
trained it) tells whether P0's and P1's copies belong together. Deleting renames the
directory into the store's ``trash/`` first (grants go with it). Share files and manifests
are never rewritten; only ``grants.json`` is replaced (atomically).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..api import names
from ..api.access import MODEL_RIGHTS, Rights
from . import grants as grant_files
from . import queries
from .atomic import (
    DIR_MODE,
    atomic_write_json,
    durable_rename,
    fsync_dir,
    make_dir,
    read_json,
    remove_tree,
    write_share_files,
)
from .errors import CorruptDataset, InvalidMetadata, ModelExists, ModelNotFound, StorageError
from .meta import SHARE_DTYPE, validate_digest, validate_name

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
MAX_TENSORS = 64


@dataclass(frozen=True)
class Source:
    """A stored dataset part a model was trained on."""

    input: str  # the job input it fed (x, y, ...)
    dataset: str
    part: str
    owner: str
    upload_id: str

    def to_dict(self) -> dict[str, str]:
        return {"input": self.input, "dataset": self.dataset, "part": self.part, "owner": self.owner,
                "upload_id": self.upload_id}

    @classmethod
    def from_dict(cls, d: object) -> Source:
        if not isinstance(d, Mapping) or not all(isinstance(d.get(k), str) for k in
                                                 ("input", "dataset", "part", "owner", "upload_id")):
            raise InvalidMetadata("a model source needs input, dataset, part, owner and upload_id")
        return cls(d["input"], validate_name(d["dataset"]), d["part"], d["owner"], d["upload_id"])


@dataclass(frozen=True)
class ModelManifest:
    """A server's record of one stored model."""

    name: str
    owner: str
    party: int
    model_id: str
    frac_bits: int
    tensors: dict[str, tuple[int, ...]]
    sha256: dict[str, str]
    config: dict[str, Any]  # the model config (public: layer sizes, activations)
    sources: tuple[Source, ...]
    created: str
    info: dict[str, Any] = field(default_factory=dict)  # public: epochs, hyper-parameters

    @property
    def source_owners(self) -> list[str]:
        return sorted({s.owner for s in self.sources})

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "name": self.name, "owner": self.owner, "party": self.party,
                "model_id": self.model_id, "frac_bits": self.frac_bits,
                "tensors": {k: list(v) for k, v in self.tensors.items()}, "sha256": dict(self.sha256),
                "config": self.config, "sources": [s.to_dict() for s in self.sources],
                "created": self.created, "info": self.info}

    def public_dict(self) -> dict[str, Any]:
        """What clients are shown: everything but the share digests."""
        d = self.to_dict()
        del d["sha256"]
        return d

    @classmethod
    def from_dict(cls, d: object, *, digests_required: bool = True) -> ModelManifest:
        if not isinstance(d, Mapping):
            raise InvalidMetadata("model manifest must be a mapping")
        try:
            if d["format_version"] != FORMAT_VERSION:
                raise InvalidMetadata(f"unsupported model manifest format {d['format_version']!r}")
            tensors = d["tensors"]
            if not isinstance(tensors, Mapping) or not 0 < len(tensors) <= MAX_TENSORS:
                raise InvalidMetadata(f"a model has 1-{MAX_TENSORS} tensors")
            shapes = {}
            for k, v in tensors.items():
                if not names.is_tensor_name(k) or not isinstance(v, list) or not all(
                        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in v):
                    raise InvalidMetadata(f"bad tensor entry {str(k)[:40]!r}")
                shapes[k] = tuple(v)
            digests = d.get("sha256", {}) if not digests_required else d["sha256"]
            if not isinstance(digests, Mapping) or (set(digests) != set(shapes) and (digests or digests_required)):
                raise InvalidMetadata("model manifest sha256 must have one digest per tensor")
            sources = d["sources"]
            config, info = d["config"], d.get("info", {})
            if not isinstance(sources, list) or not isinstance(config, dict) or not isinstance(info, dict):
                raise InvalidMetadata("model manifest: sources must be a list, config and info maps")
            party, frac_bits = d["party"], d["frac_bits"]
            if party not in (0, 1) or not isinstance(frac_bits, int) or isinstance(frac_bits, bool):
                raise InvalidMetadata("model manifest: bad party or frac_bits")
            for key in ("owner", "model_id", "created"):
                if not isinstance(d[key], str) or not d[key]:
                    raise InvalidMetadata(f"model manifest: {key} must be a string")
            return cls(name=validate_name(d["name"]), owner=d["owner"], party=party, model_id=d["model_id"],
                       frac_bits=frac_bits, tensors=shapes,
                       sha256={k: validate_digest(v, f"digest of {k}") for k, v in digests.items()},
                       config=config, sources=tuple(Source.from_dict(s) for s in sources),
                       created=d["created"], info=info)
        except KeyError as exc:
            raise InvalidMetadata(f"model manifest lacks field {exc.args[0]!r}") from None


class ModelStore:
    """This server's stored models under ``root`` (``<store>/models``); ``trash`` is the share
    store's trash directory (emptied when the share store opens)."""

    def __init__(self, root: str | Path, party: int, trash: str | Path) -> None:
        self.root = Path(root)
        self.party = party
        self.trash = Path(trash)
        self._lock = threading.RLock()
        make_dir(self.root)
        make_dir(self.trash)
        for leftover in self.root.glob(".new-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    # -- saving -------------------------------------------------------------------------------
    def save(self, name: str, *, owner: str, model_id: str, frac_bits: int, shares: Mapping[str, np.ndarray],
             config: Mapping[str, Any], sources: Sequence[Source], info: Mapping[str, Any] | None = None) -> ModelManifest:
        """Store this server's shares of a model as ``name`` (atomic; ModelExists if taken)."""
        validate_name(name)
        if not shares or len(shares) > MAX_TENSORS or not all(names.is_tensor_name(k) for k in shares):
            raise InvalidMetadata(f"model {name!r}: needs 1-{MAX_TENSORS} tensors named by letters, digits and ._-")
        with self._lock:
            self.check_free(name)
            tmp = self.root / f".new-{name}-{os.urandom(4).hex()}"
            tmp.mkdir(mode=DIR_MODE)
            try:
                digests, shapes = write_share_files(tmp, shares, SHARE_DTYPE)
                manifest = ModelManifest(
                    name=name, owner=owner, party=self.party, model_id=model_id, frac_bits=frac_bits,
                    tensors=shapes, sha256=digests, config=dict(config), sources=tuple(sources),
                    created=datetime.now(UTC).isoformat(timespec="seconds"), info=dict(info or {}))
                atomic_write_json(tmp / MANIFEST, manifest.to_dict())
                fsync_dir(tmp)
                durable_rename(tmp, self.root / name)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return manifest

    def check_free(self, name: str) -> None:
        """ModelExists if a model called ``name`` is stored here."""
        if (self.root / validate_name(name)).exists():
            raise ModelExists(f"a model named {name!r} already exists on p{self.party}; delete it first "
                              f"or choose another name")

    # -- reading ------------------------------------------------------------------------------
    def list(self) -> list[ModelManifest]:
        out = []
        for d in sorted(self.root.iterdir()):
            if d.is_dir() and not d.name.startswith("."):
                try:
                    out.append(self._read_manifest(d))
                except StorageError:
                    continue
        return out

    def show(self, name: str) -> ModelManifest:
        return self._read_manifest(self._dir(name))

    def load(self, name: str, only: Sequence[str] | None = None) -> tuple[ModelManifest, dict[str, np.ndarray]]:
        """The manifest and this server's shares of every tensor (or of those in ``only``),
        checked against their sha256."""
        d = self._dir(name)
        manifest = self._read_manifest(d)
        out = {}
        for k, shape in manifest.tensors.items():
            if only is not None and k not in only:
                continue
            try:
                a = np.fromfile(d / f"{k}.u64", dtype=SHARE_DTYPE)
            except OSError:
                raise CorruptDataset(f"model {name!r} on p{self.party}: tensor {k} is missing") from None
            if a.size != int(np.prod(shape, dtype=np.int64)) or \
                    hashlib.sha256(a.tobytes()).hexdigest() != manifest.sha256[k]:
                raise CorruptDataset(f"model {name!r} on p{self.party}: tensor {k} is damaged (checksum mismatch)")
            out[k] = a.reshape(shape)
        return manifest, out

    def delete(self, name: str) -> None:
        """Remove a model (it vanishes in one rename; its grants go with it)."""
        with self._lock:
            remove_tree(self._dir(name), self.trash)

    # -- grants -------------------------------------------------------------------------------
    def grants(self, name: str) -> tuple[ModelManifest, dict[str, grant_files.Grant]]:
        with self._lock:
            d = self._dir(name)
            manifest = self._read_manifest(d)
            return manifest, grant_files.read(d, manifest.model_id, rights=MODEL_RIGHTS)

    def set_grant(self, name: str, grantee: str, allow: Rights, budget: int | None = None) -> grant_files.Grant:
        """Give ``grantee`` exactly ``allow`` on the model, with a fresh budget of ``budget``
        rows of predictions if given (None: no limit)."""
        with self._lock:
            manifest, current = self.grants(name)
            grant = grant_files.new_grant(grant_files.validate_client(grantee), allow, budget)
            grant_files.write(self._dir(name), name, manifest.model_id, {**current, grantee: grant})
            return grant

    def revoke(self, name: str, grantee: str) -> bool:
        with self._lock:
            manifest, current = self.grants(name)
            if grantee not in current:
                return False
            del current[grantee]
            grant_files.write(self._dir(name), name, manifest.model_id, current)
            return True

    def charge(self, name: str, client: str, rows: int, *, commit: bool) -> None:
        """Check (and with ``commit``, durably count) ``rows`` more predictions for ``client``
        against its grant's budget on the model; BudgetExhausted if they do not fit. The
        owner, and grants without a budget, are not counted."""
        with self._lock:
            manifest, given = self.grants(name)
            grant = given.get(client)
            if client == manifest.owner or grant is None or grant.budget is None:
                return
            step = queries.charge if commit else queries.check
            step(self._dir(name), model=name, model_id=manifest.model_id, client=client, budget=grant.budget,
                 rows=rows, party=f"p{self.party}")

    def used(self, name: str, client: str) -> int | None:
        """Rows of predictions ``client`` was charged under its current grant's budget (None:
        no budget, or a count that cannot be read)."""
        with self._lock:
            manifest, given = self.grants(name)
            grant = given.get(client)
            if grant is None or grant.budget is None:
                return None
            return queries.used(self._dir(name), manifest.model_id, client, grant.budget)

    def directory(self, name: str) -> Path:
        """Where model ``name`` lives on this server (ModelNotFound if it does not)."""
        return self._dir(name)

    # -- internals ----------------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        d = self.root / validate_name(name)
        if not d.is_dir():
            raise ModelNotFound(f"no model named {name!r} on p{self.party}")
        return d

    def _read_manifest(self, d: Path) -> ModelManifest:
        try:
            m = ModelManifest.from_dict(read_json(d / MANIFEST))
        except (OSError, ValueError, InvalidMetadata) as exc:
            raise CorruptDataset(f"model {d.name!r} on p{self.party}: unreadable manifest ({exc})") from None
        if m.party != self.party or m.name != d.name:
            raise CorruptDataset(f"model {d.name!r}: manifest is for p{m.party} / {m.name!r}")
        return m
