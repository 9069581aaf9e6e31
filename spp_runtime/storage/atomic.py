"""Crash-safe file operations: write to a temporary file, fsync, rename, fsync the directory.

After :func:`atomic_write_bytes` returns, the file holds either its old contents or the new
ones in full, even if the machine loses power; a crash midway leaves at most a hidden
``.*.tmp-*`` file beside it, which :func:`remove_temporaries` clears.

Everything is private to the server's user: files are created with mode 0600
(:data:`FILE_MODE`, :func:`private_opener`) and directories with 0700 (:data:`DIR_MODE`),
whatever the process umask (the server also runs with umask 077).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

TMP_MARK = ".tmp-"
FILE_MODE = 0o600
DIR_MODE = 0o700


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: a new file gets mode 0600."""
    return os.open(path, flags, FILE_MODE)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (creations, renames, deletions) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file's data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}-{os.urandom(4).hex()}")
    try:
        with open(tmp, "wb", opener=private_opener) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically and durably."""
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode() + b"\n")


def read_json(path: Path) -> Any:
    """Read a JSON file; ``ValueError`` if it is not valid JSON."""
    return json.loads(path.read_text(encoding="utf-8"))


def make_dir(path: Path) -> None:
    """Create a directory (and missing parents, each 0700) durably; no error if it exists."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=DIR_MODE, exist_ok=True)
    for p in reversed(missing):
        fsync_dir(p.parent)


def durable_rename(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` (an atomic step) and make both directories durable."""
    os.rename(src, dst)
    fsync_dir(dst.parent)
    if src.parent != dst.parent:
        fsync_dir(src.parent)


def remove_tree(path: Path, trash: Path) -> None:
    """Remove a directory tree so that it vanishes atomically from its parent.

    The tree is first renamed into ``trash`` (one atomic, durable step), then deleted; a crash
    during the deletion leaves it in ``trash``, which the store empties when it opens.
    """
    if not path.exists():
        return
    target = trash / f"{path.name}.{os.urandom(6).hex()}"
    durable_rename(path, target)
    shutil.rmtree(target, ignore_errors=True)


def remove_temporaries(directory: Path) -> int:
    """Delete leftover temporary files of interrupted atomic writes in ``directory``."""
    count = 0
    for p in directory.glob(f".*{TMP_MARK}*"):
        p.unlink(missing_ok=True)
        count += 1
    return count


def write_share_files(directory: Path, shares: Any, dtype: np.dtype) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """Write each named array to ``directory/<name>.u64`` (private, fsynced) and return the
    sha256 of its bytes and its shape per name (what a manifest records)."""
    digests: dict[str, str] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for name, share in shares.items():
        a = np.ascontiguousarray(share, dtype=dtype)
        path = directory / f"{name}.u64"
        with open(path, "wb", opener=private_opener) as fh:
            a.tofile(fh)
        fsync_file(path)
        digests[name] = hashlib.sha256(a.data.cast("B") if a.size else b"").hexdigest()
        shapes[name] = tuple(a.shape)
    return digests, shapes
