"""``spp predict``: query a model kept on the servers with rows of your own; only you see the scores.

The query rows are read and checked like an upload (any format ``spp upload`` reads), encoded
and secret-shared on this machine, and sent as the job's input: P0 and P1 each receive one
share, nothing is stored. The servers check that this client may query the model (the
model owner's ``predict`` grant, every training data owner's ``infer`` grant, the query
budget), run the stored model on shares, and return shares of the scores to this client
only, which reconstructs them here.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..client import Client
from ..data.readers import open_dataset
from ..errors import SppError
from .target import config_option, key_option, resolve, run_dir_option
from .upload import _number


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@click.command("predict")
@click.option("--model", "model_name", required=True, help="A model kept on the servers (spp models list).")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Query rows: .npy, .npz, .csv, IDX or IDX.gz (as spp upload reads them).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the scores (.npy, one row per query row).")
@click.option("--array", default=None, help="Array in an .npz input holding the rows.")
@click.option("--scale", callback=lambda ctx, param, v: _number(v), default=None,
              help="Multiply the rows by this number or fraction (e.g. 1/255 for MNIST pixels).")
@click.option("--flatten/--no-flatten", default=None, help="Flatten each row [default: on for IDX files].")
@click.option("--probabilities", is_flag=True,
              help="Write softmax probabilities (computed here from the logits the servers return).")
@click.option("--batch", type=click.IntRange(1), default=None,
              help="Rows per query job [default: all rows in one job if they fit the message limit].")
@config_option
@key_option
@run_dir_option
def predict(model_name: str, input_path: Path, out: Path, array: str | None, scale: float | None,
            flatten: bool | None, probabilities: bool, batch: int | None, config_path: Path | None,
            key_name: str | None, run_dir: Path | None) -> None:
    """Scores of the rows in --input under the stored model --model, for your eyes only."""
    cfg, key = resolve(config_path, run_dir, key_name)
    if flatten is None:
        flatten = "idx" in input_path.name.lower() or input_path.name.endswith("-ubyte.gz")
    try:
        x = open_dataset(input_path, array=array, scale=scale, flatten=flatten, fxp=cfg.fxp).load().features
    except (SppError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if x.ndim != 2:
        raise click.ClickException(f"{input_path}: query rows must be vectors (use --flatten), got rows of "
                                   f"shape {list(x.shape[1:])}")
    fits = max(1, (cfg.max_message_bytes // 2) // max(1, 8 * x.shape[1]))
    step = min(batch or fits, fits)
    parts, wall, sent = [], 0.0, 0
    try:
        with Client(cfg, key) as client:
            for i in range(0, x.shape[0], step):
                res = client.run("predict", {"x": x[i : i + step]}, {"output": "logits"}, model=model_name)
                parts.append(res.outputs["scores"])
                wall += res.wall_s
                sent += sum(s.bytes_total for s in res.top())
    except (SppError, ConnectionError) as exc:
        done = sum(len(p) for p in parts)
        raise click.ClickException(str(exc) + (f"\n({done} rows were answered before; nothing written)" if done else "")) \
            from None
    scores = np.concatenate(parts, axis=0)
    if probabilities:
        scores = softmax(scores)
    np.save(out, scores)
    click.echo(f"Scored {x.shape[0]} rows of {input_path} with model {model_name} in {wall:.3f} s "
               f"({len(parts)} job{'s' if len(parts) > 1 else ''}, {sent / 1e6:.3f} MB between the servers); "
               f"{'probabilities' if probabilities else 'logits'} {list(scores.shape)} written to {out}")
