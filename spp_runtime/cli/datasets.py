"""``spp datasets list|show|delete``: the datasets P0 and P1 hold (metadata only)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .. import PARTY_NAMES
from ..client import Client
from ..client.remote_store import DatasetView, PendingUpload, RemoteStore, list_datasets
from ..errors import SppError
from ..storage.errors import DatasetNotFound
from .console import console as make_console
from .target import config_option, delete_on_primaries, key_option, resolve, run_dir_option


def _options(fn):
    return config_option(key_option(run_dir_option(fn)))


@click.group("datasets")
def datasets() -> None:
    """List, inspect and delete stored datasets."""


@datasets.command("list")
@_options
def list_cmd(config_path: Path | None, key_name: str | None, run_dir: Path | None) -> None:
    """Every dataset on p0 and p1, with its shape, owner and state (and your own uploads
    still in progress)."""
    cfg, key = resolve(config_path, run_dir, key_name)
    unavailable: dict[str, str] = {}
    try:
        pending: list[PendingUpload] = []
        with Client(cfg, key) as client:
            views = list_datasets(client, pending, unavailable)
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    for w in pending:
        click.echo(f"{w.server}: upload {w.upload_id} of {w.name!r} is {w.status} (not visible yet)")
    if not views:
        click.echo("No datasets" + (f" on {', '.join(sorted({'p0', 'p1'} - set(unavailable)))}." if unavailable else "."))
    else:
        _table(views)
    if unavailable:  # the list above is one server's view only
        raise click.ClickException("; ".join(unavailable.values()))


def _table(views: list[DatasetView]) -> None:
    table = Table(title_justify="left")
    for col in ("dataset", "rows", "parts", "frac bits", "owner", "created", "state"):
        table.add_column(col)
    for v in views:
        m = v.manifest
        parts = ", ".join(f"{p} {'x'.join(map(str, m.shape(p)))}" for p in m.parts)
        table.add_row(v.name, str(m.rows), parts, str(m.frac_bits), m.owner, m.created,
                      "complete" if v.complete else v.note)
    make_console().print(table)


@datasets.command("show")
@click.argument("name")
@click.option("--verify", is_flag=True, help="Have each server re-hash its stored share.")
@_options
def show(name: str, verify: bool, config_path: Path | None, key_name: str | None, run_dir: Path | None) -> None:
    """One dataset's manifest on each server (shapes, owner; to its owner also the checksums
    of the shares, and --verify re-hashes them)."""
    cfg, key = resolve(config_path, run_dir, key_name)
    out = make_console()
    found = 0
    try:
        with Client(cfg, key) as client:
            for p in (0, 1):
                try:
                    m = RemoteStore(client, p).show(name, verify=verify)
                except DatasetNotFound:
                    out.print(f"{PARTY_NAMES[p]}: no dataset {name!r}")
                    continue
                found += 1
                out.print(f"{PARTY_NAMES[p]}: {m.name}, {m.rows} rows, frac_bits {m.frac_bits}, owner "
                          f"{m.owner}, created {m.created}, upload {m.upload_id}"
                          + (", checksums verified" if verify else ""))
                for part in m.parts:  # digests are shown to the owner only
                    digest = f" sha256 {m.sha256[part]}" if part in m.sha256 else ""
                    out.print(f"  {part} {'x'.join(map(str, m.shape(part)))}{digest}")
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    if not found:
        raise click.ClickException(f"no dataset {name!r} on p0 or p1")


@datasets.command("delete")
@click.argument("name")
@_options
def delete(name: str, config_path: Path | None, key_name: str | None, run_dir: Path | None) -> None:
    """Delete a dataset you own from p0 and p1 (retry if it was left on one)."""
    delete_on_primaries(config_path, run_dir, key_name, "dataset", name, RemoteStore.delete, DatasetNotFound)
