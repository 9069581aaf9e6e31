"""Cluster configuration (TOML): where the three servers listen, keys, storage, limits.

Example (``configs/local.toml``)::

    [cluster]
    frac_bits = 16          # fixed-point fractional bits
    timeout_s = 60          # per receive: a silent peer fails after this long
    max_message_mb = 2048

    [parties.p0]
    host = "127.0.0.1"      # address the others connect to
    bind = "127.0.0.1"      # address to listen on
    port = 17100
    # [parties.p1], [parties.p2] alike

    [keys]
    dir = "keys"            # relative to this file: <name>.key and <name>.key_secret
    clients = ["owner", "analyst"]   # client key names the servers accept

    [storage]
    dir = "data"            # relative to this file; each primary uses <dir>/<party>

Errors name the file and the field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from . import PARTY_NAMES
from .encoding import FixedPoint
from .errors import ConfigError
from .transport.zmq_transport import Endpoint, KeyPair


@dataclass(frozen=True)
class ClusterConfig:
    path: Path
    endpoints: tuple[Endpoint, Endpoint, Endpoint]
    key_dir: Path
    clients: tuple[str, ...]
    data_dir: Path
    frac_bits: int = 16
    timeout_s: float = 60.0
    max_message_bytes: int = 2048 << 20
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fxp(self) -> FixedPoint:
        return FixedPoint(self.frac_bits)

    def secret_key_file(self, name: str) -> Path:
        return self.key_dir / f"{name}.key_secret"

    def public_key_file(self, name: str) -> Path:
        return self.key_dir / f"{name}.key"

    def load_keypair(self, name: str) -> KeyPair:
        f = self.secret_key_file(name)
        if not f.exists():
            raise ConfigError(f"{self.path}: no secret key for {name!r} at {f} (run `spp keys generate`)")
        return KeyPair.load(str(f))

    def load_public(self, name: str) -> bytes:
        import zmq.auth

        f = self.public_key_file(name)
        if not f.exists():
            raise ConfigError(f"{self.path}: no public key for {name!r} at {f} (run `spp keys generate`)")
        public, _ = zmq.auth.load_certificate(str(f))
        return public

    def party_publics(self) -> list[bytes]:
        return [self.load_public(n) for n in PARTY_NAMES]

    def client_publics(self) -> dict[str, bytes]:
        return {c: self.load_public(c) for c in self.clients}

    def party_data_dir(self, party: int) -> Path:
        return self.data_dir / PARTY_NAMES[party]


def _need(table: dict, key: str, kind: type | tuple, where: str, path: Path) -> Any:
    if key not in table:
        raise ConfigError(f"{path}: missing field {where}.{key}")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{path}: field {where}.{key} has the wrong type ({type(value).__name__})")
    return value


def load_config(path: str | Path) -> ClusterConfig:
    """Read and validate a cluster configuration file."""
    p = Path(path).resolve()
    try:
        raw = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    cluster = raw.get("cluster", {})
    parties = raw.get("parties")
    if not isinstance(parties, dict):
        raise ConfigError(f"{p}: missing [parties.p0], [parties.p1], [parties.p2] tables")
    endpoints = []
    for name in PARTY_NAMES:
        if name not in parties:
            raise ConfigError(f"{p}: missing table [parties.{name}]")
        t = parties[name]
        host = _need(t, "host", str, f"parties.{name}", p)
        port = _need(t, "port", int, f"parties.{name}", p)
        if not 0 < port < 65536:
            raise ConfigError(f"{p}: field parties.{name}.port = {port} is not a TCP port")
        endpoints.append(Endpoint(host, port, str(t.get("bind", "0.0.0.0"))))
    if len({(e.host, e.port) for e in endpoints}) < 3:
        raise ConfigError(f"{p}: two parties share the same host and port")
    keys = raw.get("keys", {})
    key_dir = (p.parent / str(keys.get("dir", "keys"))).resolve()
    clients = keys.get("clients", [])
    if not isinstance(clients, list) or not all(isinstance(c, str) and c and c not in PARTY_NAMES for c in clients):
        raise ConfigError(f"{p}: field keys.clients must be a list of client names (not p0/p1/p2)")
    storage = raw.get("storage", {})
    data_dir = (p.parent / str(storage.get("dir", "data"))).resolve()
    frac = cluster.get("frac_bits", 16)
    if not isinstance(frac, int) or not 0 <= frac <= 40:
        raise ConfigError(f"{p}: field cluster.frac_bits must be an integer in [0, 40]")
    timeout = cluster.get("timeout_s", 60)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError(f"{p}: field cluster.timeout_s must be a positive number")
    max_mb = cluster.get("max_message_mb", 2048)
    if not isinstance(max_mb, int) or max_mb <= 0:
        raise ConfigError(f"{p}: field cluster.max_message_mb must be a positive integer")
    return ClusterConfig(
        path=p,
        endpoints=tuple(endpoints),  # type: ignore[arg-type]
        key_dir=key_dir,
        clients=tuple(clients),
        data_dir=data_dir,
        frac_bits=frac,
        timeout_s=float(timeout),
        max_message_bytes=max_mb << 20,
        extra={k: v for k, v in raw.items() if k not in ("cluster", "parties", "keys", "storage")},
    )


def default_config_text() -> str:
    """The embedded local configuration that `spp cluster up` uses by default."""
    return resources.files("spp_runtime.configs").joinpath("local.toml").read_text()
