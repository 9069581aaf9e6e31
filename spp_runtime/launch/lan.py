"""The three servers and a client, each on its own host of an emulated LAN.

:class:`LanCluster` builds a :class:`~spp_runtime.netem.topology.Lan` with hosts ``p0``,
``p1``, ``p2`` and ``client``, writes fresh CURVE keys and a cluster config into a private
temporary directory, and in each server's namespace starts a delay relay (listening on the
host's LAN address) and the ordinary ``spp server`` process (listening on 127.0.0.1 behind
the relay). Every byte between hosts therefore crosses two rate-limited veth ends and one
relay that holds it for the one-way delay. Processes run in the client host with
:meth:`LanCluster.client_popen`. The cleanup policy (:mod:`.lifecycle`) holds from before the
namespaces are made: leaving the ``with`` block (normally, on an exception, SIGTERM or Ctrl-C)
stops every process and deletes every namespace.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .. import PARTY_NAMES
from ..config import ClusterConfig, load
from ..netem.topology import Lan, LinkShape
from .files import cluster_doc, new_keys, private_dir, write_config
from .lifecycle import Cleanup, stop_processes

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
        self._cleanup = Cleanup(self.stop)
        self._exit = ExitStack()
        self.config_path: Path | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Self:
        with ExitStack() as stack:  # the cleanup policy holds from before the first namespace
            stack.enter_context(self._cleanup)
            self.start()
            self._exit = stack.pop_all()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit.__exit__(exc_type, exc, tb)

    def start(self) -> None:
        self.lan.up()
        self._tmp = private_dir("spp-lan-")
        new_keys(self._tmp / "keys", self._clients)
        self.config_path = write_config(self._tmp / "cluster.toml", self._config_doc())
        py = sys.executable
        for p, name in enumerate(PARTY_NAMES):
            relay = [py, "-m", "spp_runtime.netem.relay", "--delay-ms", str(self.shape.one_way_delay_ms),
                     "--route", f"{self.lan.address(name)}:{PORT}=127.0.0.1:{PORT}"]
            proc = self._popen(name, relay, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if proc.stdout is None or proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the delay relay in {name}'s namespace did not start")
            with open(self._tmp / f"{name}.log", "wb") as log:
                self._popen(
                    name, [py, "-m", "spp_runtime", "server", "--party", str(p), "--config", str(self.config_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        """Stop every process we started, delete the namespaces and the key directory."""
        stop_processes(self._procs)
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

    def client_popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start ``argv`` on the client host; it is stopped with the cluster (before the servers)."""
        return self._popen(CLIENT, argv, first=True, **kwargs)

    def client_run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
        return self.lan.run(CLIENT, argv, **kwargs)

    def _popen(self, host: str, argv: Sequence[str], *, first: bool = False, **kwargs: Any) -> subprocess.Popen:
        """Start ``argv`` on ``host`` and record it for :meth:`stop` (as one step: a signal waits)."""
        with self._cleanup.held():
            proc = self.lan.popen(host, argv, **kwargs)
            self._procs.insert(0 if first else len(self._procs), proc)
        return proc

    def _config_doc(self) -> dict[str, Any]:
        hb = 1.0
        return cluster_doc(
            [PORT] * len(PARTY_NAMES),
            hosts=[self.lan.address(name) for name in PARTY_NAMES],
            bind="127.0.0.1",
            clients=self._clients,
            timeouts={"recv_s": self._recv_s, "connect_s": 60.0, "job_s": 4 * self._recv_s,
                      "heartbeat_s": hb, "heartbeat_timeout_s": 30.0},
            frac_bits=16,
            data_dir="data",
            limits={"max_message_mb": 2048},
        )
