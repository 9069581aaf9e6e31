"""Grants: which other clients may use a stored object, and for what.

A dataset belongs to its owner (the client key that uploaded it), a stored model to the
client that trained it. The owner's grants live in ``grants.json`` beside the manifest
(``datasets/<name>/grants.json``, ``models/<name>/grants.json``), written atomically
(temporary file, fsync, rename), so a grant or a revocation is either fully on disk or not
at all, survives restarts, and vanishes with the object when it is deleted (the directory
is renamed away in one step)::

    {"format_version": 1, "object": "<name>", "object_id": "<upload id or model id>",
     "grants": {"<grantee>": {"allow": ["infer", "train"], "granted": "<UTC time>"}}}

A grant on a stored model may carry a query budget (``"budget": {"rows": N, "id": "<hex>"}``):
the grantee may obtain at most N rows of predictions under that grant; the rows used are
counted in ``queries.json`` beside it (:mod:`.queries`), per grant ``id``, so a new grant with
a budget starts a fresh count.

``object_id`` binds the file to one upload (one training job for a model): a file that
names another (a dataset deleted and uploaded again under the same name) grants nothing. A
file that cannot be read grants nothing either (fail closed); the owner rewrites it with
the next grant.

:func:`check` is the one access rule: the owner may do anything; anyone else needs every
right the program asks for, and programs that ask for none run on the owner's data only.
"""

from __future__ import annotations

import os
import re
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
    budget: Budget | None = None  # a cap on the predictions under this grant (models only)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"allow": sorted(self.allow), "granted": self.granted}
        if self.budget is not None:
            d["budget"] = {"rows": self.budget.rows, "id": self.budget.id}
        return d


MAX_BUDGET = 2**53  # rows; exact in JSON numbers


@dataclass(frozen=True)
class Budget:
    """At most ``rows`` predictions under one grant; ``id`` names the grant's own count."""

    rows: int
    id: str

    @classmethod
    def new(cls, rows: int) -> Budget:
        return cls(check_budget(rows), os.urandom(8).hex())

    @classmethod
    def from_dict(cls, d: object) -> Budget:
        if not isinstance(d, Mapping) or not isinstance(d.get("id"), str) or not _ID.fullmatch(d["id"]):
            raise ValueError("a budget needs rows and a 16-hex-digit id")
        return cls(check_budget(d.get("rows")), d["id"])


_ID = re.compile(r"[0-9a-f]{16}")


def check_budget(rows: object) -> int:
    """A budget in rows: an integer in [1, 2^53]; ValueError otherwise."""
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_BUDGET:
        raise ValueError(f"a query budget is a whole number of rows from 1 to {MAX_BUDGET}, got {str(rows)[:40]}")
    return rows


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
            budget = Budget.from_dict(g["budget"]) if "budget" in g else None
            out[validate_client(grantee)] = Grant(grantee, allow, str(g["granted"])[:64], budget)
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError, AccessDenied):
        return {}  # fail closed: an unreadable file grants nothing


def write(directory: Path, name: str, object_id: str, grants: Mapping[str, Grant]) -> None:
    """Replace the grants of ``name`` atomically and durably."""
    atomic_write_json(directory / GRANTS_FILE, {
        "format_version": FORMAT_VERSION, "object": name, "object_id": object_id,
        "grants": {g: grants[g].to_dict() for g in sorted(grants)},
    })


def new_grant(grantee: str, allow: Rights, budget: int | None = None) -> Grant:
    """A grant made now; ``budget`` (rows) starts a fresh count of predictions."""
    return Grant(grantee, allow, datetime.now(UTC).isoformat(timespec="seconds"),
                 None if budget is None else Budget.new(budget))


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
