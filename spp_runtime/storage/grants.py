"""Grants: which other clients may use a stored object, and for what.

A dataset belongs to its owner (the client key that uploaded it), a stored model to the
client that trained it. The owner's grants live in ``grants.json`` beside the manifest
(``datasets/<name>/grants.json``, ``models/<name>/grants.json``), written atomically
(temporary file, fsync, rename), so a grant or a revocation is either fully on disk or not
at all, survives restarts, and vanishes with the object when it is deleted (the directory
is renamed away in one step)::

    {"format_version": 1, "object": "<name>", "object_id": "<upload id or model id>",
     "grants": {"<grantee>": {"allow": ["infer", "train"], "granted": "<UTC time>"}}}

``object_id`` binds the file to one upload (one training job for a model): a file that
names another (a dataset deleted and uploaded again under the same name) grants nothing. A
file that cannot be read grants nothing either (fail closed); the owner rewrites it with
the next grant.

:func:`check` is the one access rule: the owner may do anything; anyone else needs every
right the program asks for, and programs that ask for none run on the owner's data only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..api.access import DATASET_RIGHTS, RIGHTS, Rights, describe, parse_rights
from ..errors import ConfigError
from ..keys import check_name
from .atomic import atomic_write_json, read_json
from .errors import AccessDenied

GRANTS_FILE = "grants.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Grant:
    """One grantee's rights on one object."""

    grantee: str
    allow: Rights
    granted: str  # UTC time of the grant (ISO 8601)

    def to_dict(self) -> dict[str, Any]:
        return {"allow": sorted(self.allow), "granted": self.granted}


def validate_client(name: object) -> str:
    """A client name (a key name: letters, digits, ``_.-``, starting alphanumeric)."""
    try:
        if not isinstance(name, str):
            raise ConfigError("not a string")
        return check_name(name)
    except ConfigError:
        raise AccessDenied(f"invalid client name {str(name)[:80]!r}: use the key name of a configured client") from None


def read(directory: Path, object_id: str, *, rights: tuple[str, ...] = DATASET_RIGHTS) -> dict[str, Grant]:
    """The grants stored in ``directory`` for the object version ``object_id`` (empty if
    there are none, if the file is unreadable, or if it belongs to another version)."""
    path = directory / GRANTS_FILE
    if not path.exists():
        return {}
    try:
        raw = read_json(path)
        if raw.get("format_version") != FORMAT_VERSION or raw.get("object_id") != object_id:
            return {}
        out = {}
        for grantee, g in raw["grants"].items():
            allow = parse_rights(g["allow"], rights)
            out[validate_client(grantee)] = Grant(grantee, allow, str(g["granted"])[:64])
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError, AccessDenied):
        return {}  # fail closed: an unreadable file grants nothing


def write(directory: Path, name: str, object_id: str, grants: Mapping[str, Grant]) -> None:
    """Replace the grants of ``name`` atomically and durably."""
    atomic_write_json(directory / GRANTS_FILE, {
        "format_version": FORMAT_VERSION, "object": name, "object_id": object_id,
        "grants": {g: grants[g].to_dict() for g in sorted(grants)},
    })


def new_grant(grantee: str, allow: Rights) -> Grant:
    return Grant(grantee, allow, datetime.now(UTC).isoformat(timespec="seconds"))


def check(*, kind: str, name: str, owner: str, grants: Mapping[str, Grant], client: str, needed: Rights | None,
          program: str, party: str) -> None:
    """AccessDenied unless ``client`` may use the ``kind`` (``dataset``) ``name`` for a program
    needing ``needed`` (None: the owner only). The message names the object, the client and
    the missing rights, and how the owner grants them."""
    if client == owner:
        return
    what = f"{kind} {name!r}"
    if needed is None:
        raise AccessDenied(
            f"program {program!r} returns values computed directly from its inputs and runs only on "
            f"the client's own data; {what} belongs to {owner!r}, not to {client!r}"
        )
    have = grants[client].allow if client in grants else frozenset()
    missing = needed - have
    if missing:
        unknown = sorted(missing - set(RIGHTS))
        if unknown:  # a program asking for a right no grant can hold
            raise AccessDenied(f"program {program!r} needs rights {unknown} that no grant gives")
        held = f"it holds {describe(have)}" if have else "it holds no grant"
        raise AccessDenied(
            f"{what} of {owner!r}: client {client!r} lacks the {describe(missing)} grant on {party} "
            f"({held}); the owner can run: spp grant --{kind} {name} --to {client} "
            f"--allow {describe(needed | have)}"
        )
