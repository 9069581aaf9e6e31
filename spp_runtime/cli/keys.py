"""``spp keys``: generate CURVE key pairs for the servers and named clients."""

from __future__ import annotations

from pathlib import Path

import click

from .. import PARTY_NAMES
from ..errors import SppError
from ..keys import generate


@click.group("keys")
def keys() -> None:
    """CURVE key pairs (one per server and per client)."""


@keys.command("generate")
@click.option("--dir", "key_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write NAME.key (public) and NAME.key_secret (private, 0600).")
@click.option("--client", "clients", multiple=True, metavar="NAME",
              help="Also make a key pair for this client (repeatable).")
@click.option("--no-servers", is_flag=True, help="Only the named clients, not p0, p1, p2.")
@click.option("--force", is_flag=True, help="Replace existing key files.")
def generate_cmd(key_dir: Path, clients: tuple[str, ...], no_servers: bool, force: bool) -> None:
    """Write key pairs for p0, p1, p2 and each --client NAME into --dir."""
    names = ([] if no_servers else list(PARTY_NAMES)) + list(clients)
    if not names:
        raise click.UsageError("nothing to generate: give --client NAME or drop --no-servers")
    try:
        written = generate(key_dir, names, force=force)
    except SppError as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        "Give each server its own NAME.key_secret and everyone the public NAME.key files; "
        "never share a .key_secret file."
    )
