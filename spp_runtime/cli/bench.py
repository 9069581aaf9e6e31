"""``spp bench``: protocols on chosen shapes over the three real servers, on loopback or an
emulated LAN, with the cost model, the paper's Table 1 beside ours, tables and plots."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import SppError
from ..launch import local as cl
from ..protocols.variants import VARIANTS
from .console import console as make_console

NET_CHOICES = ("loopback", "lan", "paper-lan", "lan-1g")


@click.command("bench")
@click.option("--protocols", default=None, metavar="NAME[,NAME...]|all",
              help="Benchmark cases to run [default: matmul]; 'all' for every case; see --list.")
@click.option("--dims", default="64x16,128x128,576x20", show_default=True, metavar="MxN[,MxN...]",
              help="Input shapes (Table 1 of the S++ paper by default).")
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help=f"Only this variant (repeatable; {', '.join(VARIANTS)}) [default: every variant of each case].")
@click.option("--net", type=click.Choice(NET_CHOICES), default="loopback", show_default=True,
              help="loopback: local processes on 127.0.0.1; lan (10 ms RTT, 50 Mbit/s unless overridden), "
                   "paper-lan (12 ms, 9.2 up / 40 down Mbit/s), lan-1g (0.2 ms, 1 Gbit/s): each server "
                   "and the client in its own network namespace (needs root).")
@click.option("--rtt-ms", type=float, default=None, help="Round-trip time of the emulated LAN.")
@click.option("--mbit", type=float, default=None, help="Rate limit (up and down, per host) in Mbit/s.")
@click.option("--check-net", is_flag=True,
              help="Probe the emulated link first (ping-pong, bulk); fail unless delay and rate are within 20%.")
@click.option("--repeat", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Runs per case and shape: time is the median, with min and max.")
@click.option("--predict", "predict_net", default=None, metavar="NET|MODEL",
              help=f"A network ({', '.join(NET_CHOICES[1:])}): its cost model instead of the run's own (rounds x "
                   "delay + bytes/rate + compute). A model (mnist_a or a .toml): benchmark the prediction "
                   "service (spp predict) on a model kept on the servers, per --batch.")
@click.option("--batch", "predict_batches", default="1,128", show_default=True, metavar="N[,N...]",
              help="Rows per query for --predict MODEL.")
@click.option("--compute-from", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Loopback --json output giving each case's compute time for the model on an emulated net "
                   "[default: measure it with a loopback run first].")
@click.option("--no-model", is_flag=True, help="Skip the cost model (and its loopback run).")
@click.option("--compare-paper", is_flag=True, help="Print our time and MB beside the S++ paper's Table 1.")
@click.option("--markdown", is_flag=True, help="Print a Markdown table of the records (for docs).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw bytes/element and time, ours vs the paper, as grouped log-scale bars (PNG).")
@click.option("--from-json", "from_json", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Report on saved --json output (repeatable; records joined) instead of running.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the records to this JSON file ('-': stdout); no progress display.")
@click.option("--matmul-speed", is_flag=True,
              help="Time a secure 128x784 @ 784x128 product against plain numpy uint64 (loopback).")
@click.option("--training", "training", multiple=True, metavar="MODEL",
              help="Profile secure training of this model (TOML path or packaged name; repeatable) over three "
                   "local ZeroMQ processes: per-batch seconds, bytes, rounds and the per-protocol breakdown.")
@click.option("--batches", type=click.IntRange(1, 100000), default=20, show_default=True,
              help="Batches per --training run (the model's batch size).")
@click.option("--openings", type=click.Choice(["once", "per-product", "both"]), default="once", show_default=True,
              help="--training: each matrix opened once per step (masked operands), one Beaver product per "
                   "matrix product (the cost before them), or both in one run.")
@click.option("--concurrent", is_flag=True,
              help="Time inference jobs while a training job runs on the same servers, against idle "
                   "(loopback; jobs run side by side up to the config's limits.max_concurrent_jobs).")
@click.option("--list", "list_cases", is_flag=True, help="List the benchmark cases and exit.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Use this (running) cluster instead of a local one (loopback).")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Local cluster run dir [$SPP_RUN_DIR or ./run/cluster]; one is started there if none runs.")
def bench(protocols: str | None, dims: str, variants: tuple[str, ...], net: str, rtt_ms: float | None,
          mbit: float | None, check_net: bool, repeat: int, predict_net: str | None, compute_from: Path | None,
          no_model: bool, compare_paper: bool, markdown: bool, plot_path: Path | None,
          from_json: tuple[Path, ...], json_path: Path | None,
          matmul_speed: bool, training: tuple[str, ...], batches: int, openings: str, concurrent: bool,
          list_cases: bool, config_path: Path | None, run_dir: Path | None,
          predict_batches: str = "1,128") -> None:
    """Run benchmark cases over the three server processes: time, bytes, rounds, error."""
    if training:
        if net != "loopback":
            raise click.UsageError("--training runs on loopback only")
        _run_training(training, batches, openings, json_path)
        return
    if predict_net is not None and predict_net not in NET_CHOICES[1:]:
        if net != "loopback":
            raise click.UsageError("--predict MODEL runs on loopback only (the LAN bench runs protocol cases)")
        _predict_bench(predict_net, predict_batches, repeat, json_path, config_path, run_dir)
        return
    from ..bench.lan import describe, net_shape
    from ..bench.records import annotate, machine_info, model_achieved
    from ..bench.registry import ALL_CASES, get_case
    from ..bench.runner import parse_dims, plan

    quiet = json_path is not None  # no progress display; tables still print unless --json -
    console = make_console()
    if quiet and str(json_path) == "-":
        console.file = sys.stderr
    if list_cases:
        for name, case in sorted(ALL_CASES.items()):
            console.print(f"{name:12s} variants: {', '.join(case.variants):22s} {case.description}")
        return
    try:
        if protocols == "all":  # every case that has one of the requested variants
            names = sorted(n for n, c in ALL_CASES.items() if not variants or set(variants) & set(c.variants))
        else:
            names = [] if protocols is None and (matmul_speed or concurrent) else (protocols or "matmul").split(",")
        jobs = plan([get_case(n.strip()) for n in names if n.strip()], list(variants) or None)
        shapes = parse_dims(dims)
        shape = net_shape(net, rtt_ms, mbit)
        model_name = predict_net or net
        model_shape = net_shape(model_name) if predict_net else shape
    except (KeyError, ValueError) as exc:
        raise click.UsageError(str(exc.args[0] if exc.args else exc)) from None
    if from_json:
        _report_saved(list(from_json), console, compare_paper, markdown, plot_path)
        return
    if check_net and shape is None:
        raise click.UsageError("--check-net needs an emulated network (--net lan, paper-lan or lan-1g)")
    if (matmul_speed or concurrent) and shape is not None:
        raise click.UsageError("--matmul-speed and --concurrent run on loopback only")
    net_doc = describe(net, shape)
    machine = machine_info()
    records: list[dict] = []
    speed = probe = None
    compute: dict | None = None
    side_by_side: dict | None = None
    try:
        if shape is None:
            records, speed = _run_loopback(jobs, shapes, repeat, matmul_speed, config_path, run_dir,
                                           console, quiet)
            if concurrent:
                side_by_side = _run_concurrent(config_path, run_dir, repeat, console, quiet)
        else:
            if not no_model:
                compute = _compute_times(jobs, shapes, repeat, compute_from, run_dir, console, quiet)
            records, probe = _run_lan(shape, net, jobs, shapes, repeat, check_net, console, quiet)
    except SppError as exc:
        raise click.ClickException(str(exc)) from None
    annotate(records, net_doc, model_net=describe(model_name, model_shape), model_shape=model_shape,
             compute={} if no_model else compute, machine=machine)
    if probe is not None and shape is not None and model_name == net:
        model_achieved(records, probe.achieved_shape(shape))
    to_stdout = str(json_path) == "-"
    _report(records, net_doc, probe, speed, console, to_stdout, compare_paper, markdown, to_stdout)
    if plot_path is not None:
        from ..bench.plot import plot_vs_paper

        try:
            n = plot_vs_paper(records, plot_path, title=f"ours ({net}) vs the S++ paper (Table 1, its LAN)")
        except SppError as exc:
            raise click.ClickException(str(exc)) from None
        console.print(f"wrote {plot_path} ({n} groups)")
    if json_path is not None:
        doc = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(["spp", *sys.argv[1:]]),
               "net": net_doc, "machine": machine, "net_check": probe.to_dict() if probe else None,
               "records": records, "matmul_speed": speed, "concurrent": side_by_side}
        text = json.dumps(doc, indent=1)
        if str(json_path) == "-":
            click.echo(text)
        else:
            json_path.write_text(text)
    failures = []
    if probe is not None and not probe.honoured:
        failures.append("the emulated network is faster than asked (" + probe.text() + ")")
    elif probe is not None and not probe.ok:
        load = os.getloadavg()[0]
        console.print(f"[yellow]warning:[/] the emulated link is slower than asked ({probe.text()}); "
                      f"load average {load:.1f} on {os.cpu_count()} cores: the delay relays are late on a "
                      "busy machine. Records carry model_ratio_achieved, the model on the measured delay.")
    bad = [r for r in records if not r["within_tolerance"]]
    if bad:
        failures.append("accuracy bar missed by " + ", ".join(f"{r['protocol']}/{r['variant']}/{r['dim']}" for r in bad))
    if failures:
        raise click.ClickException("; ".join(failures))


# -- the prediction service -------------------------------------------------------------------------
def _predict_bench(spec: str, batches: str, repeat: int, json_path: Path | None, config_path: Path | None,
                   run_dir: Path | None) -> None:
    from ..bench.predict import ANCHORS, run_predict_bench
    from ..bench.records import machine_info
    from ..client import Client
    from ..nn import ModelConfigError
    from .models import resolve_model

    try:
        model = resolve_model(spec)
        sizes = [int(b) for b in batches.split(",") if b.strip()]
    except (ModelConfigError, ValueError) as exc:
        raise click.UsageError(f"--predict {spec} --batch {batches}: {exc}") from None
    if not sizes or min(sizes) < 1:
        raise click.UsageError("--batch takes row counts >= 1, e.g. 1,128")
    console = make_console()
    if json_path is not None and str(json_path) == "-":
        console.file = sys.stderr
    echo = console.print
    try:
        with cl.cluster_for(config_path, run_dir or cl.default_run_dir(), echo=echo) as cfg, Client(cfg) as client:
            client.connect()
            records = run_predict_bench(client, model, sizes, repeat,
                                        on_record=lambda r: echo(f"{r['phase']}, batch {r['batch']}: "
                                                                 f"{r['time_s'] * 1e3:.1f} ms, {r['bytes'] / 1e6:.4f} MB, "
                                                                 f"{r['rounds']} rounds"))
    except SppError as exc:
        raise click.ClickException(str(exc)) from None
    table = Table(title=f"spp predict, model {model.name}, loopback (median of {repeat})", title_justify="left")
    for col in ("phase", "batch", "time ms", "server ms", "MB (online + offline)", "online MB", "rounds"):
        table.add_column(col)
    for r in records:
        table.add_row(r["phase"], str(r["batch"]), f"{r['time_s'] * 1e3:.1f}", f"{r.get('server_s_median', r['server_s']) * 1e3:.1f}",
                      f"{r['bytes'] / 1e6:.4f}", f"{r['online_bytes'] / 1e6:.4f}", str(r["rounds"]))
    console.print(table)
    if json_path is not None:
        doc = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(["spp", *sys.argv[1:]]),
               "net": {"name": "loopback"}, "machine": machine_info(), "anchors": ANCHORS, "records": records}
        text = json.dumps(doc, indent=1)
        if str(json_path) == "-":
            click.echo(text)
        else:
            json_path.write_text(text)


# -- running ----------------------------------------------------------------------------------------
def _run_training(specs: tuple[str, ...], batches: int, openings: str, json_path: Path | None) -> None:
    """``--training``: profile each model (and opening mode) over one set of party processes."""
    from ..bench.records import machine_info
    from ..bench.training import format_training, profile_training
    from ..launch.parties import ZmqParties
    from ..nn import ModelConfigError
    from .models import resolve_model

    try:
        models = [(spec, resolve_model(spec)) for spec in specs]
    except (ModelConfigError, OSError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    modes = {"once": [True], "per-product": [False], "both": [False, True]}[openings]
    to_stdout = json_path is not None and str(json_path) == "-"
    records = []
    try:
        with ZmqParties() as parties:
            for spec, model in models:
                for reuse in modes:
                    rec = profile_training(model, batches, reuse_openings=reuse, source=spec, parties=parties)
                    records.append(rec)
                    click.echo(format_training(rec) + "\n", err=to_stdout)
    except SppError as exc:
        raise click.ClickException(str(exc)) from None
    if json_path is not None:
        doc = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(["spp", *sys.argv[1:]]),
               "net": {"name": "loopback", "rtt_ms": None}, "machine": machine_info(), "training": records}
        text = json.dumps(doc, indent=1)
        if to_stdout:
            click.echo(text)
        else:
            json_path.write_text(text)


@contextmanager
def _progress(total: int, label: str, console, quiet: bool) -> Iterator[Callable[[dict], None]]:
    """A progress bar (nothing when quiet); yields the per-record callback."""
    if quiet:
        yield lambda rec: None
        return
    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols, console=console, transient=True) as prog:
        task = prog.add_task(label, total=total)

        def step(rec: dict) -> None:
            prog.update(task, advance=1, description=f"{label}: {rec['protocol']} {rec['variant']} {rec['dim']}")

        yield step


def _run_loopback(jobs, shapes, repeat, matmul_speed, config_path, run_dir, console, quiet):
    from ..bench.runner import matmul_speed as speed_check
    from ..bench.runner import run_repeated
    from ..client import Client

    records: list[dict] = []
    speed = None
    echo = (lambda s: None) if quiet else console.print
    with cl.cluster_for(config_path, run_dir or cl.default_run_dir(), echo=echo) as cfg, Client(cfg) as client:
        client.connect()
        with _progress(len(jobs) * len(shapes), "loopback", console, quiet) as step:
            for case, variant in jobs:
                for s in shapes:
                    rec = run_repeated(client, case, s, variant, repeat)
                    records.append(rec)
                    step(rec)
        if matmul_speed:
            speed = speed_check(client)
    return records, speed


def _run_concurrent(config_path: Path | None, run_dir: Path | None, repeat: int, console: Console,
                    quiet: bool) -> dict:
    from ..bench.concurrency import describe, infer_while_training

    echo = (lambda s: None) if quiet else console.print
    with cl.cluster_for(config_path, run_dir or cl.default_run_dir(), echo=echo) as cfg:
        if not quiet:
            console.print("inference while a training job runs: idle first, then beside the training job")
        result = infer_while_training(cfg, repeats=max(repeat, 5))
    if not quiet:
        console.print(describe(result))
    return result


def _compute_times(jobs, shapes, repeat, compute_from, run_dir, console, quiet) -> dict:
    """Each case's loopback time (the model's compute term), from a file or a loopback run."""
    from ..bench.records import key

    if compute_from is not None:
        try:
            recs = json.loads(compute_from.read_text())["records"]
        except (OSError, ValueError, KeyError) as exc:
            raise SppError(f"{compute_from}: not a `spp bench --json` file ({exc})") from None
        if any(r.get("net", {}).get("name", "loopback") != "loopback" for r in recs):
            raise SppError(f"{compute_from}: --compute-from needs a loopback run")
    else:
        if not quiet:
            console.print("measuring compute times on loopback first (the cost model's compute term; "
                          "skip with --no-model or reuse with --compute-from)")
        recs, _ = _run_loopback(jobs, shapes, repeat, False, None, run_dir, console, quiet)
    return {key(r): r["time_s"] for r in recs}


def _run_lan(shape, net, jobs, shapes, repeat, check, console, quiet):
    from ..bench.lan import run_on_lan

    pairs = [(c.name, v) for c, v in jobs]
    # the LAN cluster stops its processes and removes its namespaces on SIGTERM and Ctrl-C too
    with _progress(len(pairs) * len(shapes), net, console, quiet) as step:
        return run_on_lan(shape, pairs, shapes, repeat=repeat, check=check, on_record=step)


# -- reporting --------------------------------------------------------------------------------------
def _report_saved(paths: list[Path], console, compare_paper: bool, markdown: bool, plot_path: Path | None) -> None:
    """Tables, Markdown and plot from saved ``--json`` files, without running anything."""
    records: list[dict] = []
    for path in paths:
        try:
            records += json.loads(path.read_text())["records"]
        except (OSError, ValueError, KeyError) as exc:
            raise click.ClickException(f"{path}: not a `spp bench --json` file ({exc})") from None
    from ..bench.records import remodel

    remodel(records)
    nets = sorted({r.get("net", {}).get("name", "?") for r in records})
    net_doc = records[0]["net"] if records and len(nets) == 1 else {"name": "+".join(nets), "rtt_ms": None}
    tables = not markdown  # with --markdown only the Markdown (and the ratio summary) is printed
    _report(records, net_doc, None, None, console, not tables, compare_paper, markdown, False)
    if plot_path is not None:
        from ..bench.plot import plot_vs_paper

        try:
            n = plot_vs_paper(records, plot_path, title=f"ours ({'+'.join(nets)}) vs the S++ paper (Table 1, its LAN)")
        except SppError as exc:
            raise click.ClickException(str(exc)) from None
        console.print(f"wrote {plot_path} ({n} groups)")


def _report(records, net_doc, probe, speed, console, quiet, compare_paper, markdown, json_stdout) -> None:
    from ..bench.paper import compare, summary
    from ..bench.paper import markdown as md

    if probe is not None:
        click.echo(probe.text(), err=json_stdout)
    if not quiet and records:
        console.print(_table(records, net_doc))
    if compare_paper and records:
        rows = compare(records)
        if not quiet:
            console.print(_paper_table(rows))
        if rows:
            click.echo(summary(rows), err=json_stdout)
    if markdown and records:
        click.echo(md(records, with_paper=compare_paper), err=json_stdout)
    if speed is not None and not quiet:
        for s in speed:
            console.print(_speed_text(s))


def _net_title(net: dict) -> str:
    if net["rtt_ms"] is None:
        return "loopback"
    return f"{net['name']}: RTT {net['rtt_ms']:g} ms, {net['up_mbit']:g} up / {net['down_mbit']:g} down Mbit/s per host"


def _table(records: list[dict], net: dict) -> Table:
    table = Table(title=f"Benchmarks over three server processes (CURVE ZeroMQ), {_net_title(net)}",
                  title_justify="left")
    has_model = any("model_s" in r for r in records)
    cols = ["protocol", "variant", "dim", "time ms", "MB", "B/elem", "offline MB", "rounds"]
    if has_model:
        model_net = next(r["model_net"]["name"] for r in records if "model_s" in r)
        cols += [f"model ms ({model_net})", "lat+xfer+cpu ms"]
    cols += ["max abs err", "ok"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("protocol", "variant", "dim", "ok") else "right")
    for r in records:
        t = f"{1000 * r['time_s']:.1f}"
        if r.get("repeat", 1) > 1:
            t += f" ({1000 * r['time_min_s']:.1f}-{1000 * r['time_max_s']:.1f})"
        row = [r["protocol"], r["variant"], r["dim"], t, f"{r['bytes_total'] / 1e6:.3f}",
               f"{r['bytes_per_element']:.1f}", f"{r['offline_bytes'] / 1e6:.3f}", str(r["rounds"])]
        if has_model:
            if "model_s" in r:
                parts = (r["model_latency_s"], r["model_transfer_s"], r["model_compute_s"])
                row += [f"{1000 * r['model_s']:.1f}", "+".join(f"{1000 * x:.0f}" for x in parts)]
            else:
                row += ["-", "-"]
        row += [f"{r['max_abs_err']:.2e}", "yes" if r["within_tolerance"] else "NO"]
        table.add_row(*row)
    return table


def _paper_table(rows: list[dict]) -> Table:
    table = Table(title="Ours vs the S++ paper's Table 1 (its LAN: 12 ms, 9.2/40 Mbit/s; C++); ratio = ours/paper",
                  title_justify="left")
    for col in ("protocol", "variant", "dim", "time s", "paper s", "time ratio", "MB", "paper MB", "MB ratio"):
        table.add_column(col, justify="left" if col in ("protocol", "variant", "dim") else "right")
    for r in rows:
        table.add_row(r["protocol"], r["variant"], r["dim"], f"{r['time_s']:.3f}", f"{r['paper_time_s']:.3f}",
                      f"{r['time_ratio']:.3g}", f"{r['mb']:.3f}", f"{r['paper_mb']:.3f}", f"{r['mb_ratio']:.3g}")
    return table


def _speed_text(s: dict) -> str:
    target = s["target_ratio"]
    verdict = ""
    if target is not None:
        verdict = f" ({'within' if s['ratio'] <= target else 'ABOVE'} the {target:g}x target)"
    return (
        f"Secure {s['shape']} (triple dealing included): {1000 * s['secure_matmul_s']:.1f} ms; "
        f"plain numpy float64: {1000 * s['plain_numpy_float64_s']:.2f} ms, ring.matmul: "
        f"{1000 * s['plain_ring_matmul_s']:.2f} ms, numpy uint64: {1000 * s['plain_numpy_uint64_s']:.2f} ms; "
        f"ratio to float64 {s['ratio']:.1f}x{verdict}, to uint64 {s['ratio_uint64']:.2f}x. Whole job incl. "
        f"upload/download: {1000 * s['secure_job_s']:.1f} ms. Max abs error {s['max_abs_err']:.1e}."
    )
