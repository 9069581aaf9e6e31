"""``spp cluster up|status|down``: the three servers as local background processes."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..errors import SppError
from ..launch import local as cl
from .console import console as make_console

_config = click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                       default=None, help="Cluster config (TOML); default: the embedded loopback config.")
_run_dir = click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Where pid files, logs (and default keys) live [$SPP_RUN_DIR or ./run/cluster].")


@click.group("cluster")
def cluster() -> None:
    """Start, inspect and stop a local three-server cluster."""


@cluster.command("up")
@_config
@_run_dir
def up(config_path: Path | None, run_dir: Path | None) -> None:
    """Start p0, p1, p2 detached and wait until they are connected and serving."""
    run_dir = run_dir or cl.default_run_dir()
    try:
        servers = cl.up(run_dir, config_path)
    except SppError as exc:
        raise click.ClickException(str(exc)) from None
    _print(servers, f"Cluster up (run dir {run_dir}).")


@cluster.command("status")
@_run_dir
def status(run_dir: Path | None) -> None:
    """Show each server's process, address, connections and jobs served; exit 1 (naming it)
    if a server is stopped or does not answer."""
    run_dir = run_dir or cl.default_run_dir()
    servers = cl.status(run_dir)
    if not any(s.alive for s in servers):
        click.echo(f"No cluster is running from {run_dir}.")
        return
    if _print(servers, f"Cluster in {run_dir}:"):
        raise SystemExit(1)


@cluster.command("down")
@_run_dir
def down(run_dir: Path | None) -> None:
    """Stop the servers (SIGTERM, then SIGKILL); does nothing if none run."""
    run_dir = run_dir or cl.default_run_dir()
    stopped = cl.down(run_dir)
    click.echo(f"Stopped {', '.join(stopped)}." if stopped else f"No cluster was running from {run_dir}.")


def _print(servers: list[cl.ServerInfo], title: str) -> list[str]:
    """Print the servers' table; returns what is wrong (a server stopped or not answering)."""
    table = Table(title=title, title_justify="left")
    for col in ("server", "pid", "state", "listens on", "peers", "jobs"):
        table.add_column(col)
    problems = []
    for s in servers:
        st = s.status or {}
        error = st.get("error")  # this one did not answer; the others still did
        if error:
            st = {}
        if not s.alive:
            state = "stopped"
            problems.append(f"{s.name} is not running (process {s.pid} is gone)")
        elif error:
            state = "not answering"
            problems.append(error)
        else:
            state = "serving" if st.get("ready") else "running"
        peers = ", ".join(f"{k} {v}" for k, v in st.get("peers", {}).items()) or "?"
        jobs = f"{st.get('jobs', '?')} ok, {st.get('failed', '?')} failed" if st else "?"
        table.add_row(s.name, str(s.pid), state, s.listen, peers, jobs)
    out = make_console()
    out.print(table)
    for problem in problems:
        out.print(problem, style="red", markup=False)
    if servers:
        out.print(f"logs: {servers[0].log.parent}/p0.log, p1.log, p2.log")
    return problems
