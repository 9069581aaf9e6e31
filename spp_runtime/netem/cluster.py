"""The three servers and a client, each on its own host of an emulated LAN.

:class:`LanCluster` builds a :class:`~spp_runtime.netem.topology.Lan` with hosts ``p0``,
``p1``, ``p2`` and ``client``, writes fresh CURVE keys and a cluster config into a private
temporary directory, and in each server's namespace starts a delay relay (listening on the
host's LAN address) and the ordinary ``spp server`` process (listening on 127.0.0.1 behind
the relay). Every byte between hosts therefore crosses two rate-limited veth ends and one
relay that holds it for the one-way delay. Processes run in the client host with
:meth:`LanCluster.client_popen`. Leaving the ``with`` block (normally, on an exception or on
Ctrl-C) stops every process and deletes every namespace.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import tomli_w

from .. import PARTY_NAMES
from ..config import ClusterConfig, load
from ..keys import generate
from .topology import Lan, LinkShape

CLIENT = "client"
CLIENT_KEY = "bench"
PORT = 47310  # the same port on every host: each has its own address


class LanCluster:
    """Servers p0, p1, p2 and a client host on an emulated LAN; a context manager."""

    def __init__(self, shape: LinkShape, *, recv_s: float = 600.0, clients: Sequence[str] = (CLIENT_KEY,)) -> None:
        self.shape = shape
        self.lan = Lan([*PARTY_NAMES, CLIENT], shape)
        self._clients = tuple(clients)
        self._recv_s = recv_s
        self._procs: list[subprocess.Popen] = []
        self._tmp: Path | None = None
        self.config_path: Path | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> LanCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.lan.up()
        self._tmp = Path(tempfile.mkdtemp(prefix="spp-lan-"))
        generate(self._tmp / "keys", [*PARTY_NAMES, *self._clients])
        self.config_path = self._tmp / "cluster.toml"
        self.config_path.write_text(tomli_w.dumps(self._config_doc()))
        py = sys.executable
        for p, name in enumerate(PARTY_NAMES):
            relay = [py, "-m", "spp_runtime.netem.relay", "--delay-ms", str(self.shape.one_way_delay_ms),
                     "--route", f"{self.lan.address(name)}:{PORT}=127.0.0.1:{PORT}"]
            proc = self.lan.popen(name, relay, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self._procs.append(proc)
            if proc.stdout is None or proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the delay relay in {name}'s namespace did not start")
            with open(self._tmp / f"{name}.log", "wb") as log:
                self._procs.append(self.lan.popen(
                    name, [py, "-m", "spp_runtime", "server", "--party", str(p), "--config", str(self.config_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))

    def stop(self) -> None:
        """Stop every process we started, delete the namespaces and the key directory."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for proc in self._procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        self.lan.down()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- use ------------------------------------------------------------------------------
    @property
    def config(self) -> ClusterConfig:
        if self.config_path is None:
            raise RuntimeError("the LAN cluster is not running")
        return load(self.config_path)

    def server_logs(self, lines: int = 10) -> str:
        """The tail of each server's log (for error messages)."""
        out = []
        for name in PARTY_NAMES:
            path = (self._tmp or Path("/nonexistent")) / f"{name}.log"
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                tail = ["(no log)"]
            out.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(out)

    def client_popen(self, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start ``argv`` on the client host; it is stopped with the cluster."""
        proc = self.lan.popen(CLIENT, argv, **kwargs)
        self._procs.insert(0, proc)
        return proc

    def client_run(self, argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
        return self.lan.run(CLIENT, argv, **kwargs)

    def _config_doc(self) -> dict:
        hb = 1.0
        return {
            "frac_bits": 16,
            "data_dir": "data",
            "keys": {"dir": "keys"},
            "clients": {"allowed": list(self._clients), "default": self._clients[0]},
            "timeouts": {"recv_s": self._recv_s, "connect_s": 60.0, "job_s": 4 * self._recv_s,
                         "heartbeat_s": hb, "heartbeat_timeout_s": 30.0},
            "limits": {"max_message_mb": 2048},
            "parties": {name: {"host": self.lan.address(name), "bind": "127.0.0.1", "port": PORT}
                        for name in PARTY_NAMES},
        }
