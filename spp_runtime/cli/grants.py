"""``spp grant``, ``spp revoke``, ``spp grants``: who else may use a dataset or a stored model
you own.

A grant names the rights the grantee gets: on a dataset ``train``, ``infer``,
``release-model``; on a stored model ``predict`` (see ``docs/SECURITY.md``). It goes to both
primaries; each checks jobs against its own copy, so a job needs the grant on both, and a
revocation stops new jobs as soon as either holds it.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..api.access import DATASET_RIGHTS, MODEL_RIGHTS, RIGHTS, describe, parse_rights
from ..client import Client
from ..client.remote_store import grant as grant_both
from ..client.remote_store import list_grants
from ..client.remote_store import revoke as revoke_both
from ..errors import SppError
from .console import console as make_console
from .target import config_option, key_option, resolve, run_dir_option


def _options(fn):
    return config_option(key_option(run_dir_option(fn)))


def _target(fn):
    fn = click.option("--model", default=None, help="A model you keep on the servers (spp train --save-as).")(fn)
    return click.option("--dataset", default=None, help="A dataset you own.")(fn)


def _kind(dataset: str | None, model: str | None, *, required: bool = True) -> tuple[str, str | None]:
    if dataset is not None and model is not None:
        raise click.UsageError("name either --dataset or --model, not both")
    if required and dataset is None and model is None:
        raise click.UsageError("name the --dataset or the --model")
    return ("model", model) if model is not None else ("dataset", dataset)


def _rights(ctx: click.Context, param: click.Parameter, value: str) -> frozenset[str]:
    try:
        return parse_rights(value, RIGHTS)
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
@_target
@click.option("--to", "grantee", required=True, metavar="CLIENT", help="The client key name to grant to.")
@click.option("--allow", "allow", required=True, callback=_rights, metavar="RIGHTS",
              help=f"Comma-separated rights (replace what CLIENT had): on a dataset {', '.join(DATASET_RIGHTS)}; "
                   f"on a model {', '.join(MODEL_RIGHTS)}.")
@click.option("--budget", type=click.IntRange(1, 2**53), default=None, metavar="ROWS",
              help="On a model: at most ROWS rows of predictions under this grant (a fresh count).")
@_options
def grant(dataset: str | None, model: str | None, grantee: str, allow: frozenset[str], budget: int | None,
          config_path: Path | None, key_name: str | None, run_dir: Path | None) -> None:
    """Let CLIENT use a dataset you own: train (train models on it), infer (run models over
    it and get the scores), release-model (take models trained on it off the servers); or a
    model you keep on the servers: predict (query it), optionally --budget ROWS."""
    kind, name = _kind(dataset, model)
    if budget is not None and kind != "model":
        raise click.BadParameter("a query budget applies to a --model", param_hint="--budget")
    valid = DATASET_RIGHTS if kind == "dataset" else MODEL_RIGHTS
    if not allow <= set(valid):
        raise click.BadParameter(f"a {kind} takes the rights {', '.join(valid)}, not {describe(allow - set(valid))}",
                                 param_hint="--allow")
    cfg, key = resolve(config_path, run_dir, key_name)
    try:
        with Client(cfg, key) as client:
            outcomes = grant_both(client, str(name), grantee, allow, kind=kind, budget=budget)
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    limit = "" if budget is None else f" (budget {budget} rows)"
    _report(outcomes, f"Granted {describe(allow)}{limit} on {kind} {name} to {grantee}",
            "A job needs the grant on both p0 and p1: run the command again once they answer.")


@click.command("revoke")
@_target
@click.option("--to", "grantee", required=True, metavar="CLIENT", help="The client to take every right from.")
@_options
def revoke(dataset: str | None, model: str | None, grantee: str, config_path: Path | None, key_name: str | None,
           run_dir: Path | None) -> None:
    """Take every right on a dataset or model you own from CLIENT; new jobs stop at once."""
    kind, name = _kind(dataset, model)
    cfg, key = resolve(config_path, run_dir, key_name)
    try:
        with Client(cfg, key) as client:
            outcomes = revoke_both(client, str(name), grantee, kind=kind)
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    held = [s for s, o in outcomes.items() if o is True]
    if outcomes and not held and not any(isinstance(o, Exception) for o in outcomes.values()):
        click.echo(f"{grantee} held no grant on {kind} {name}.")
        return
    _report(outcomes, f"Revoked {grantee}'s rights on {kind} {name}",
            "The servers that answered refuse new jobs already; run the command again for the others.")


@click.command("grants")
@_target
@_options
def grants(dataset: str | None, model: str | None, config_path: Path | None, key_name: str | None,
           run_dir: Path | None) -> None:
    """Grants on the datasets and models you own, and grants others gave you."""
    kind, name = _kind(dataset, model, required=False)
    cfg, key = resolve(config_path, run_dir, key_name)
    try:
        with Client(cfg, key) as client:
            views = list_grants(client, name, kind=kind)
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    if not views:
        click.echo("No grants." if name is None else f"No grants on {kind} {name}.")
        return
    table = Table(title_justify="left")
    for col in ("object", "owner", "grantee", "rights", "granted", "rows used", "state"):
        table.add_column(col)
    for v in views:
        rights = next(iter(v.allow.values()))
        state = "on p0 and p1" if v.complete else "; ".join(f"{s}: {r}" for s, r in v.allow.items()) + \
            " (a job needs the same grant on both: grant again)"
        used = "; ".join(f"{s}: {u}" for s, u in v.budget.items()) if v.budget else "-"
        table.add_row(f"{v.kind} {v.name}", v.owner, v.grantee, rights, v.granted, used, state)
    make_console().print(table)
