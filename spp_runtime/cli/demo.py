"""``spp demo``: a secure matrix product and a dense ReLU layer, end to end over the servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import SppError
from ..launch import local as cl
from .console import console as make_console


@click.command("demo")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Use this (running) cluster instead of a local one.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Local cluster run dir [$SPP_RUN_DIR or ./run/cluster]; one is started there if none runs.")
@click.option("--keep", is_flag=True, help="Leave a cluster this command started running.")
def demo(config_path: Path | None, run_dir: Path | None, keep: bool) -> None:
    """Secret-share inputs, compute on the three servers, reconstruct, compare with numpy."""
    from ..client import Client

    console = make_console()
    rng = np.random.default_rng(7)  # demo data only
    try:
        with (
            cl.cluster_for(config_path, run_dir or cl.default_run_dir(), keep=keep, echo=console.print) as cfg,
            Client(cfg) as client,
        ):
            client.connect()
            x, y = rng.uniform(-1, 1, (64, 32)), rng.uniform(-1, 1, (32, 16))
            res = client.run("matmul", {"x": x, "y": y})
            _report(console, "Secure matrix product x @ y, (64x32) @ (32x16)", res, "matmul",
                    res.outputs["out"], x @ y)
            a, w, b = rng.uniform(-1, 1, (6, 10)), rng.uniform(-1, 1, (10, 4)), rng.uniform(-0.5, 0.5, 4)
            res = client.run("demo", {"x": a, "w": w, "b": b})
            _report(console, "Secure dense layer relu(x @ w + b), (6x10) @ (10x4)", res, None,
                    res.outputs["scores"], np.maximum(a @ w + b, 0))
    except SppError as exc:
        raise click.ClickException(str(exc)) from None


def _report(console: Any, title: str, res, call: str | None, got: np.ndarray, want: np.ndarray) -> None:
    top = res.top(call) if call else res.top()
    total = sum(s.bytes_total for s in top)
    offline = sum(s.offline_bytes for s in top)
    rounds = sum(s.rounds for s in top)
    console.rule(title)
    with np.printoptions(precision=4, suppress=True, linewidth=110, threshold=40, edgeitems=3):
        console.print(f"result (reconstructed by the client):\n{got}")
    console.print(
        f"max |error| vs float64 numpy: {np.abs(got - want).max():.2e}   "
        f"bytes: {total} ({offline} offline from the helper)   rounds: {rounds}   "
        f"server time: {max(res.server_time_s.values()) * 1000:.1f} ms   "
        f"calls: {', '.join(s.name for s in top)}"
    )
