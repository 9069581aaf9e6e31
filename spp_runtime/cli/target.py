"""Which cluster a client command talks to: ``--config``, else the running local cluster."""

from __future__ import annotations

import json
from pathlib import Path

import click

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
