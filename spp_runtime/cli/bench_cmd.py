"""`spp bench` and `spp demo`."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from ..bench import runner
from ..bench.registry import ALL_CASES
from ..client.client import Client
from ..config import load_config
from ..errors import SppError

console = Console(width=None if Console().is_terminal else 200)


@contextlib.contextmanager
def _cluster(config_path: str | None):
    if config_path:
        yield load_config(config_path)
    else:
        console.print("[dim]no --config given: starting a temporary local cluster[/dim]")
        with runner.temporary_cluster() as cfg:
            yield cfg


def _table(records: list[dict], compare_paper: bool) -> Table:
    t = Table(title="spp bench")
    cols = ["protocol", "variant", "dim", "time s", "MB", "B/elem", "rounds", "error"]
    if compare_paper:
        cols += ["paper s", "paper MB", "MB ratio", "time ratio"]
    for c in cols:
        t.add_column(c, justify="right" if c not in ("protocol", "variant") else "left")
    for r in records:
        row = [r["protocol"], r["variant"], r["dim"], f"{r['time_s']:.3f}", f"{r['bytes_total'] / 1e6:.3f}",
               f"{r['bytes_per_element']:.1f}", str(r["rounds"]), f"{r['error']:.1e}"]
        if compare_paper:
            p = runner.paper_row(r["protocol"], r["dim"])
            if p:
                row += [f"{p['time_s']:.3f}", f"{p['comm_mb']:.3f}",
                        f"{p['comm_mb'] / max(r['bytes_total'] / 1e6, 1e-12):.1f}x less",
                        f"{p['time_s'] / max(r['time_s'], 1e-12):.1f}x faster"]
            else:
                row += ["-"] * 4
        t.add_row(*row)
    return t


def _markdown(records: list[dict], compare_paper: bool) -> str:
    head = "| protocol | variant | dim | time (s) | MB | B/elem | rounds | error |"
    sep = "|---|---|---|---:|---:|---:|---:|---:|"
    if compare_paper:
        head += " paper time (s) | paper MB | MB: paper/ours |"
        sep += "---:|---:|---:|"
    lines = [head, sep]
    for r in records:
        line = (f"| {r['protocol']} | {r['variant']} | {r['dim']} | {r['time_s']:.3f} | {r['bytes_total'] / 1e6:.3f} |"
                f" {r['bytes_per_element']:.1f} | {r['rounds']} | {r['error']:.1e} |")
        if compare_paper:
            p = runner.paper_row(r["protocol"], r["dim"])
            line += (f" {p['time_s']:.3f} | {p['comm_mb']:.3f} | {p['comm_mb'] / (r['bytes_total'] / 1e6):.1f} |"
                     if p else " - | - | - |")
        lines.append(line)
    return "\n".join(lines)


@click.command("bench")
@click.option("--protocols", default="matmul", show_default=True, help=f"comma list of: {', '.join(sorted(ALL_CASES))}")
@click.option("--dims", default="64x16,128x128,576x20", show_default=True)
@click.option("--variant", "variants", multiple=True, help="only these variants (default: all the protocol has)")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="a running cluster's config (default: start a temporary local cluster)")
@click.option("--repeat", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="write the records here")
@click.option("--compare-paper", is_flag=True, help="add the S++ paper's Table 1 figures and ratios")
@click.option("--markdown", is_flag=True, help="print a markdown table")
@click.option("--matmul-speed", is_flag=True, help="secure 128x784 @ 784x128 vs numpy uint64, same run")
@click.option("--quiet", is_flag=True, help="no table (with --json)")
def bench_cmd(protocols, dims, variants, config_path, repeat, json_path, compare_paper, markdown, matmul_speed, quiet):
    """Benchmark protocols over the three server processes: time, MB, rounds, error."""
    try:
        names = [p.strip() for p in protocols.split(",") if p.strip()]
        for n in names:
            if n not in ALL_CASES:
                raise click.BadParameter(f"unknown protocol {n!r}; known: {', '.join(sorted(ALL_CASES))}")
        shapes = runner.parse_dims(dims)
        with _cluster(config_path) as cfg, Client(cfg) as client:
            records = runner.run_bench(
                client, names, shapes, list(variants) or None, repeat=repeat,
                on_record=None if quiet else lambda r: console.print(
                    f"[dim]{r['protocol']} {r['variant']} {r['dim']}: {r['time_s']:.3f} s, "
                    f"{r['bytes_per_element']:.1f} B/elem, {r['rounds']} rounds[/dim]"),
            )
            speed = runner.matmul_speed(client) if matmul_speed else None
    except (SppError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if json_path:
        payload = records if speed is None else {"records": records, "matmul_speed": speed}
        Path(json_path).write_text(json.dumps(payload, indent=1))
    if not quiet:
        console.print(_table(records, compare_paper))
    if markdown:
        click.echo(_markdown(records, compare_paper))
    if speed:
        console.print(f"secure {speed['shape']}: {speed['secure_s'] * 1e3:.1f} ms; numpy uint64: "
                      f"{speed['plain_uint64_s'] * 1e3:.1f} ms; ratio {speed['ratio']:.1f}x")


@click.command("demo")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="a running cluster's config (default: the local cluster in .spp/cluster, started if needed)")
def demo_cmd(config_path: str | None) -> None:
    """A secure matrix product and a small network layer over the three servers."""
    from ..server import cluster

    try:
        cfg = load_config(config_path) if config_path else cluster.up()
        rng = np.random.default_rng(7)
        x, y = rng.normal(size=(128, 784)), rng.normal(size=(784, 128)) * 0.05
        with Client(cfg) as c:
            r = c.submit("matmul", {"x": x, "y": y})
            st = r.top("matmul")[0]
            console.print(f"secure matmul 128x784 @ 784x128: max |error| vs numpy {np.abs(r.outputs['z'] - x @ y).max():.2e}, "
                          f"{st.bytes_total / 1e6:.2f} MB, {st.rounds} round(s), {st.time_s * 1e3:.1f} ms")
            xs, w = rng.normal(size=(4, 6)), rng.normal(size=(6, 5))
            r = c.submit("demo", {"x": xs, "w": w})
            h = np.maximum(xs @ w, 0)
            e = np.exp(h - h.max(-1, keepdims=True))
            probs = e / e.sum(-1, keepdims=True)
            console.print("softmax(relu(x @ w)) computed on secret shares:")
            console.print(np.round(r.outputs["probs"], 4))
            total = sum(s.bytes_total for s in r.top())
            rounds = sum(s.rounds for s in r.top())
            console.print(f"max |error| vs numpy {np.abs(r.outputs['probs'] - probs).max():.2e}; "
                          f"{total / 1e3:.1f} kB, {rounds} rounds")
    except SppError as exc:
        raise click.ClickException(str(exc)) from None
