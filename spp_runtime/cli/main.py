"""Entry point of the ``spp`` command: one click group, subcommands from sibling modules."""

from __future__ import annotations

import click

from .. import __version__
from . import bench as bench_cmd
from . import cluster as cluster_cmd
from . import datasets as datasets_cmd
from . import demo as demo_cmd
from . import export as export_cmd
from . import grants as grants_cmd
from . import keys as keys_cmd
from . import model_store as models_cmd
from . import predict as predict_cmd
from . import server as server_cmd
from . import status as status_cmd
from . import study as study_cmd
from . import train as train_cmd
from . import upload as upload_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spp")
def cli() -> None:
    """spp: three-server secure computation for neural networks (SecureNN + S++)."""


# Subcommand groups register here, one line each (keep alphabetical).
cli.add_command(bench_cmd.bench)
cli.add_command(cluster_cmd.cluster)
cli.add_command(datasets_cmd.datasets)
cli.add_command(demo_cmd.demo)
cli.add_command(export_cmd.export)
cli.add_command(grants_cmd.grant)
cli.add_command(grants_cmd.grants)
cli.add_command(keys_cmd.keys)
cli.add_command(models_cmd.models)
cli.add_command(predict_cmd.predict)
cli.add_command(grants_cmd.revoke)
cli.add_command(server_cmd.server)
cli.add_command(status_cmd.status)
cli.add_command(study_cmd.study)
cli.add_command(train_cmd.infer)
cli.add_command(train_cmd.train)
cli.add_command(upload_cmd.upload)
