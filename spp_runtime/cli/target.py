"""Which cluster a client command talks to: ``--config``, else the running local cluster."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from .. import PARTY_NAMES
from ..client import Client
from ..client.remote_store import RemoteStore
from ..config import ClusterConfig, load
from ..errors import SppError
from ..keys import KeyPair, load_pair
from ..launch import local as cl

config_option = click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="Cluster config (TOML); default: the cluster started by `spp cluster up`.")
key_option = click.option(
    "--key", "key_name", default=None, metavar="NAME",
    help="Client key to connect with (one of the config's clients.allowed); default: clients.default.")
run_dir_option = click.option(
    "--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Run directory of the local cluster [$SPP_RUN_DIR or ./run/cluster].")


def resolve(config_path: Path | None, run_dir: Path | None, key_name: str | None) -> tuple[ClusterConfig, KeyPair | None]:
    """The config and client key a command uses; ClickException with the fix if none."""
    try:
        if config_path is not None:
            cfg = load(config_path)
        else:
            run_dir = run_dir or cl.default_run_dir()
            if not any(s.alive for s in cl.status(run_dir, query=False)):
                raise SppError(f"no cluster is running from {run_dir}; start one with `spp cluster up` "
                               f"or pass --config FILE")
            cfg = load(Path(json.loads((run_dir / cl.STATE_FILE).read_text())["config"]))
        if key_name is None:
            return cfg, None
        if key_name not in cfg.allowed_clients:
            raise SppError(f"{cfg.source}: key {key_name!r} is not one of the allowed clients "
                           f"({', '.join(cfg.allowed_clients)})")
        return cfg, load_pair(cfg.client_secret_key(key_name))
    except (SppError, OSError, ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None


def delete_on_primaries(config_path: Path | None, run_dir: Path | None, key_name: str | None, what: str,
                        name: str, remove: Callable[[RemoteStore, str], None],
                        missing: type[Exception]) -> None:
    """Delete ``what`` ``name`` from P0 and P1 (each may have it or not: a half-finished delete
    is finished by a retry); a clear error when neither had it."""
    cfg, key = resolve(config_path, run_dir, key_name)
    deleted = []
    try:
        with Client(cfg, key) as client:
            for p in (0, 1):
                try:
                    remove(RemoteStore(client, p), name)
                    deleted.append(PARTY_NAMES[p])
                except missing:
                    pass
    except (SppError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    if not deleted:
        raise click.ClickException(f"no {what} {name!r} on p0 or p1")
    click.echo(f"Deleted {what} {name} from {', '.join(deleted)}.")
