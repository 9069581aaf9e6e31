"""Keys, ports and config files for the clusters the launchers start.

Every launcher prepares its processes the same way: loopback ports that were free a moment
ago (:func:`free_ports`), fresh CURVE key pairs for the three parties and the clients
(:func:`new_keys`), and a cluster config written as TOML (:func:`cluster_doc` or, for the local
cluster, :func:`default_doc`; then :func:`write_config`). Keys live in ``keys/`` beside the
config, which names them relative to itself.
"""

from __future__ import annotations

import socket
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomli_w

from .. import PARTY_NAMES
from ..config import ClusterConfig, default_text
from ..keys import generate, public_path

KEY_DIR = "keys"  # relative to the config file
LOOPBACK = "127.0.0.1"


def free_ports(n: int = 3) -> tuple[int, ...]:
    """``n`` TCP ports on loopback that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return tuple(s.getsockname()[1] for s in socks)
    finally:
        for s in socks:
            s.close()


def private_dir(prefix: str) -> Path:
    """A fresh temporary directory only this user can read (mode 0700), for keys and configs."""
    return Path(tempfile.mkdtemp(prefix=prefix))  # mkdtemp creates it with mode 0700


def new_keys(key_dir: Path, clients: Sequence[str] = ()) -> list[Path]:
    """Fresh key pairs for p0, p1, p2 and each client name in ``key_dir``; returns the files."""
    return generate(Path(key_dir), [*PARTY_NAMES, *clients])


def ensure_keys(cfg: ClusterConfig) -> list[Path]:
    """Generate the key pairs ``cfg`` names (parties and allowed clients) if none exist yet."""
    names = [*PARTY_NAMES, *cfg.allowed_clients]
    if all(public_path(cfg.key_dir, n).exists() for n in names):
        return []
    return generate(cfg.key_dir, names)


def cluster_doc(
    ports: Sequence[int],
    *,
    hosts: Sequence[str] = (LOOPBACK,) * len(PARTY_NAMES),
    bind: str | None = None,
    clients: Sequence[str] = (),
    timeouts: Mapping[str, float] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A cluster config (the TOML document) for p0, p1, p2 at ``hosts`` on ``ports``.

    Keys are read from ``keys/`` beside the file; ``clients`` are the allowed client keys, the
    first one the default; ``bind`` is the interface every server listens on (default: its
    host); other top-level fields (``frac_bits``, ``data_dir``, ``limits``) pass through.
    """
    doc: dict[str, Any] = {**fields, "keys": {"dir": KEY_DIR}}
    if clients:
        doc["clients"] = {"allowed": list(clients), "default": clients[0]}
    if timeouts is not None:
        doc["timeouts"] = dict(timeouts)
    parties: dict[str, dict[str, Any]] = {}
    for name, host, port in zip(PARTY_NAMES, hosts, ports, strict=True):
        parties[name] = {"host": host, "port": int(port)}
        if bind is not None:
            parties[name]["bind"] = bind
    doc["parties"] = parties
    return doc


def default_doc(ports: Sequence[int] | None = None) -> dict[str, Any]:
    """The embedded default config (three servers on loopback), optionally on other ports."""
    doc = tomllib.loads(default_text())
    if ports is not None:
        for name, port in zip(PARTY_NAMES, ports, strict=True):
            doc["parties"][name]["port"] = int(port)
    return doc


def write_config(path: Path, doc: Mapping[str, Any], *, header: str = "") -> Path:
    """Write ``doc`` as TOML to ``path`` (after ``header``, e.g. a comment); returns the path."""
    path = Path(path)
    path.write_text(header + tomli_w.dumps(dict(doc)))
    return path
