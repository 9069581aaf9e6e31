"""The local cluster: three `spp server` processes on this machine, managed by pid files.

``up`` writes the embedded local configuration and fresh keys into a run directory when
they are missing, starts the three servers detached (logs in ``<run>/logs``), and waits
until a ``ping`` job succeeds on all three. ``status`` checks the processes and asks the
servers; ``down`` stops them (SIGTERM, then SIGKILL) and is safe to repeat.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .. import PARTY_NAMES
from ..config import ClusterConfig, default_config_text, load_config
from ..errors import ConfigError, SppError
from ..keys import generate_keys

DEFAULT_RUN_DIR = Path(".spp") / "cluster"


class ClusterError(SppError):
    """The cluster could not be started, reached or stopped."""


@dataclass
class PartyStatus:
    party: str
    pid: int | None
    alive: bool
    endpoint: str
    answering: bool


def prepare_run_dir(run_dir: Path, config: Path | None) -> Path:
    """Make sure the run directory has a config and keys; return the config path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    cfg_path = Path(config) if config else run_dir / "config.toml"
    if config is None and not cfg_path.exists():
        cfg_path.write_text(default_config_text())
    cfg = load_config(cfg_path)
    missing = [n for n in (*PARTY_NAMES, *cfg.clients) if not cfg.secret_key_file(n).exists()]
    if missing:
        generate_keys(cfg.key_dir, cfg.clients)
    return cfg_path


def _pid_file(run_dir: Path, party: int) -> Path:
    return run_dir / f"{PARTY_NAMES[party]}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


def read_pids(run_dir: Path) -> dict[int, int]:
    pids = {}
    for party in range(3):
        f = _pid_file(run_dir, party)
        if f.exists():
            try:
                pids[party] = int(f.read_text().strip())
            except ValueError:
                f.unlink()
    return pids


def up(run_dir: Path = DEFAULT_RUN_DIR, config: Path | None = None, wait: float = 60.0) -> ClusterConfig:
    """Start the three servers (unless already running) and wait until they serve jobs."""
    run_dir = Path(run_dir)
    cfg_path = prepare_run_dir(run_dir, config)
    cfg = load_config(cfg_path)
    running = {p: pid for p, pid in read_pids(run_dir).items() if _alive(pid)}
    for party in range(3):
        if party in running:
            continue
        log = open(run_dir / "logs" / f"{PARTY_NAMES[party]}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "spp_runtime.cli.main", "server", "--party", str(party), "--config", str(cfg_path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        _pid_file(run_dir, party).write_text(str(proc.pid))
    wait_until_serving(cfg, run_dir, wait)
    return cfg


def wait_until_serving(cfg: ClusterConfig, run_dir: Path, wait: float) -> None:
    from ..client.client import Client

    deadline = time.monotonic() + wait
    last_error = "no answer"
    while time.monotonic() < deadline:
        dead = [PARTY_NAMES[p] for p, pid in read_pids(run_dir).items() if not _alive(pid)]
        if dead:
            logs = ", ".join(str(run_dir / "logs" / f"{d}.log") for d in dead)
            raise ClusterError(f"server {', '.join(dead)} exited during start-up; see {logs}")
        try:
            with Client(cfg, cfg.clients[0], timeout=min(10.0, max(1.0, deadline - time.monotonic()))) as c:
                c.submit("ping")
            return
        except SppError as exc:
            last_error = str(exc)
            time.sleep(0.3)
    raise ClusterError(f"the servers did not start serving within {wait:g} s ({last_error})")


def status(run_dir: Path = DEFAULT_RUN_DIR) -> list[PartyStatus]:
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.toml"
    pids = read_pids(run_dir)
    answers: dict[str, dict | None] = {p: None for p in PARTY_NAMES}
    cfg = None
    if cfg_path.exists():
        try:
            cfg = load_config(cfg_path)
        except ConfigError:
            cfg = None
    if cfg is not None and any(_alive(pid) for pid in pids.values()):
        from ..client.client import Client

        with Client(cfg, cfg.clients[0]) as c:
            answers = c.status(timeout=2.0)
    out = []
    for party, name in enumerate(PARTY_NAMES):
        pid = pids.get(party)
        ep = cfg.endpoints[party].connect_url if cfg else "-"
        out.append(PartyStatus(name, pid, pid is not None and _alive(pid), ep, answers.get(name) is not None))
    return out


def down(run_dir: Path = DEFAULT_RUN_DIR, grace: float = 5.0) -> list[str]:
    """Stop the servers; returns the names of those that were running."""
    run_dir = Path(run_dir)
    stopped = []
    pids = read_pids(run_dir)
    for party, pid in pids.items():
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            stopped.append(PARTY_NAMES[party])
    deadline = time.monotonic() + grace
    for party, pid in pids.items():
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        _pid_file(run_dir, party).unlink(missing_ok=True)
    return stopped
