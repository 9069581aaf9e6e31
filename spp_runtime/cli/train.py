"""``spp train`` and ``spp infer``: networks trained and run by the three servers on stored
datasets; the submitter reconstructs the model (.npz) or the predictions (.npy), or keeps the
trained model on the servers (``--save-as``)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import click
import numpy as np
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..client import Client
from ..errors import SppError
from ..nn.model import Model, ModelConfigError, load_params, save_params
from ..nn.onnx_io import load_onnx
from ..nn.programs import PARAM
from ..nn.runner import Hyper
from .console import console as make_console
from .models import resolve_model_and_weights
from .target import config_option, key_option, resolve, run_dir_option

NO_TIMEOUT_S = 7 * 24 * 3600.0  # a job reports progress; a dead server still fails it at once


def _progress(console, unit: str) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


def _waiting(info: dict) -> str | None:
    """What a job waiting for a free slot on the servers shows (P0 reports its place)."""
    place = info.get("queued")
    if not isinstance(place, int):
        return None
    return f"waiting for a free slot: {place - 1} job(s) ahead, {info.get('running', '?')} running"


def _checkpoint_id(target: str, model: Model, dataset: str, hyper: Hyper) -> str:
    """A stable id per (output file or stored model name, model, dataset, settings): rerunning
    the same command resumes; changing any of them starts afresh."""
    key = f"{target}|{model.to_dict()}|{dataset}|{hyper}".encode()
    return f"train-{model.name}-{hashlib.sha256(key).hexdigest()[:12]}"


@click.command("train")
@click.option("--model", "model_spec", required=True,
              help="Model: a TOML config (configs/models/mnist_a.toml), a packaged name (mnist_a) or an ONNX graph "
                   "(FILE.onnx; its initializers are the initial weights, unsupported nodes are refused).")
@click.option("--dataset", required=True, help="Stored training dataset (features x, labels y).")
@click.option("--test-dataset", default=None, help="Stored test dataset, for --report-accuracy.")
@click.option("--epochs", type=int, default=None, help="Epochs [model's train.epochs].")
@click.option("--lr", type=float, default=None, help="Learning rate [model's train.lr].")
@click.option("--momentum", type=float, default=None, help="SGD momentum [model's train.momentum].")
@click.option("--batch-size", type=int, default=None, help="Rows per batch [model's train.batch_size].")
@click.option("--seed", type=int, default=None, help="Seed of the initial weights and batch order [model's train.seed].")
@click.option("--output", "output_rule", type=click.Choice(["softmax", "relu_output", "relu_grad"]), default=None,
              help="Override the model's output rule.")
@click.option("--report-accuracy", is_flag=True, help="Open the test accuracy (a count) after every epoch.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the trained model (.npz) goes: it leaves the servers in plaintext (needs "
                   "release-model on others' datasets).")
@click.option("--save-as", default=None, metavar="NAME",
              help="Keep the trained model on the servers as NAME instead (see `spp models`).")
@click.option("--checkpoint", default=None, metavar="NAME",
              help="Checkpoint name on the servers [derived from --out, model, dataset and settings]; "
                   "a new name starts from epoch 1.")
@config_option
@key_option
@run_dir_option
def train(model_spec: str, dataset: str, test_dataset: str | None, epochs: int | None, lr: float | None,
          momentum: float | None, batch_size: int | None, seed: int | None, output_rule: str | None,
          report_accuracy: bool, out_path: Path | None, save_as: str | None, checkpoint: str | None,
          config_path: Path | None, key_name: str | None, run_dir: Path | None) -> None:
    """Train a network on the servers. Data, labels and weights stay secret-shared; only the
    final model comes back (--out), or it stays on the servers as shares (--save-as), and the
    test accuracy with --report-accuracy. On another owner's dataset it needs that owner's
    train grant, and release-model for --out. After every epoch the servers save a
    checkpoint: rerunning the same command after a crash or restart resumes after the last
    completed epoch."""
    import dataclasses

    console = make_console()
    if (out_path is None) == (save_as is None):
        raise click.UsageError("give --out FILE (the model comes back) or --save-as NAME (it stays on the servers)")
    cfg, key = resolve(config_path, run_dir, key_name)
    try:
        model, onnx_weights = resolve_model_and_weights(model_spec)
        if output_rule:
            model = dataclasses.replace(model, output=output_rule)
        hyper = Hyper.of(model, epochs=epochs, lr=lr, momentum=momentum, batch_size=batch_size, seed=seed)
    except (ModelConfigError, TypeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if report_accuracy and not test_dataset:
        raise click.ClickException("--report-accuracy needs --test-dataset NAME")
    target = str(out_path.resolve()) if out_path is not None else f"model:{save_as}"
    ckpt = checkpoint or _checkpoint_id(target, model, dataset, hyper)
    datasets = {"x": f"{dataset}:x", "y": f"{dataset}:y"}
    if test_dataset:
        datasets |= {"x_test": f"{test_dataset}:x", "y_test": f"{test_dataset}:y"}
    initial = onnx_weights if onnx_weights is not None else model.init_params(hyper.seed)
    init = {f"{PARAM}{k}": v for k, v in initial.items()}
    params = {"model": model.to_dict(), "hyper": hyper.kwargs(), "report_accuracy": report_accuracy}
    console.print(f"training {model.name} ({model.output}) on {dataset}: {hyper.epochs} epochs, batch "
                  f"{hyper.batch_size}, lr {hyper.lr}, momentum {hyper.momentum}, seed {hyper.seed}")
    try:
        with Client(cfg, key) as client, _progress(console, "batches") as bar:
            task = bar.add_task("training", total=None)

            def on_progress(done: int, total: int, info: dict) -> None:
                if _waiting(info):
                    bar.update(task, description=_waiting(info))
                    return
                bar.update(task, completed=done, total=total,
                           description=f"epoch {info.get('epoch', '?')}/{info.get('epochs', hyper.epochs)}")
                if "seconds" in info:
                    acc = info.get("test_accuracy")
                    bar.console.print(f"epoch {info['epoch']}: {info['seconds']:.1f} s"
                                      + (f", test accuracy {acc * 100:.2f}%" if acc is not None else ""))

            res = client.run("train", init, params, datasets=datasets, checkpoint=ckpt, save_as=save_as,
                             on_progress=on_progress, timeout=NO_TIMEOUT_S)
    except SppError as exc:
        raise click.ClickException(str(exc)) from None
    start = int(res.outputs["start_epoch"][0])
    mb = sum(s.bytes_total for s in res.top()) / 1e6
    if start:
        console.print(f"resumed after epoch {start} (checkpoint {ckpt})")
    if out_path is None:
        console.print(f"stored model {save_as} on p0 and p1: {hyper.epochs - start} epochs in {res.wall_s:.1f} s, "
                      f"{mb:.1f} MB between the servers")
        return
    weights = {k[len(PARAM):]: v for k, v in res.outputs.items() if k.startswith(PARAM)}
    save_params(out_path, model, weights, epochs=hyper.epochs, dataset=dataset, hyper=hyper.kwargs(),
                test_accuracy=[None if math.isnan(a) else a for a in res.outputs["test_accuracy"].tolist()])
    console.print(f"wrote {out_path}: {hyper.epochs - start} epochs in {res.wall_s:.1f} s, {mb:.1f} MB between the servers")


@click.command("infer")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="A model written by `spp train` (.npz) or an ONNX graph (FILE.onnx, its initializers as weights).")
@click.option("--dataset", required=True, help="Stored dataset to predict (its labels, if any, give the accuracy).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where the class scores go (.npy, one row per input row).")
@click.option("--no-labels", is_flag=True, help="Do not use the dataset's labels for an accuracy count.")
@config_option
@key_option
@run_dir_option
def infer(model_path: Path, dataset: str, out_path: Path, no_labels: bool, config_path: Path | None,
          key_name: str | None, run_dir: Path | None) -> None:
    """Run a trained model on a stored dataset on the servers; write the class scores."""
    console = make_console()
    cfg, key = resolve(config_path, run_dir, key_name)
    try:
        if model_path.suffix == ".onnx":
            model, weights = load_onnx(model_path)
        else:
            model, weights, _meta = load_params(model_path)
    except ModelConfigError as exc:
        raise click.ClickException(str(exc)) from None
    datasets = {"x": f"{dataset}:x"} | ({} if no_labels else {"y": f"{dataset}:y"})
    try:
        with Client(cfg, key) as client, _progress(console, "rows") as bar:
            task = bar.add_task("predicting", total=None)
            def on_progress(done: int, total: int, info: dict) -> None:
                if _waiting(info):
                    bar.update(task, description=_waiting(info))
                else:
                    bar.update(task, completed=done, total=total, description="predicting")

            res = client.run("infer", {f"{PARAM}{k}": v for k, v in weights.items()}, {"model": model.to_dict()},
                             datasets=datasets, on_progress=on_progress, timeout=NO_TIMEOUT_S)
    except SppError as exc:
        if not no_labels and "has no part 'y'" in str(exc):
            raise click.ClickException(f"{exc} (use --no-labels for a dataset without labels)") from None
        raise click.ClickException(str(exc)) from None
    scores = res.outputs["scores"]
    np.save(out_path, scores)
    console.print(f"wrote {out_path}: scores of {scores.shape[0]} rows x {scores.shape[1]} classes")
    if "correct" in res.outputs:
        correct = int(res.outputs["correct"][0])
        console.print(f"accuracy on {dataset}: {correct}/{scores.shape[0]} = {correct / scores.shape[0] * 100:.2f}%")
