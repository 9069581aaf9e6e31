"""Cluster configuration: a TOML file naming the three servers, their keys and the limits.

Layout (every table and field is optional except ``[parties.p0|p1|p2]`` host and port)::

    frac_bits = 16
    data_dir = "data"                 # status records; default parent of the primaries' stores

    [keys]
    dir = "keys"                      # NAME.key / NAME.key_secret (``spp keys generate``)

    [clients]
    allowed = ["local"]               # client key names the servers accept
    default = "local"                 # the key this machine's spp commands use

    [timeouts]
    recv_s = 60                       # a party waits this long for any one message
    connect_s = 20                    # servers/clients wait this long to connect
    job_s = 900                       # a client waits this long for a job's result
    heartbeat_s = 0.5                 # ZMTP heartbeat interval ...
    heartbeat_timeout_s = 2.0         # ... and how long until a silent peer counts as dead

    [limits]                          # what one request may ask of the servers (docs/NETWORK.md)
    max_message_mb = 256              # largest frame any socket accepts; a job's uploaded inputs
    max_header_kb = 256               # a client request's msgpack header
    max_job_elements = 4194304        # largest tensor a job computes (inputs, intermediates, outputs)
    max_pending_requests = 16         # requests one client may have waiting at one server
    max_stored_gb_per_owner = 64      # share bytes one owner may keep on each primary
    max_concurrent_jobs = 4           # jobs each server runs side by side (more wait their turn)

    [parties.p0]
    host = "127.0.0.1"                # where the others reach p0
    bind = "127.0.0.1"                # the interface p0 listens on ("*" for all)
    port = 47310
    data_dir = "data/p0"              # p0's own share store (p0 and p1 only) [<data_dir>/p0]
    # public_key / secret_key: override the default keys.dir/p0.key(_secret)

Relative paths resolve against the config file's directory (for the embedded default, against
the run directory). Every validation error names the file and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from . import PARTY_NAMES
from .encoding import FixedPoint
from .errors import ConfigError
from .keys import check_name, public_path, secret_path

DEFAULT_CONFIG_NAME = "local.toml"
EMBEDDED = "<embedded default config>"

_TOP = {"frac_bits", "data_dir", "keys", "clients", "timeouts", "limits", "parties"}
_PARTY = {"host", "bind", "port", "public_key", "secret_key", "data_dir"}
_TIMEOUTS = {"recv_s", "connect_s", "job_s", "heartbeat_s", "heartbeat_timeout_s"}
_LIMITS = {"max_message_mb", "max_header_kb", "max_job_elements", "max_pending_requests",
           "max_stored_gb_per_owner", "max_concurrent_jobs"}


@dataclass(frozen=True)
class PartyConfig:
    """Where one server listens and which key pair it uses."""

    party: int
    host: str
    bind: str
    port: int
    public_key: Path
    secret_key: Path
    data_dir: Path | None = None  # a primary's own store; None: <data_dir>/pN

    @property
    def name(self) -> str:
        return PARTY_NAMES[self.party]

    @property
    def connect_url(self) -> str:
        return f"tcp://{_bracket(self.host)}:{self.port}"

    @property
    def bind_url(self) -> str:
        return f"tcp://{_bracket(self.bind)}:{self.port}"


@dataclass(frozen=True)
class Timeouts:
    recv_s: float = 60.0
    connect_s: float = 20.0
    job_s: float = 900.0
    heartbeat_s: float = 0.5
    heartbeat_timeout_s: float = 2.0


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the servers; every refusal names the field it hit.

    ``max_message_bytes`` bounds every frame a socket accepts (ZeroMQ ``MAXMSGSIZE``), every
    protocol message between the servers and the uploaded inputs of one job;
    ``max_header_bytes`` a request's msgpack header (decoded with msgpack's ``max_*_len``
    bounds); ``max_job_elements`` the largest tensor a job may compute, checked arithmetically
    before anything runs; ``max_pending_requests`` the requests one client may have waiting at
    one server (more are refused at once); ``max_stored_bytes_per_owner`` the share bytes one
    data owner may keep on each primary; ``max_concurrent_jobs`` the jobs a server runs side by
    side (each in its own session, with its own seeds), later ones waiting their turn.
    """

    max_message_bytes: int = 256 << 20
    max_header_bytes: int = 256 << 10
    max_job_elements: int = 1 << 22
    max_pending_requests: int = 16
    max_stored_bytes_per_owner: int = 64 << 30
    max_concurrent_jobs: int = 4


