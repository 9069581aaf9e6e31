"""Entry point of the ``spp`` command: one click group, subcommands from sibling modules."""

from __future__ import annotations

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spp")
def cli() -> None:
    """spp: three-server secure computation for neural networks (SecureNN + S++)."""


# Subcommand groups register here, one line each (keep alphabetical).
from . import bench_cmd, cluster_cmds  # noqa: E402

cli.add_command(bench_cmd.bench_cmd)
cli.add_command(cluster_cmds.cluster_group)
cli.add_command(bench_cmd.demo_cmd)
cli.add_command(cluster_cmds.keys_group)
cli.add_command(cluster_cmds.server_cmd)

if __name__ == "__main__":
    cli()
