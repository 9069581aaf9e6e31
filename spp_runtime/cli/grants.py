"""``spp grant``, ``spp revoke``, ``spp grants``: who else may use a dataset you own.

A grant names the rights the grantee gets (``train``, ``infer``, ``release-model``; see
``docs/SECURITY.md``). It goes to both primaries; each checks jobs against its own copy, so a
job needs the grant on both, and a revocation stops new jobs as soon as either holds it.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..api.access import RIGHTS, describe, parse_rights
from ..client import Client
from ..client.remote_store import grant as grant_both
from ..client.remote_store import list_grants
from ..client.remote_store import revoke as revoke_both
from ..errors import SppError
from .console import console as make_console
from .target import config_option, key_option, resolve, run_dir_option


def _options(fn):
    return config_option(key_option(run_dir_option(fn)))


def _rights(ctx: click.Context, param: click.Parameter, value: str) -> frozenset[str]:
    try:
        return parse_rights(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _report(outcomes: dict[str, object], done: str, retry: str) -> None:
    """Print each server's outcome; exit 1 naming the servers that did not take it."""
    failed = {s: o for s, o in outcomes.items() if isinstance(o, Exception)}
    ok = [s for s in outcomes if s not in failed]
    if ok:
        click.echo(f"{done} on {', '.join(ok)}.")
    if failed:
        lines = [f"{s}: {o}" for s, o in failed.items()]
        raise click.ClickException("\n".join([*lines, retry]))


@click.command("grant")
@click.option("--dataset", required=True, help="A dataset you own.")
@click.option("--to", "grantee", required=True, metavar="CLIENT", help="The client key name to grant to.")
@click.option("--allow", "allow", required=True, callback=_rights, metavar="RIGHTS",
              help=f"Comma-separated rights: {', '.join(RIGHTS)} (replaces what CLIENT had).")
@_options
def grant(dataset: str, grantee: str, allow: frozenset[str], config_path: Path | None, key_name: str | None,
          run_dir: Path | None) -> None:
    """Let CLIENT use a dataset you own: train (train models on it), infer (run models over
    it and get the scores), release-model (take models trained on it off the servers)."""
    cfg, key = resolve(config_path, run_dir, key_name)
    try:
        with Client(cfg, key) as client:
            outcomes = grant_both(client, dataset, grantee, allow)
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    _report(outcomes, f"Granted {describe(allow)} on dataset {dataset} to {grantee}",
            "A job needs the grant on both p0 and p1: run the command again once they answer.")


@click.command("revoke")
@click.option("--dataset", required=True, help="A dataset you own.")
@click.option("--to", "grantee", required=True, metavar="CLIENT", help="The client to take every right from.")
@_options
def revoke(dataset: str, grantee: str, config_path: Path | None, key_name: str | None, run_dir: Path | None) -> None:
    """Take every right on a dataset you own from CLIENT; new jobs stop at once."""
    cfg, key = resolve(config_path, run_dir, key_name)
    try:
        with Client(cfg, key) as client:
            outcomes = revoke_both(client, dataset, grantee)
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    held = [s for s, o in outcomes.items() if o is True]
    if outcomes and not held and not any(isinstance(o, Exception) for o in outcomes.values()):
        click.echo(f"{grantee} held no grant on dataset {dataset}.")
        return
    _report(outcomes, f"Revoked {grantee}'s rights on dataset {dataset}",
            "The servers that answered refuse new jobs already; run the command again for the others.")


@click.command("grants")
@click.option("--dataset", default=None, help="Only this dataset.")
@_options
def grants(dataset: str | None, config_path: Path | None, key_name: str | None, run_dir: Path | None) -> None:
    """Grants on the datasets you own, and grants others gave you."""
    cfg, key = resolve(config_path, run_dir, key_name)
    try:
        with Client(cfg, key) as client:
            views = list_grants(client, dataset)
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    if not views:
        click.echo("No grants." if dataset is None else f"No grants on dataset {dataset}.")
        return
    table = Table(title_justify="left")
    for col in ("dataset", "owner", "grantee", "rights", "granted", "state"):
        table.add_column(col)
    for v in views:
        rights = next(iter(v.allow.values()))
        state = "on p0 and p1" if v.complete else "; ".join(f"{s}: {r}" for s, r in v.allow.items()) + \
            " (a job needs the same grant on both: grant again)"
        table.add_row(v.dataset, v.owner, v.grantee, rights, v.granted, state)
    make_console().print(table)
