"""``spp study softmax``: softmax vs the ReLU replacement, secure and float64, table and plot."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import SppError
from .console import console as make_console

DEFAULT_MODELS = ("mnist_a", "mnist_1layer")


@click.group("study")
def study() -> None:
    """Experiments that compare protocol choices on real training runs."""


@study.command("softmax")
@click.option("--model", "models", multiple=True, default=DEFAULT_MODELS, show_default=True,
              help="Model config: a packaged name (configs/models/NAME.toml) or a path; repeatable.")
@click.option("--epochs", type=int, default=3, show_default=True)
@click.option("--limit", type=int, default=None, help="Train on the first N MNIST training images only.")
@click.option("--test-limit", type=int, default=None, help="Test on the first N MNIST test images only.")
@click.option("--mnist-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory with the MNIST IDX files [$SPP_MNIST_DIR or ../shared/data/mnist].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/study"),
              show_default=True, help="Where softmax_study.md/.png/.json go.")
def softmax_study(models: tuple[str, ...], epochs: int, limit: int | None, test_limit: int | None,
                  mnist_dir: Path | None, out_dir: Path) -> None:
    """Train each model with softmax, the replacement as output (relu_output) and the
    replacement for the gradient only (relu_grad), securely over three ZeroMQ processes and
    in float64 from the same weights; print the markdown table and write the plot."""
    from ..data.mnist import default_mnist_dir, load_mnist
    from ..nn.study import markdown, run_softmax_study, write_report
    from ..nn.train import onehot
    from .models import resolve_model

    console = make_console()
    try:
        loaded = [resolve_model(m) for m in models]
        d = mnist_dir or default_mnist_dir()
        tr, te = load_mnist(d, "train", limit=limit), load_mnist(d, "test", limit=test_limit)
    except (SppError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    data = (tr.images.reshape(len(tr.images), -1), onehot(tr.labels, 10))
    test = (te.images.reshape(len(te.images), -1), onehot(te.labels, 10))
    console.print(f"softmax study: {', '.join(m.name for m in loaded)}; {len(data[0])} training and "
                  f"{len(test[0])} test images; {epochs} epochs; secure over three ZeroMQ processes")
    rows = run_softmax_study(loaded, data, test, epochs, log=console.print)
    md, png = write_report(rows, out_dir)
    console.print(markdown(rows), markup=False)
    console.print(f"wrote {md} and {png}")


RECURRENT_MODELS = ("mnist_rnn_tanh", "mnist_rnn_relu", "mnist_lstm", "mnist_gru")


@study.command("recurrent")
@click.option("--model", "models", multiple=True, default=RECURRENT_MODELS, show_default=True,
              help="Sequence model config: a packaged name or a path; repeatable.")
@click.option("--epochs", type=int, default=2, show_default=True)
@click.option("--lr", type=float, default=None, help="Learning rate for every model [each config's].")
@click.option("--limit", type=int, default=2000, show_default=True, help="Train on the first N MNIST training images.")
@click.option("--test-limit", type=int, default=2000, show_default=True, help="Test on the first N MNIST test images.")
@click.option("--secure-batches", type=int, default=2, show_default=True,
              help="Secure training batches per model (0: no secure runs).")
@click.option("--mnist-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory with the MNIST IDX files [$SPP_MNIST_DIR or ../shared/data/mnist].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/study"),
              show_default=True, help="Where recurrent_study.md/.png/.json go.")
def recurrent_study(models: tuple[str, ...], epochs: int, lr: float | None, limit: int, test_limit: int,
                    secure_batches: int, mnist_dir: Path | None, out_dir: Path) -> None:
    """tanh-RNN vs ReLU-RNN vs LSTM vs GRU on row-sequential MNIST: float64 and the fixed-point
    emulation with the gradient norm at every step (no clipping), a short secure run per model
    for cost; markdown table and plot."""
    from ..data.mnist import default_mnist_dir, load_mnist
    from ..nn.study_recurrent import markdown, run_recurrent_study, write_report
    from ..nn.train import onehot
    from .models import resolve_model

    console = make_console()
    try:
        loaded = [resolve_model(m) for m in models]
        d = mnist_dir or default_mnist_dir()
        tr, te = load_mnist(d, "train", limit=limit), load_mnist(d, "test", limit=test_limit)
    except (SppError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    data = (tr.images.reshape(len(tr.images), -1), onehot(tr.labels, 10))
    test = (te.images.reshape(len(te.images), -1), onehot(te.labels, 10))
    console.print(f"recurrent study: {', '.join(m.name for m in loaded)}; {len(data[0])} training and "
                  f"{len(test[0])} test images; {epochs} epochs; {secure_batches} secure batches each")
    rows = run_recurrent_study(loaded, data, test, epochs, secure_batches, lr, log=console.print)
    md, png = write_report(rows, out_dir, len(data[0]))
    console.print(markdown(rows, len(data[0])), markup=False)
    console.print(f"wrote {md} and {png}")