@dataclass(frozen=True)
class ClusterConfig:
    """A validated cluster configuration (see the module docstring for the file format)."""

    source: str
    parties: tuple[PartyConfig, PartyConfig, PartyConfig]
    key_dir: Path
    allowed_clients: tuple[str, ...]
    default_client: str | None
    data_dir: Path
    frac_bits: int
    timeouts: Timeouts
    limits: Limits

    @property
    def max_message_bytes(self) -> int:
        """``limits.max_message_bytes`` (the largest frame or protocol message)."""
        return self.limits.max_message_bytes

    @property
    def fxp(self) -> FixedPoint:
        return FixedPoint(self.frac_bits)

    def store_dir(self, party: int) -> Path:
        """Where primary ``party`` keeps its shares: ``parties.pN.data_dir``, else
        ``<data_dir>/pN``."""
        own = self.parties[party].data_dir
        return own if own is not None else self.data_dir / PARTY_NAMES[party]

    def client_public_key(self, name: str) -> Path:
        return public_path(self.key_dir, name)

    def client_secret_key(self, name: str) -> Path:
        return secret_path(self.key_dir, name)

    def with_ports(self, ports: tuple[int, int, int]) -> ClusterConfig:
        """The same cluster listening on other ports (tests, temporary clusters)."""
        parties = tuple(replace(p, port=int(port)) for p, port in zip(self.parties, ports))
        return replace(self, parties=parties)  # type: ignore[arg-type]


def load(path: str | Path) -> ClusterConfig:
    """Read and validate a TOML config file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    return parse(text, source=str(path), base_dir=path.resolve().parent)


def load_default(run_dir: str | Path) -> ClusterConfig:
    """The embedded loopback config, with relative paths under ``run_dir``."""
    return parse(default_text(), source=EMBEDDED, base_dir=Path(run_dir).resolve())


def default_text() -> str:
    """The text of the embedded default config (package data)."""
    return resources.files("spp_runtime.configs").joinpath(DEFAULT_CONFIG_NAME).read_text()


def parse(text: str, *, source: str, base_dir: Path) -> ClusterConfig:
    """Validate TOML text; errors read ``SOURCE: FIELD: problem``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    v = _Validator(source, base_dir)
    v.no_unknown(raw, _TOP, "")
    frac_bits = v.integer(raw, "frac_bits", 16, lo=0, hi=40)
    data_dir = v.path(raw, "data_dir", "data")
    keys = v.table(raw, "keys")
    v.no_unknown(keys, {"dir"}, "keys")
    key_dir = v.path(keys, "dir", "keys", field="keys.dir")

    clients = v.table(raw, "clients")
    v.no_unknown(clients, {"allowed", "default"}, "clients")
    allowed = clients.get("allowed", [])
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        v.fail("clients.allowed", "must be a list of key names")
    for name in allowed:
        v.check(check_name, name, "clients.allowed")
    default_client = clients.get("default")
    if default_client is not None and default_client not in allowed:
        v.fail("clients.default", f"{default_client!r} is not in clients.allowed")

    t = v.table(raw, "timeouts")
    v.no_unknown(t, _TIMEOUTS, "timeouts")
    timeouts = Timeouts(**{k: v.number(t, k, getattr(Timeouts, k), "timeouts") for k in _TIMEOUTS})
    if timeouts.heartbeat_timeout_s <= timeouts.heartbeat_s:
        v.fail("timeouts.heartbeat_timeout_s", "must exceed timeouts.heartbeat_s")

    lim = v.table(raw, "limits")
    v.no_unknown(lim, _LIMITS, "limits")
    limits = Limits(
        max_message_bytes=int(v.number(lim, "max_message_mb", 256, "limits", hi=1 << 14) * (1 << 20)),
        max_header_bytes=int(v.number(lim, "max_header_kb", 256, "limits", hi=1 << 16) * (1 << 10)),
        max_job_elements=v.integer(lim, "max_job_elements", Limits.max_job_elements, lo=1, hi=1 << 40,
                                   prefix="limits"),
        max_pending_requests=v.integer(lim, "max_pending_requests", Limits.max_pending_requests, lo=1,
                                       hi=1 << 16, prefix="limits"),
        max_stored_bytes_per_owner=int(v.number(lim, "max_stored_gb_per_owner", 64, "limits", hi=1 << 20)
                                       * (1 << 30)),
        max_concurrent_jobs=v.integer(lim, "max_concurrent_jobs", Limits.max_concurrent_jobs, lo=1, hi=256,
                                      prefix="limits"),
    )

    parties_raw = v.table(raw, "parties")
    v.no_unknown(parties_raw, set(PARTY_NAMES), "parties")
    parties = []
    for p, name in enumerate(PARTY_NAMES):
        if name not in parties_raw:
            v.fail(f"parties.{name}", "missing (every config names p0, p1 and p2)")
        pr = v.table(parties_raw, name, f"parties.{name}")
        v.no_unknown(pr, _PARTY, f"parties.{name}")
        host = v.string(pr, "host", None, f"parties.{name}")
        if "data_dir" in pr and p == 2:
            v.fail("parties.p2.data_dir", "p2 (the helper) stores no data")
        parties.append(
            PartyConfig(
                party=p,
                host=host,
                bind=v.string(pr, "bind", host, f"parties.{name}"),
                port=v.integer(pr, "port", None, lo=1, hi=65535, prefix=f"parties.{name}"),
                public_key=v.path(pr, "public_key", str(public_path(key_dir, name)), field=f"parties.{name}.public_key"),
                secret_key=v.path(pr, "secret_key", str(secret_path(key_dir, name)), field=f"parties.{name}.secret_key"),
                data_dir=v.path(pr, "data_dir", "", field=f"parties.{name}.data_dir") if "data_dir" in pr else None,
            )
        )
    seen: dict[tuple[str, int], str] = {}
    for pc in parties:  # parties on one host need distinct ports
        if (pc.host, pc.port) in seen:
            v.fail(f"parties.{pc.name}.port", f"{pc.host}:{pc.port} is also used by {seen[(pc.host, pc.port)]}")
        seen[(pc.host, pc.port)] = pc.name
    cfg = ClusterConfig(
        source=source,
        parties=tuple(parties),  # type: ignore[arg-type]
        key_dir=key_dir,
        allowed_clients=tuple(allowed),
        default_client=default_client,
        data_dir=data_dir,
        frac_bits=frac_bits,
        timeouts=timeouts,
        limits=limits,
    )
    if cfg.store_dir(0).resolve() == cfg.store_dir(1).resolve():
        v.fail("parties.p1.data_dir", "p0 and p1 need separate data directories (each holds one share)")
    return cfg


