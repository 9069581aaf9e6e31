"""Query budgets on stored models: the rows of predictions each grantee obtained, counted durably.

A ``predict`` grant may carry a budget (``spp grant --model NAME --to CLIENT --allow predict
--budget N``: at most N rows of predictions; ``storage.grants.Budget``). Each primary counts,
in ``models/<name>/queries.json`` beside the grant, the rows every grantee was charged under
the grant's budget id, and charges a query **before** it runs (written atomically: temporary
file, fsync, rename), so the count survives restarts and a query that fails later still
counts (fail safe: never a free answer)::

    {"format_version": 1, "model_id": "<model id>",
     "used": {"<client>": {"budget": "<budget id>", "rows": 128}}}

A count under another budget id (an earlier grant) does not count against a new grant; a
file that cannot be read, or that names another model id, is taken as **exhausted** (fail
closed) until the owner grants again. The model's owner has no budget on its own model.
"""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_write_json, read_json
from .errors import AccessDenied
from .grants import Budget

QUERIES_FILE = "queries.json"
FORMAT_VERSION = 1


class BudgetExhausted(AccessDenied):
    """A query would exceed the grantee's budget on a model."""


def used(directory: Path, model_id: str, client: str, budget: Budget) -> int | None:
    """Rows ``client`` was charged under ``budget``; None if the file cannot be trusted."""
    path = directory / QUERIES_FILE
    if not path.exists():
        return 0
    try:
        raw = read_json(path)
        if raw.get("format_version") != FORMAT_VERSION or raw.get("model_id") != model_id:
            return None
        entry = raw["used"].get(client)
        if entry is None or entry.get("budget") != budget.id:
            return 0
        rows = entry["rows"]
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            return None
        return rows
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def check(directory: Path, *, model: str, model_id: str, client: str, budget: Budget, rows: int,
          party: str) -> int:
    """The rows ``client`` has used; BudgetExhausted if ``rows`` more would exceed ``budget``."""
    have = used(directory, model_id, client, budget)
    if have is None:
        raise BudgetExhausted(f"model {model!r}: {party} cannot read its count of {client!r}'s queries; "
                              f"no more are answered until the owner grants predict again")
    if have + rows > budget.rows:
        left = budget.rows - have
        raise BudgetExhausted(
            f"model {model!r}: client {client!r} has used {have} of its {budget.rows} rows of predictions "
            f"on {party}; this query asks for {rows} ({max(left, 0)} left); the owner can grant a new "
            f"budget: spp grant --model {model} --to {client} --allow predict --budget N")
    return have


def charge(directory: Path, *, model: str, model_id: str, client: str, budget: Budget, rows: int,
           party: str) -> int:
    """Count ``rows`` more predictions for ``client`` (atomically, durably) if the budget allows
    them; returns the rows used now. BudgetExhausted otherwise (nothing is written)."""
    have = check(directory, model=model, model_id=model_id, client=client, budget=budget, rows=rows, party=party)
    path = directory / QUERIES_FILE
    try:
        raw = read_json(path) if path.exists() else {}
        counts = raw.get("used", {}) if raw.get("model_id") == model_id else {}
        if not isinstance(counts, dict):
            counts = {}
    except (OSError, ValueError, AttributeError):
        counts = {}
    counts[client] = {"budget": budget.id, "rows": have + rows}
    atomic_write_json(path, {"format_version": FORMAT_VERSION, "model_id": model_id, "used": counts})
    return have + rows
