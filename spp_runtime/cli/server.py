"""``spp server``: run one party's server in the foreground."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import click

from .. import PARTY_NAMES
from ..config import load
from ..errors import SppError


@click.command("server")
@click.option("--party", type=click.IntRange(0, 2), required=True, help="0 or 1 (primaries) or 2 (helper).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="Cluster config (TOML).")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="INFO",
              show_default=True)
def server(party: int, config_path: Path, log_level: str) -> None:
    """Run party P<party>: connect to the two peers, then serve jobs until SIGTERM or Ctrl-C.

    The server runs with umask 077: every directory it creates is 0700, every file 0600."""
    from ..apps import PROGRAMS
    from ..launch.threads import limit_blas_threads
    from ..server.server import PartyServer

    logging.basicConfig(
        level=getattr(logging, log_level),
        format=f"%(asctime)s {PARTY_NAMES[party]} %(levelname)s %(name)s: %(message)s",
    )
    stop = {"flag": False}

    def on_signal(signum: int, frame: object) -> None:
        stop["flag"] = True

    os.umask(0o077)  # shares, manifests, grants, checkpoints, status: the server's user only
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # jobs run on their own threads and hand every message to the serving thread: let a
    # thread that is ready take the GIL within 0.5 ms instead of 5 ms (a protocol round
    # costs two such hand-overs per message)
    sys.setswitchinterval(0.0005)
    try:
        limit_blas_threads()
        cfg = load(config_path)
        srv = PartyServer(cfg, party, programs=PROGRAMS)
    except (SppError, ValueError) as exc:  # e.g. a client listed with a server's key
        raise click.ClickException(str(exc)) from None
    srv.serve(lambda: stop["flag"])
