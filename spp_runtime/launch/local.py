"""The local cluster: the three ``spp server`` processes started detached from one run directory.

The run directory holds ``cluster.json`` (which config the servers were started with),
``pN.pid`` and ``pN.log`` per server, and for the embedded default config its copy
``cluster.toml`` and the generated ``keys/``. ``up`` waits until all three servers report they
are connected to each other (a failure or signal on the way stops the ones it started);
``down`` stops them (SIGTERM, then SIGKILL after a grace period) and is idempotent;
``status`` reports what runs; ``cluster_for`` gives a command its cluster, starting (and
afterwards stopping) one of its own if none runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import PARTY_NAMES
from ..client import Client
from ..config import ClusterConfig, load
from ..errors import SppError
from .files import default_doc, ensure_keys, free_ports, write_config
from .lifecycle import STOP_GRACE_S, Cleanup, alive, stop_processes

DEFAULT_RUN_DIR = "run/cluster"
STATE_FILE = "cluster.json"
DEFAULT_CONFIG_FILE = "cluster.toml"


class ClusterError(SppError):
    """The cluster could not be started, queried or stopped."""


@dataclass
class ServerInfo:
    name: str
    pid: int | None
    alive: bool
    listen: str
    log: Path
    status: dict | None = None  # the server's own status reply, when it answered


def default_run_dir() -> Path:
    """``$SPP_RUN_DIR`` or ``./run/cluster``."""
    return Path(os.environ.get("SPP_RUN_DIR", DEFAULT_RUN_DIR))


def config_for(run_dir: Path, config: Path | None, ports: Sequence[int] | None = None) -> tuple[ClusterConfig, Path]:
    """The config a cluster in ``run_dir`` will use: the given file, or the embedded default
    written to ``run_dir/cluster.toml`` (optionally on other ports)."""
    if config is not None:
        if ports is not None:
            raise ClusterError("ports can only be chosen for the embedded default config")
        return load(config), Path(config).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = write_config(
        run_dir / DEFAULT_CONFIG_FILE, default_doc(ports),
        header="# Written by `spp cluster up` from the embedded default; paths are relative to this file.\n",
    )
    return load(path), path.resolve()


def up(
    run_dir: Path,
    config: Path | None = None,
    *,
    ports: Sequence[int] | None = None,
    wait_s: float | None = None,
) -> list[ServerInfo]:
    """Start the three servers detached and wait until they serve; returns where they are.

    If anything fails on the way (a server exits, they do not connect, SIGTERM, Ctrl-C), the
    servers this call started are stopped before the error propagates.
    """
    run_dir = Path(run_dir)
    running = [s for s in _servers(run_dir) if s.alive]
    if running:
        raise ClusterError(
            f"a cluster is already running from {run_dir} (pids "
            f"{', '.join(str(s.pid) for s in running)}); run `spp cluster down` first"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg, cfg_path = config_for(run_dir, config, ports)
    if cfg.default_client is None:
        raise ClusterError(f"{cfg.source}: clients.default must name a client key (used to check the servers)")
    if config is None:
        ensure_keys(cfg)
    _check_ports(cfg)
    (run_dir / STATE_FILE).write_text(json.dumps({"config": str(cfg_path), "started": time.time()}))
    procs: dict[str, subprocess.Popen] = {}

    def stop_started() -> None:
        stop_processes(list(procs.values()))  # the handles, not the pid files: no exec race
        down(run_dir)

    with Cleanup(stop_started, on_success=False) as cleanup:
        for p, pc in enumerate(cfg.parties):
            with cleanup.held(), open(run_dir / f"{pc.name}.log", "ab") as log:
                procs[pc.name] = proc = subprocess.Popen(
                    [sys.executable, "-m", "spp_runtime", "server", "--party", str(p), "--config", str(cfg_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, close_fds=True,
                )
                (run_dir / f"{pc.name}.pid").write_text(f"{proc.pid}\n")
        _wait_ready(run_dir, cfg, procs, wait_s if wait_s is not None else cfg.timeouts.connect_s + 10)
    return status(run_dir)


def status(run_dir: Path, *, query: bool = True) -> list[ServerInfo]:
    """The servers started from ``run_dir`` (empty if none), with their live status."""
    servers = _servers(Path(run_dir))
    if query and any(s.alive for s in servers):
        try:
            cfg = _state_config(Path(run_dir))
            with Client(cfg) as client:
                answers = client.status_all(timeout=3.0)  # a dead server does not hide the others
            for s in servers:
                s.status = answers.get(s.name)
        except SppError:
            pass
    return servers


def down(run_dir: Path, *, grace_s: float = STOP_GRACE_S) -> list[str]:
    """Stop every server started from ``run_dir``; returns what was stopped (idempotent)."""
    run_dir = Path(run_dir)
    stopped = []
    servers = _servers(run_dir)
    for s in servers:
        if s.alive and s.pid is not None:
            try:
                os.kill(s.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace_s
    for s in servers:
        if not s.alive or s.pid is None:
            continue
        while _is_server(s.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_server(s.pid):
            try:
                os.kill(s.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stopped.append(f"{s.name} (pid {s.pid})")
    for name in PARTY_NAMES:
        (run_dir / f"{name}.pid").unlink(missing_ok=True)
    return stopped


# -- internals ---------------------------------------------------------------------------------------
def _servers(run_dir: Path) -> list[ServerInfo]:
    out = []
    listen = {}
    try:
        cfg = _state_config(run_dir)
        listen = {pc.name: pc.bind_url for pc in cfg.parties}
    except (SppError, OSError, ValueError):
        pass
    for name in PARTY_NAMES:
        pid_file = run_dir / f"{name}.pid"
        if not pid_file.exists():
            continue
        try:
            pid = int(pid_file.read_text().strip())
        except ValueError:
            pid = None
        alive = pid is not None and _is_server(pid)
        out.append(ServerInfo(name, pid, alive, listen.get(name, "?"), run_dir / f"{name}.log"))
    return out


def _state_config(run_dir: Path) -> ClusterConfig:
    """The config the cluster in ``run_dir`` was started with."""
    try:
        state = json.loads((run_dir / STATE_FILE).read_text())
        return load(Path(state["config"]))
    except (OSError, ValueError, KeyError):
        raise ClusterError(f"no cluster state in {run_dir} (start one with `spp cluster up`)") from None


@contextmanager
def cluster_for(
    config: Path | None, run_dir: Path, *, keep: bool = False, echo: Callable[[str], None] = print
) -> Iterator[ClusterConfig]:
    """The cluster to talk to: ``config``'s, else the one running from ``run_dir``, else a
    fresh local one started there on free ports, stopped afterwards unless ``keep`` however
    the block ends (normally, on an exception, SIGTERM or Ctrl-C)."""
    if config is not None:
        yield load(config)
        return
    servers = _servers(run_dir)
    if any(s.alive for s in servers):
        dead = [s.name for s in servers if not s.alive] + [
            n for n in PARTY_NAMES if n not in {s.name for s in servers}]
        if dead:
            raise ClusterError(
                f"the cluster in {run_dir} is missing {', '.join(dead)} (see its log); "
                f"restart it: spp cluster down --run-dir {run_dir} && spp cluster up --run-dir {run_dir}"
            )
        yield _state_config(run_dir)
        return
    echo(f"No cluster running from {run_dir}; starting a local one.")

    def stop() -> None:
        if not keep:
            down(run_dir)
        elif any(s.alive for s in _servers(run_dir)):  # not when `up` failed and cleaned up
            echo(f"Cluster left running from {run_dir}; stop it with `spp cluster down --run-dir {run_dir}`.")

    with Cleanup(stop):  # before the first server starts: a terminated command stops them too
        up(run_dir, ports=free_ports(3))
        yield _state_config(run_dir)


def _is_server(pid: int) -> bool:
    """Is ``pid`` alive and one of our servers (not a recycled pid, not a zombie)?"""
    if not alive(pid):
        return False
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return not Path("/proc/self").exists()  # no procfs: trust the pid file
    return b"spp_runtime" in cmd and b"server" in cmd


def _check_ports(cfg: ClusterConfig) -> None:
    """Fail clearly if a local port the cluster needs is taken."""
    for pc in cfg.parties:
        host = "0.0.0.0" if pc.bind in ("*", "0.0.0.0") else pc.bind
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ does: TIME_WAIT is fine
        try:
            s.bind((host, pc.port))
        except OSError as exc:
            raise ClusterError(f"{pc.name} cannot listen on {pc.bind}:{pc.port}: {exc.strerror}") from None
        finally:
            s.close()


def _wait_ready(run_dir: Path, cfg: ClusterConfig, procs: dict[str, subprocess.Popen], wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    refused_at: float | None = None
    with Client(cfg) as client:
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise ClusterError(
                        f"{name} exited during start-up (code {proc.returncode}):\n{_tail(run_dir / f'{name}.log')}"
                    )
            try:
                client.connect(timeout=1.0)
                answers = client.status(timeout=2.0)
                if all(a.get("ready") for a in answers.values()):
                    return
            except SppError:
                pass
            now = time.monotonic()
            if refused_at is None and any(_refused(run_dir / f"{name}.log") for name in procs):
                refused_at = now  # a key refusal will not heal: fail now, once the peer logged it too
            if refused_at is not None and now > refused_at + KEY_REFUSAL_GRACE_S:
                raise ClusterError(
                    "a server refused a peer's CURVE key (check each server's keys in the config); logs:\n"
                    + "\n".join(f"--- {s.name}\n{_tail(s.log)}" for s in _servers(run_dir))
                )
            if now > deadline:
                raise ClusterError(
                    f"the servers did not connect to each other within {wait_s:g} s; logs:\n"
                    + "\n".join(f"--- {s.name}\n{_tail(s.log)}" for s in _servers(run_dir))
                )
            time.sleep(0.1)


KEY_REFUSAL_GRACE_S = 1.0
# What a server logs when a peer proves a key the config does not list, or refuses ours.
KEY_REFUSAL_MARKERS = ("refused our key", "unknown CURVE key")


def _refused(log: Path) -> bool:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return False
    return any(marker in text for marker in KEY_REFUSAL_MARKERS)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
