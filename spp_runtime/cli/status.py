"""``spp status --party N --config FILE``: is that server up and connected to both peers?

Used as the compose health check. With the config's default client key at hand it asks the
server over CURVE; otherwise (a server container holds only its own secret key) it reads
the status record the server refreshes every second under ``<data_dir>/status/``.
Exit 0 when the server is up and connected to its peers, 1 otherwise, with the reason.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click

from .. import PARTY_NAMES
from ..config import ClusterConfig, load
from ..errors import SppError
from ..launch.lifecycle import alive


@click.command("status")
@click.option("--party", type=click.IntRange(0, 2), required=True, help="Which server to check.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="Cluster config (TOML).")
@click.option("--via", type=click.Choice(["auto", "server", "file"]), default="auto", show_default=True,
              help="Ask the server over CURVE (needs the default client's secret key), read its "
                   "local status record, or pick by which is available.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait for an answer.")
def status(party: int, config_path: Path, via: str, timeout: float) -> None:
    """Exit 0 if server P<party> is up and connected to both peers, else 1 with the reason."""
    name = PARTY_NAMES[party]
    try:
        cfg = load(config_path)
        if via == "auto":
            key = cfg.client_secret_key(cfg.default_client) if cfg.default_client else None
            via = "server" if key is not None and key.exists() else "file"
        info = _ask(cfg, party, timeout) if via == "server" else _read(cfg, party)
    except SppError as exc:
        click.echo(f"{name}: DOWN: {exc}", err=True)
        raise SystemExit(1) from None
    peers = ", ".join(f"{k} {v}" for k, v in info.get("peers", {}).items())
    if not info.get("ready"):
        click.echo(f"{name}: NOT READY: running (pid {info.get('pid')}) but not connected to both peers ({peers})", err=True)
        raise SystemExit(1)
    busy = f"; running job {info['job']}" if info.get("job") else ""
    click.echo(f"{name}: OK (pid {info.get('pid')}; {peers}{busy})")


def _ask(cfg: ClusterConfig, party: int, timeout: float) -> dict:
    from ..client import Client

    with Client(cfg) as client:
        return client.status_of(party, timeout, fail_fast=True)


def _read(cfg: ClusterConfig, party: int, max_age: float = 10.0) -> dict:
    from ..server.server import status_file

    path = status_file(cfg, party)
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        raise SppError(f"no status record at {path} (is the server running with this config?)") from None
    age = time.time() - float(info.get("time", 0))
    if age > max_age:
        raise SppError(f"status record {path} is {age:.0f} s old (server stopped or hung)")
    pid = info.get("pid")
    if isinstance(pid, int) and Path("/proc/self").exists() and not alive(pid):
        raise SppError(f"the server (pid {pid}) that wrote {path} is gone")
    if isinstance(pid, int) and pid == os.getpid():
        raise SppError(f"{path} is stale")
    return info
