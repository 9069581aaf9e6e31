"""``spp models list|show|delete``: trained models kept on the servers (``spp train --save-as``).

A stored model is shares of its weights on P0 and P1, owned by the client that trained it;
its manifest (public) names its config and the datasets it was trained on. Its weights
never leave the servers through these commands.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .. import PARTY_NAMES
from ..client import Client
from ..client.remote_store import RemoteStore, list_models
from ..errors import SppError
from ..storage.errors import ModelNotFound
from .console import console as make_console
from .target import config_option, delete_on_primaries, key_option, resolve, run_dir_option


def _options(fn):
    return config_option(key_option(run_dir_option(fn)))


@click.group("models")
def models() -> None:
    """List, inspect and delete models kept on the servers."""


@models.command("list")
@_options
def list_cmd(config_path: Path | None, key_name: str | None, run_dir: Path | None) -> None:
    """Every stored model on p0 and p1, with its owner, layers and training data."""
    cfg, key = resolve(config_path, run_dir, key_name)
    try:
        with Client(cfg, key) as client:
            views = list_models(client)
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    if not views:
        click.echo("No models.")
        return
    table = Table(title_justify="left")
    for col in ("model", "owner", "config", "trained on", "created", "state"):
        table.add_column(col)
    for v in views:
        m = v.manifest
        data = ", ".join(sorted({f"{s.dataset} ({s.owner})" for s in m.sources})) or "-"
        table.add_row(v.name, m.owner, str(m.config.get("name", "?")), data, m.created,
                      "complete" if v.complete else v.note)
    make_console().print(table)


@models.command("show")
@click.argument("name")
@_options
def show(name: str, config_path: Path | None, key_name: str | None, run_dir: Path | None) -> None:
    """One stored model's manifest on each server (tensors, config, training data)."""
    cfg, key = resolve(config_path, run_dir, key_name)
    out = make_console()
    found = 0
    try:
        with Client(cfg, key) as client:
            for p in (0, 1):
                try:
                    m = RemoteStore(client, p).show_model(name)
                except ModelNotFound:
                    out.print(f"{PARTY_NAMES[p]}: no model {name!r}")
                    continue
                found += 1
                out.print(f"{PARTY_NAMES[p]}: {m.name}, owner {m.owner}, config {m.config.get('name', '?')}, "
                          f"frac_bits {m.frac_bits}, created {m.created}, model id {m.model_id}")
                for t, shape in m.tensors.items():
                    out.print(f"  {t} {'x'.join(map(str, shape))}")
                for s in m.sources:
                    out.print(f"  trained on {s.dataset}:{s.part} ({s.input}) of {s.owner}, upload {s.upload_id}")
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    if not found:
        raise click.ClickException(f"no model {name!r} on p0 or p1")


@models.command("delete")
@click.argument("name")
@_options
def delete(name: str, config_path: Path | None, key_name: str | None, run_dir: Path | None) -> None:
    """Delete a model you own from p0 and p1 (retry if it was left on one)."""
    delete_on_primaries(config_path, run_dir, key_name, "model", name, RemoteStore.delete_model, ModelNotFound)
