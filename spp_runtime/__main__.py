"""``python -m spp_runtime``: the ``spp`` command (how the cluster starts its servers)."""

from .cli.main import cli

if __name__ == "__main__":
    cli()
