"""``spp upload``: read, check, encode and secret-share a dataset, push it to P0 and P1.

The files are read twice, a block of rows at a time: once to check every value (nothing is
sent if a check fails), once to encode, share and send chunk by chunk, so the command's memory
stays at about one chunk whatever the file size (full MNIST: under 200 MB).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from ..client import Client
from ..client.remote_store import upload as push
from ..data.readers import open_dataset
from ..errors import SppError
from .console import console as make_console
from .target import config_option, key_option, resolve, run_dir_option


def _number(text: str | None) -> float | None:
    """A float or a fraction such as ``1/255``."""
    if text is None:
        return None
    try:
        num, _, den = text.partition("/")
        return float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(f"{text!r} is not a number or a fraction like 1/255") from None


MAX_CHUNK_MB = 512.0


def _chunk_mb(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """``--chunk-mb``: a finite number of MiB > 0 (at most MAX_CHUNK_MB)."""
    if not value > 0 or value == float("inf"):  # also refuses NaN
        raise click.BadParameter(f"must be a number of MiB greater than 0, got {value:g}")
    if value > MAX_CHUNK_MB:
        raise click.BadParameter(f"must be at most {MAX_CHUNK_MB:g} MiB, got {value:g}")
    return value


@click.command("upload")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dataset", "name", required=True, help="Name of the new dataset (letters, digits, . _ -).")
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Labels file (one per row of FILE; any supported format).")
@click.option("--array", default=None, help="Array in an .npz FILE holding the features.")
@click.option("--labels-array", default=None, help="Array in an .npz FILE holding the labels.")
@click.option("--scale", callback=lambda ctx, param, v: _number(v), default=None,
              help="Multiply the features by this number or fraction (e.g. 1/255 for MNIST pixels).")
@click.option("--flatten/--no-flatten", default=None,
              help="Flatten each row to a vector [default: on for IDX image files].")
@click.option("--chunk-mb", type=float, default=4.0, show_default=True, callback=_chunk_mb,
              help=f"MiB of shares per chunk and server (> 0, at most {MAX_CHUNK_MB:g}; a chunk "
                   f"holds at least one row).")
@config_option
@key_option
@run_dir_option
def upload(file: Path, name: str, labels: Path | None, array: str | None, labels_array: str | None,
           scale: float | None, flatten: bool | None, chunk_mb: float, config_path: Path | None,
           key_name: str | None, run_dir: Path | None) -> None:
    """Secret-share FILE (.npy, .npz, .csv, IDX or IDX.gz) on this machine and store it as
    dataset NAME: one share on p0, the other on p1. Nothing is sent if any check fails."""
    cfg, key = resolve(config_path, run_dir, key_name)
    chunk_bytes = max(1, int(chunk_mb * (1 << 20)))
    if chunk_bytes + (1 << 16) > cfg.max_message_bytes:
        raise click.ClickException(f"--chunk-mb {chunk_mb:g} does not fit the cluster's message limit "
                                   f"(limits.max_message_mb = {cfg.max_message_bytes / (1 << 20):g})")
    if flatten is None:
        flatten = "idx" in file.name.lower() or file.name.endswith("-ubyte.gz")
    try:
        data = open_dataset(file, labels=labels, array=array, labels_array=labels_array, scale=scale,
                            flatten=flatten, fxp=cfg.fxp)
    except (SppError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    out = make_console()
    total = data.rows
    try:
        with Client(cfg, key) as client, Progress(
            TextColumn(f"uploading {name}"), BarColumn(), TextColumn("{task.completed}/{task.total} rows"),
            DownloadColumn(), TimeRemainingColumn(), console=out, transient=True,
        ) as bar:
            task = bar.add_task("rows", total=total)
            summary = push(client, data, name, chunk_bytes=chunk_bytes,
                           on_chunk=lambda pair: bar.advance(task, pair.rows))
    except (SppError, ConnectionError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.ClickException(f"upload of {name!r} interrupted and discarded (see `spp datasets list`)") from None
    out.print(f"Uploaded {file}" + (f" with labels {labels}" if labels else "") + ":")
    for line in summary.lines():
        out.print(f"  {line}")
    if data.label_range is not None:
        lo, hi = data.label_range
        out.print(f"  labels {lo}..{hi}: a model needs at least {hi + 1} classes")
