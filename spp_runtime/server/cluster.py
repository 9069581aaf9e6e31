"""A local cluster: the three ``spp server`` processes started detached from one run directory.

The run directory holds ``cluster.toml`` (the config the servers were started with, or a
pointer to it), ``pN.pid`` and ``pN.log`` per server, and for the embedded default config
the generated ``keys/``. ``up`` waits until all three servers report they are connected to
each other; ``down`` stops them (SIGTERM, then SIGKILL after a grace period) and is
idempotent; ``status`` reports what runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from .. import PARTY_NAMES
from ..config import ClusterConfig, default_text, load
from ..engine.remote import free_ports
from ..errors import SppError
from ..keys import generate, public_path

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


def config_for(run_dir: Path, config: Path | None, ports: tuple[int, int, int] | None = None) -> tuple[ClusterConfig, Path]:
    """The config a cluster in ``run_dir`` will use: the given file, or the embedded default
    written to ``run_dir/cluster.toml`` (optionally on other ports)."""
    if config is not None:
        if ports is not None:
            raise ClusterError("ports can only be chosen for the embedded default config")
        return load(config), Path(config).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / DEFAULT_CONFIG_FILE
    raw = tomllib.loads(default_text())
    if ports is not None:
        for name, port in zip(PARTY_NAMES, ports):
            raw["parties"][name]["port"] = int(port)
    path.write_text(
        "# Written by `spp cluster up` from the embedded default; paths are relative to this file.\n"
        + tomli_w.dumps(raw)
    )
    return load(path), path.resolve()


def ensure_default_keys(cfg: ClusterConfig) -> list[Path]:
    """Generate the key pairs the embedded config needs if none exist yet."""
    names = [*PARTY_NAMES, *cfg.allowed_clients]
    if all(public_path(cfg.key_dir, n).exists() for n in names):
        return []
    return generate(cfg.key_dir, names)


def up(
    run_dir: Path,
    config: Path | None = None,
    *,
    ports: tuple[int, int, int] | None = None,
    wait_s: float | None = None,
) -> list[ServerInfo]:
    """Start the three servers detached and wait until they serve; returns where they are."""
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
        ensure_default_keys(cfg)
    _check_ports(cfg)
    (run_dir / STATE_FILE).write_text(json.dumps({"config": str(cfg_path), "started": time.time()}))
    procs = {}
    for p, pc in enumerate(cfg.parties):
        log_path = run_dir / f"{pc.name}.log"
        with open(log_path, "ab") as log:
            procs[pc.name] = proc = subprocess.Popen(
                [sys.executable, "-m", "spp_runtime", "server", "--party", str(p), "--config", str(cfg_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        (run_dir / f"{pc.name}.pid").write_text(f"{proc.pid}\n")
    try:
        _wait_ready(run_dir, cfg, procs, wait_s if wait_s is not None else cfg.timeouts.connect_s + 10)
    except BaseException:
        for proc in procs.values():  # the handles, not the pid files: no exec race
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        down(run_dir)
        raise
    return status(run_dir)


def status(run_dir: Path, *, query: bool = True) -> list[ServerInfo]:
    """The servers started from ``run_dir`` (empty if none), with their live status."""
    servers = _servers(Path(run_dir))
    if query and any(s.alive for s in servers):
        try:
            cfg = _state_config(Path(run_dir))
            from ..client import Client

            with Client(cfg) as client:
                answers = client.status_all(timeout=3.0)  # a dead server does not hide the others
            for s in servers:
                s.status = answers.get(s.name)
        except SppError:
            pass
    return servers


def down(run_dir: Path, *, grace_s: float = 5.0) -> list[str]:
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
    fresh local one started there on free ports (stopped afterwards unless ``keep``)."""
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
    up(run_dir, ports=free_ports(3))
    with _sigterm_as_exit():  # a terminated command still stops the servers it started
        try:
            yield _state_config(run_dir)
        finally:
            if keep:
                echo(f"Cluster left running from {run_dir}; stop it with `spp cluster down --run-dir {run_dir}`.")
            else:
                down(run_dir)


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit inside the block (main thread only), so cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _is_server(pid: int) -> bool:
    """Is ``pid`` alive and one of our servers (not a recycled pid, not a zombie)?"""
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():  # no procfs: trust the pid file
        try:
            os.kill(pid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        cmd = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return state != "Z" and b"spp_runtime" in cmd and b"server" in cmd


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
    from ..client import Client

    deadline = time.monotonic() + wait_s
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
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"the servers did not connect to each other within {wait_s:g} s; logs:\n"
                    + "\n".join(f"--- {s.name}\n{_tail(s.log)}" for s in _servers(run_dir))
                )
            time.sleep(0.1)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
