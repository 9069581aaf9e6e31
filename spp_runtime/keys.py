"""CURVE key pairs for the servers and clients: generate, write safely, load and check.

Files use pyzmq's certificate format (``zmq.auth.load_certificate`` reads them): ``NAME.key``
holds the public key, ``NAME.key_secret`` the public and the secret key. Secret files are
created with mode 0600 (never readable by others, not even for an instant) and loading one
that group or others can read is refused, as ssh does.
"""

from __future__ import annotations

import datetime
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

from .errors import ConfigError

PARTY_KEY_NAMES = ("p0", "p1", "p2")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class KeyPair:
    """A CURVE key pair (z85-encoded, 40 bytes each); ``secret`` is None for a public key."""

    public: bytes
    secret: bytes | None = None

    def __repr__(self) -> str:  # never shows the secret
        return f"KeyPair(public={self.public.decode()!r}, secret={'<set>' if self.secret else None})"


def check_name(name: str) -> str:
    """Key names are file stems: letters, digits, ``_.-``, at most 64 characters."""
    if not _NAME.match(name):
        raise ConfigError(f"invalid key name {name!r}: use letters, digits, '_', '.', '-'")
    return name


def public_path(key_dir: Path, name: str) -> Path:
    return Path(key_dir) / f"{name}.key"


def secret_path(key_dir: Path, name: str) -> Path:
    return Path(key_dir) / f"{name}.key_secret"


def generate(key_dir: Path, names: list[str], *, force: bool = False) -> list[Path]:
    """Write a fresh key pair for each name into ``key_dir``; returns the files written.

    Existing key files are an error unless ``force`` (regenerating a key locks out every
    party that holds the old public key).
    """
    key_dir = Path(key_dir)
    for n in names:
        check_name(n)
    if len(set(names)) != len(names):
        raise ConfigError("duplicate key names")
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not force:
        existing = [p for n in names for p in (public_path(key_dir, n), secret_path(key_dir, n)) if p.exists()]
        if existing:
            raise ConfigError(f"key file {existing[0]} exists; pass --force to replace it")
    written = []
    for n in names:
        public, secret = zmq.curve_keypair()
        _write(secret_path(key_dir, n), _cert_text(public, secret), 0o600)
        _write(public_path(key_dir, n), _cert_text(public, None), 0o644)
        written += [public_path(key_dir, n), secret_path(key_dir, n)]
    return written


def load_public(path: Path) -> bytes:
    """The z85 public key in a ``.key`` (or ``.key_secret``) file."""
    public, _ = _load(path)
    return public


def load_pair(path: Path) -> KeyPair:
    """The key pair in a ``.key_secret`` file, refusing files others can read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"secret key file {path} not found (run `spp keys generate`)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secret key file {path} is accessible by other users (mode {stat.S_IMODE(mode):04o});"
            f" run: chmod 600 {path}"
        )
    public, secret = _load(path)
    if secret is None:
        raise ConfigError(f"{path} holds no secret key")
    return KeyPair(public, secret)


def _load(path: Path) -> tuple[bytes, bytes | None]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"key file {path} not found (run `spp keys generate`)")
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (ValueError, OSError) as exc:
        raise ConfigError(f"key file {path} is not a CURVE certificate ({exc})") from None
    if public is None or len(public) != 40 or (secret is not None and len(secret) != 40):
        raise ConfigError(f"key file {path} holds a malformed CURVE key")
    return public, secret


def _cert_text(public: bytes, secret: bytes | None) -> str:
    kind = "**Secret** Certificate (keep private, mode 0600)" if secret else "Public Certificate"
    lines = [
        f"#   ****  Generated on {datetime.datetime.now():%Y-%m-%d %H:%M:%S} by spp keys generate  ****",
        f"#   ZeroMQ CURVE {kind}",
        "",
        "metadata",
        "curve",
        f'    public-key = "{public.decode()}"',
    ]
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (replacing any old file)."""
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; make it exact
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
