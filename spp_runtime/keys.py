"""CURVE key pairs for the three servers and named clients (``spp keys generate``)."""

from __future__ import annotations

import os
from pathlib import Path

import zmq.auth

from . import PARTY_NAMES


def generate_keys(directory: str | Path, clients: list[str] | tuple[str, ...] = (), *, overwrite: bool = False) -> list[Path]:
    """Write ``<name>.key`` (public) and ``<name>.key_secret`` (mode 0600) for p0, p1, p2 and
    each client. Existing keys are kept unless ``overwrite``. Returns the secret key files."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for name in (*PARTY_NAMES, *clients):
        secret = d / f"{name}.key_secret"
        if secret.exists() and not overwrite:
            written.append(secret)
            continue
        public_file, secret_file = zmq.auth.create_certificates(str(d), name)
        os.chmod(secret_file, 0o600)
        written.append(Path(secret_file))
    return written
