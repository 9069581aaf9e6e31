"""`spp server`, `spp cluster up|status|down` and `spp keys generate`."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..config import load_config
from ..errors import SppError
from ..keys import generate_keys
from ..server import cluster as cl

console = Console()


@click.command("server")
@click.option("--party", type=click.IntRange(0, 2), required=True, help="0, 1 (primary) or 2 (helper)")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=True)
@click.option("--log-level", default="INFO", show_default=True)
def server_cmd(party: int, config_path: str, log_level: str) -> None:
    """Run one party's server (foreground)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from ..server.server import run_server

    try:
        run_server(load_config(config_path), party)
    except SppError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("cluster")
def cluster_group() -> None:
    """Start, inspect and stop the three local servers."""


_run_dir = click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=cl.DEFAULT_RUN_DIR,
                        show_default=True, help="where config, keys, logs and pid files live")


@cluster_group.command("up")
@_run_dir
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="a cluster config (default: the embedded local one, written into the run dir)")
@click.option("--wait", type=float, default=60.0, show_default=True, help="seconds to wait for the servers")
def cluster_up(run_dir: Path, config_path: Path | None, wait: float) -> None:
    """Start p0, p1 and p2 as separate processes and wait until they serve jobs."""
    try:
        cfg = cl.up(run_dir, config_path, wait)
    except SppError as exc:
        raise click.ClickException(str(exc)) from None
    table = Table(title="spp cluster is up")
    for col in ("party", "listens on", "log"):
        table.add_column(col)
    for i, name in enumerate(("p0", "p1", "p2")):
        table.add_row(name, cfg.endpoints[i].connect_url, str(run_dir / "logs" / f"{name}.log"))
    console.print(table)
    console.print(f"config: {cfg.path}   keys: {cfg.key_dir}")


@cluster_group.command("status")
@_run_dir
def cluster_status(run_dir: Path) -> None:
    """Show whether each server runs and answers."""
    rows = cl.status(run_dir)
    if not any(r.pid for r in rows):
        console.print(f"no cluster is running from {run_dir}")
        return
    table = Table(title=f"spp cluster ({run_dir})")
    for col in ("party", "pid", "process", "answers", "endpoint"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.party, str(r.pid or "-"), "running" if r.alive else "stopped",
                      "yes" if r.answering else "no", r.endpoint)
    console.print(table)


@cluster_group.command("down")
@_run_dir
def cluster_down(run_dir: Path) -> None:
    """Stop the servers (safe to repeat)."""
    stopped = cl.down(run_dir)
    console.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


@click.group("keys")
def keys_group() -> None:
    """CURVE key management."""


@keys_group.command("generate")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--client", "clients", multiple=True, help="a client name (repeatable)")
@click.option("--overwrite", is_flag=True, help="replace existing keys")
def keys_generate(directory: Path, clients: tuple[str, ...], overwrite: bool) -> None:
    """Write key pairs for p0, p1, p2 and the named clients (secret files are mode 0600)."""
    for f in generate_keys(directory, clients, overwrite=overwrite):
        console.print(f"{f.with_suffix('.key')}  (secret: {f.name})")
