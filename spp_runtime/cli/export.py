"""``spp export``: write a trained model (.npz from ``spp train``) as an ONNX graph."""

from __future__ import annotations

from pathlib import Path

import click

from ..nn import ModelConfigError, load_params
from ..nn.onnx_io import export_onnx


@click.command("export")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="A model written by `spp train` (.npz).")
@click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where the ONNX graph goes (opset 13, float64, final Softmax).")
def export(model_path: Path, onnx_path: Path) -> None:
    """Export a trained model as ONNX. The file passes the ONNX checker; its scores are the
    model's float64 predictions (input: (N, C, H, W) images for convolutional models, else
    (N, F) rows)."""
    try:
        model, params, _ = load_params(model_path)
        export_onnx(model, params, onnx_path)
    except ModelConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {onnx_path}: {model.name}, {len(model.layers)} layers, {sum(v.size for v in params.values())} weights")
