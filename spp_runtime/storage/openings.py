"""A stored model's weights opened once under a fixed mask, kept by each primary for every query.

``nn.masked_weights`` masks each weight matrix W of a stored model once: ``F = W - B`` is
opened to P0 and P1, where ``B = B0 + B1`` and each ``Bi`` is expanded from a 16-byte seed
that primary i and the helper drew together (``docs/SECURITY.md``, stored weight openings).
Each primary keeps, next to the model::

    <model dir>/opening/manifest.json   format_version, model_id, mask_id, party, tensors
                                        (shapes, in the order the masks are drawn), sha256 of each F
    <model dir>/opening/<tensor>.u64    the opened F (public to P0 and P1 only)
    <model dir>/opening/seed.bin        this primary's mask seed (shared with the helper only:
                                        as secret as a share; the other primary must never see it)

The directory is replaced in one rename (a new opening is written beside it, the old one is
moved to the store's trash), so a primary holds one complete opening or none. ``mask_id``
(drawn by P0 and P1 together) and the digests tell whether P0's and P1's openings belong
together (:meth:`StoredOpening.fingerprint`); an opening of another ``model_id`` or one that
fails its checksums is ignored, and the weights are masked again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..api import names
from .atomic import (
    DIR_MODE,
    atomic_write_json,
    durable_rename,
    fsync_dir,
    fsync_file,
    private_opener,
    read_json,
    remove_tree,
)
from .meta import SHARE_DTYPE

OPENING_DIR = "opening"
SEED_FILE = "seed.bin"
SEED_BYTES = 16
FORMAT_VERSION = 1


@dataclass(frozen=True)
class StoredOpening:
    """One primary's opening of a model's weights: the public ``opened`` F per tensor, its own
    mask ``seed`` and the ``mask_id`` it shares with the other primary."""

    mask_id: str
    seed: bytes
    opened: dict[str, np.ndarray]

    def __repr__(self) -> str:  # never shows the seed
        return f"StoredOpening(mask_id={self.mask_id}, tensors={sorted(self.opened)})"

    def fingerprint(self) -> bytes:
        """32 bytes naming this opening (mask id and the sha256 of every F), equal on P0 and P1
        iff they hold the same one; public to both (F is)."""
        h = hashlib.sha256(self.mask_id.encode())
        for k in sorted(self.opened):
            h.update(k.encode() + b"\0" + _digest(self.opened[k]).encode())
        return h.digest()


def _digest(a: np.ndarray) -> str:
    """sha256 of a ring array's bytes, computed once per array object (an opening's arrays are
    read-only after load and after the masking, so the digest stays valid)."""
    a = np.ascontiguousarray(a, dtype=SHARE_DTYPE)
    return hashlib.sha256(a.data.cast("B") if a.size else b"").hexdigest()


def load(model_dir: Path, model_id: str, party: int) -> StoredOpening | None:
    """This primary's opening of the model ``model_id`` in ``model_dir``; None when there is
    none, it belongs to another model version, or anything fails its checks."""
    d = model_dir / OPENING_DIR
    try:
        raw = read_json(d / "manifest.json")
        if raw.get("format_version") != FORMAT_VERSION or raw.get("model_id") != model_id \
                or raw.get("party") != party or not isinstance(raw.get("mask_id"), str):
            return None
        seed = (d / SEED_FILE).read_bytes()
        if len(seed) != SEED_BYTES:
            return None
        opened = {}
        for k, shape in raw["tensors"].items():
            if not names.is_tensor_name(k) or not all(isinstance(n, int) and n >= 0 for n in shape):
                return None
            a = np.fromfile(d / f"{k}.u64", dtype=SHARE_DTYPE)
            if a.size != int(np.prod(shape, dtype=np.int64)) or \
                    hashlib.sha256(a.tobytes()).hexdigest() != raw["sha256"][k]:
                return None
            opened[k] = a.reshape(shape)
        return StoredOpening(raw["mask_id"], seed, opened)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save(model_dir: Path, trash: Path, model_id: str, party: int, opening: StoredOpening) -> None:
    """Replace this primary's opening of the model in ``model_dir`` (atomic, durable)."""
    if len(opening.seed) != SEED_BYTES:
        raise ValueError("a mask seed is 16 bytes")
    tmp = model_dir / f".opening-{os.urandom(4).hex()}"
    tmp.mkdir(mode=DIR_MODE)
    try:
        digests, shapes = {}, {}
        for k, f in opening.opened.items():
            a = np.ascontiguousarray(f, dtype=SHARE_DTYPE)
            path = tmp / f"{k}.u64"
            with open(path, "wb", opener=private_opener) as fh:
                a.tofile(fh)
            fsync_file(path)
            digests[k] = hashlib.sha256(a.tobytes()).hexdigest()
            shapes[k] = list(a.shape)
        with open(tmp / SEED_FILE, "wb", opener=private_opener) as fh:
            fh.write(opening.seed)
        fsync_file(tmp / SEED_FILE)
        atomic_write_json(tmp / "manifest.json", {
            "format_version": FORMAT_VERSION, "model_id": model_id, "mask_id": opening.mask_id, "party": party,
            "tensors": shapes, "sha256": digests})
        fsync_dir(tmp)
        remove_tree(model_dir / OPENING_DIR, trash)
        durable_rename(tmp, model_dir / OPENING_DIR)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def exists(model_dir: Path) -> bool:
    return (model_dir / OPENING_DIR / "manifest.json").exists()


def shapes_match(opening: StoredOpening, shapes: Mapping[str, tuple[int, ...]]) -> bool:
    return {k: tuple(v.shape) for k, v in opening.opened.items()} == {k: tuple(v) for k, v in shapes.items()}
