"""A primary server's job checkpoints: named shares saved by a program, loaded by a later job.

Layout under ``<data_dir>/<pN>/checkpoints/``::

    <checkpoint id>/<step, 10 digits>/meta.json    step, tag, binding, frac_bits, shapes, sha256, info
    <checkpoint id>/<step, 10 digits>/<name>.u64   this server's share (raw <u8, C order)
    <checkpoint id>/.new-<step>-<random>/          a save in progress (removed on open)

A save writes every file into a fresh directory, fsyncs, and renames it into place (one
atomic step), so a crash leaves either the old steps or the new one complete. The newest
``keep`` steps are kept. ``tag`` identifies the job that saved a step, so P0 and P1 can tell
that their copies of a step belong together. ``binding`` records what the step was computed
from (the program and the stored dataset uploads it read): a job resumes only steps saved
with its own binding, so state computed from data under one grant cannot be carried into a
job that has other rights (e.g. weights trained with ``train`` only, resumed by a job that
returns them).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..api import names
from .atomic import (
    DIR_MODE,
    atomic_write_json,
    durable_rename,
    fsync_dir,
    make_dir,
    read_json,
    write_share_files,
)
from .errors import StorageError
from .meta import SHARE_DTYPE

META = "meta.json"


class CheckpointError(StorageError):
    """A checkpoint cannot be saved or loaded (bad name, missing step, damaged file)."""


@dataclass(frozen=True)
class StoredStep:
    """One saved step as this server has it."""

    step: int
    tag: int
    frac_bits: int
    binding: str
    shapes: dict[str, tuple[int, ...]]
    info: dict[str, Any]


class CheckpointStore:
    """This server's checkpoints under ``root``."""

    def __init__(self, root: str | Path, *, keep: int = 2) -> None:
        self.root = Path(root)
        self.keep = keep
        make_dir(self.root)
        for leftover in self.root.glob("*/.new-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def save(self, ckpt: str, step: int, tag: int, frac_bits: int, shares: Mapping[str, np.ndarray],
             info: Mapping[str, Any] | None = None, *, binding: str = "") -> None:
        """Save ``shares`` (name -> this server's uint64 share) as ``step`` of ``ckpt``."""
        cdir = self._dir(ckpt)
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < 10**10:
            raise CheckpointError(f"checkpoint {ckpt}: step must be an integer in 0..9999999999, got {step!r}")
        for name in shares:
            if not names.is_name(name):
                raise CheckpointError(f"checkpoint {ckpt}: tensor name {name!r} is not a plain name")
        make_dir(cdir)
        tmp = cdir / f".new-{step}-{os.urandom(4).hex()}"
        tmp.mkdir(mode=DIR_MODE)
        try:
            digests, shapes = write_share_files(tmp, shares, SHARE_DTYPE)
            atomic_write_json(tmp / META, {"step": step, "tag": tag, "binding": binding, "frac_bits": frac_bits,
                                           "shapes": {k: list(v) for k, v in shapes.items()}, "sha256": digests, "info": dict(info or {})})
            fsync_dir(tmp)
            final = cdir / f"{step:010d}"
            if final.exists():
                shutil.rmtree(final)
            durable_rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for old in self._step_dirs(cdir)[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)

    def steps(self, ckpt: str) -> list[StoredStep]:
        """The complete saved steps of ``ckpt``, oldest first (empty if none)."""
        cdir = self._dir(ckpt)
        out = []
        for d in self._step_dirs(cdir):
            try:
                m = read_json(d / META)
                out.append(StoredStep(int(m["step"]), int(m["tag"]), int(m["frac_bits"]), str(m.get("binding", "")),
                                      {k: tuple(v) for k, v in m["shapes"].items()}, dict(m.get("info", {}))))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # unreadable: treated as absent
        return out

    def load(self, ckpt: str, step: int) -> dict[str, np.ndarray]:
        """This server's shares of one saved step, checked against their sha256."""
        d = self._dir(ckpt) / f"{step:010d}"
        try:
            meta = read_json(d / META)
        except (OSError, ValueError):
            raise CheckpointError(f"checkpoint {ckpt} has no readable step {step}") from None
        out = {}
        for name, shape in meta["shapes"].items():
            path = d / f"{name}.u64"
            try:
                a = np.fromfile(path, dtype=SHARE_DTYPE)
            except OSError:
                raise CheckpointError(f"checkpoint {ckpt} step {step}: {name} is missing") from None
            if a.size != int(np.prod(shape, dtype=np.int64)) or hashlib.sha256(a.tobytes()).hexdigest() != meta["sha256"][name]:
                raise CheckpointError(f"checkpoint {ckpt} step {step}: {name} is damaged (checksum mismatch)")
            out[name] = a.reshape(shape)
        return out

    def _dir(self, ckpt: str) -> Path:
        if not names.is_checkpoint_id(ckpt):
            raise CheckpointError(f"checkpoint id {ckpt!r} must be 1-64 of letters, digits and ._-")
        return self.root / ckpt

    @staticmethod
    def _step_dirs(cdir: Path) -> list[Path]:
        if not cdir.is_dir():
            return []
        return sorted(p for p in cdir.iterdir() if p.is_dir() and p.name.isdigit() and (p / META).exists())
