"""``spp bench``: protocols on chosen shapes over the three real servers, plus the speed check."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import click
from rich.table import Table

from ..errors import SppError
from ..server import cluster as cl
from .console import console as make_console


@click.command("bench")
@click.option("--protocols", default=None, metavar="NAME[,NAME...]",
              help="Benchmark cases to run [default: matmul]; see --list.")
@click.option("--dims", default="64x16,128x128,576x20", show_default=True, metavar="MxN[,MxN...]",
              help="Input shapes (Table 1 of the S++ paper by default).")
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help="Only this variant (repeatable) [default: every variant of each case].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the records (and the speed check) to this JSON file.")
@click.option("--matmul-speed", is_flag=True,
              help="Time a secure 128x784 @ 784x128 product against plain numpy uint64.")
@click.option("--list", "list_cases", is_flag=True, help="List the benchmark cases and exit.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Use this (running) cluster instead of a local one.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Local cluster run dir [$SPP_RUN_DIR or ./run/cluster]; one is started there if none runs.")
def bench(protocols: str | None, dims: str, variants: tuple[str, ...], json_path: Path | None,
          matmul_speed: bool, list_cases: bool, config_path: Path | None, run_dir: Path | None) -> None:
    """Run benchmark cases over the three server processes: time, bytes, rounds, error."""
    from ..bench.registry import ALL_CASES, get_case
    from ..bench.runner import matmul_speed as speed_check
    from ..bench.runner import parse_dims, run_all
    from ..client import Client

    console = make_console()
    if list_cases:
        for name, case in sorted(ALL_CASES.items()):
            console.print(f"{name:12s} variants: {', '.join(case.variants):22s} {case.description}")
        return
    try:
        names = [] if protocols is None and matmul_speed else (protocols or "matmul").split(",")
        cases = [get_case(n.strip()) for n in names if n.strip()]
        shapes = parse_dims(dims)
    except (KeyError, ValueError) as exc:
        raise click.UsageError(str(exc.args[0] if exc.args else exc)) from None
    records: list[dict] = []
    speed = None
    try:
        with cl.cluster_for(config_path, run_dir or cl.default_run_dir(), echo=console.print) as cfg:
            with Client(cfg) as client:
                client.connect()
                if cases:
                    total = sum(len(variants or c.variants) for c in cases) * len(shapes)
                    with console.status(f"running {total} benchmark(s)...") as st:
                        def progress(rec: dict) -> None:
                            st.update(f"{len(records) + 1}/{total} done: {rec['protocol']} "
                                      f"{rec['variant']} {rec['dim']}")
                            records.append(rec)
                        run_all(client, cases, shapes, list(variants) or None, on_record=progress)
                    console.print(_table(records))
                if matmul_speed:
                    with console.status("timing the secure 128x784 @ 784x128 product..."):
                        speed = speed_check(client)
                    console.print(_speed_text(speed))
    except SppError as exc:
        raise click.ClickException(str(exc)) from None
    if json_path is not None:
        doc = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "cluster": cfg.source,
            "records": records,
            "matmul_speed": speed,
        }
        json_path.write_text(json.dumps(doc, indent=1))
        console.print(f"wrote {json_path}")
    bad = [r for r in records if not r["within_tolerance"]]
    if bad:
        raise click.ClickException(
            "accuracy bar missed by " + ", ".join(f"{r['protocol']}/{r['variant']}/{r['dim']}" for r in bad)
        )


def _table(records: list[dict]) -> Table:
    table = Table(title="Benchmarks over three server processes (CURVE ZeroMQ)", title_justify="left")
    for col, just in (("protocol", "left"), ("variant", "left"), ("dim", "left"), ("time ms", "right"),
                      ("MB", "right"), ("B/elem", "right"), ("offline MB", "right"), ("rounds", "right"),
                      ("max abs err", "right"), ("max rel err", "right"), ("ok", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in records:
        table.add_row(
            r["protocol"], r["variant"], r["dim"], f"{1000 * r['time_s']:.1f}",
            f"{r['bytes_total'] / 1e6:.3f}", f"{r['bytes_per_element']:.1f}",
            f"{r['offline_bytes'] / 1e6:.3f}", str(r["rounds"]), f"{r['max_abs_err']:.2e}",
            f"{r['max_rel_err']:.2e}", "yes" if r["within_tolerance"] else "NO",
        )
    return table


def _speed_text(s: dict) -> str:
    verdict = "within" if s["ratio"] <= s["target_ratio"] else "ABOVE"
    return (
        f"Secure {s['shape']} (triple dealing included): {1000 * s['secure_matmul_s']:.1f} ms; "
        f"plain numpy uint64: {1000 * s['plain_numpy_uint64_s']:.1f} ms; ratio {s['ratio']:.2f}x "
        f"({verdict} the {s['target_ratio']:g}x target). Whole job incl. upload/download: "
        f"{1000 * s['secure_job_s']:.1f} ms ({s['job_ratio']:.2f}x). Max abs error {s['max_abs_err']:.1e}."
    )