class _Validator:
    """Typed field access that raises ConfigError naming the file and the field."""

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir

    def fail(self, field: str, problem: str) -> None:
        raise ConfigError(f"{self.source}: {field}: {problem}")

    def check(self, fn: Callable[[str], Any], arg: str, field: str) -> None:
        try:
            fn(arg)
        except ConfigError as exc:
            self.fail(field, str(exc))

    def no_unknown(self, table: dict, known: set[str], prefix: str) -> None:
        for k in table:
            if k not in known:
                where = f"{prefix}.{k}" if prefix else k
                self.fail(where, f"unknown field (known: {', '.join(sorted(known))})")

    def table(self, parent: dict, key: str, field: str | None = None) -> dict:
        val = parent.get(key, {})
        if not isinstance(val, dict):
            self.fail(field or key, "must be a table")
        return val

    def _get(self, table: dict, key: str, default: Any, field: str) -> Any:
        if key not in table:
            if default is None:
                self.fail(field, "missing")
            return default
        return table[key]

    def integer(self, table: dict, key: str, default: int | None, *, lo: int, hi: int, prefix: str = "") -> int:
        field = f"{prefix}.{key}" if prefix else key
        val = self._get(table, key, default, field)
        if isinstance(val, bool) or not isinstance(val, int) or not lo <= val <= hi:
            self.fail(field, f"must be an integer in {lo}..{hi}, got {val!r}")
        return val

    def number(self, table: dict, key: str, default: float, prefix: str, *, hi: float = 1e9) -> float:
        field = f"{prefix}.{key}"
        val = self._get(table, key, default, field)
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not 0 < val <= hi:
            self.fail(field, f"must be a positive number up to {hi:g}, got {val!r}")
        return float(val)

    def string(self, table: dict, key: str, default: str | None, prefix: str) -> str:
        field = f"{prefix}.{key}"
        val = self._get(table, key, default, field)
        if not isinstance(val, str) or not val:
            self.fail(field, f"must be a non-empty string, got {val!r}")
        return val

    def path(self, table: dict, key: str, default: str, *, field: str | None = None) -> Path:
        field = field or key
        raw = table.get(key, default)
        if not isinstance(raw, str) or not raw:
            self.fail(field, f"must be a non-empty path string, got {raw!r}")
        p = Path(raw).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)


def _bracket(host: str) -> str:
    """IPv6 literals go in brackets inside a tcp:// URL."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
