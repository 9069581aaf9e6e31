"""Helpers for storage tests: small uploads, and fingerprints of what a store has committed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from spp_runtime.client.upload_prep import SharedUpload
from spp_runtime.data.readers import Dataset
from spp_runtime.storage.store import ShareStore


def make_upload(rng, name="d", rows=40, cols=3, chunk_rows=8, labels=True, owner="alice") -> SharedUpload:
    """A SharedUpload of random features (and integer labels)."""
    x = rng.normal(0, 10, size=(rows, cols))
    y = rng.integers(0, 10, rows).astype(float) if labels else None
    return SharedUpload(Dataset(x, y, "mem"), name=name, owner=owner, chunk_rows=chunk_rows)


def upload_one(store: ShareStore, up: SharedUpload, party: int = 0):
    """Run a whole upload against one store (its share only); returns the manifest."""
    store.begin(up.meta)
    for pair in up.chunks():
        c = pair.for_party(party)
        store.write_chunk(up.meta.upload_id, c.index, c.arrays, c.sha256)
    store.prepare(up.meta.upload_id, up.sha256(party))
    return store.commit(up.meta.upload_id)


def fingerprint(data_dir: Path) -> dict[str, str]:
    """sha256 of every file under ``datasets/`` (relative path -> digest): the committed state."""
    root = Path(data_dir) / "datasets"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def staging_entries(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (Path(data_dir) / "staging").iterdir())


def plaintext(s0: ShareStore, s1: ShareStore, name: str, part: str = "x") -> np.ndarray:
    """Reconstruct and decode a dataset part from both stores (test-only)."""
    from spp_runtime.encoding import FixedPoint

    m = s0.show(name)
    return FixedPoint(m.frac_bits).decode(s0.load(name, part) + s1.load(name, part))
