"""Local clusters for tests: a config with fresh keys on free ports, and the servers it names.

:func:`write_config` writes ``cluster.toml`` and ``keys/`` into a directory: servers p0-p2 on
loopback, client ``tester`` allowed (and the default), a key for ``mallory`` that no server
accepts, short timeouts. :func:`running_cluster` starts the three ``spp server`` processes
from such a config (run directory ``run/`` beside it) and stops them when the block ends. The
``cluster`` fixture in ``conftest.py`` is one of these per test module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from spp_runtime.config import ClusterConfig, load
from spp_runtime.launch import local
from spp_runtime.launch.files import cluster_doc, free_ports, new_keys
from spp_runtime.launch.files import write_config as write_toml

CLIENT, STRANGER = "tester", "mallory"


def write_config(d: Path, *, p2_secret: str | None = None, recv_s: float = 10) -> Path:
    """``d/cluster.toml`` and ``d/keys/`` for three servers on free loopback ports; returns the path.

    ``p2_secret`` gives p2 another secret key file (relative to ``d``), ``recv_s`` the parties'
    receive timeout.
    """
    new_keys(d / "keys", [CLIENT, STRANGER])
    doc = cluster_doc(free_ports(3), clients=[CLIENT],
                      timeouts={"recv_s": recv_s, "connect_s": 5, "job_s": 60, "heartbeat_s": 0.3,
                                "heartbeat_timeout_s": 1.5})
    if p2_secret:
        doc["parties"]["p2"]["secret_key"] = p2_secret
    return write_toml(d / "cluster.toml", doc)


@contextmanager
def running_cluster(d: Path, *, p2_secret: str | None = None,
                    recv_s: float = 10) -> Iterator[tuple[ClusterConfig, Path]]:
    """Three servers from :func:`write_config` ``(d, ...)``; yields (their config, ``d``)."""
    path = write_config(d, p2_secret=p2_secret, recv_s=recv_s)
    local.up(d / "run", path)
    try:
        yield load(path), d
    finally:
        local.down(d / "run")
