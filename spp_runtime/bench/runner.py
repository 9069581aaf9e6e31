"""Run benchmark cases over the three real servers and turn each run into one record.

A run secret-shares the case's inputs from the client, executes the ``bench`` program (the
case's secure program recorded as one call), reconstructs the output at the client and
compares it with the case's float64 reference. Time, bytes and rounds are those of the
recorded call as the servers counted them (input upload and output download excluded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import ring
from ..client import Client
from .case import BenchCase, Shape


def parse_dims(text: str) -> list[Shape]:
    """``"64x16,128x128"`` -> ``[(64, 16), (128, 128)]``."""
    shapes = []
    for part in text.split(","):
        part = part.strip()
        try:
            dims = tuple(int(d) for d in part.lower().split("x"))
        except ValueError:
            raise ValueError(f"bad shape {part!r}: use MxN, e.g. 128x128") from None
        if not dims or any(d <= 0 for d in dims):
            raise ValueError(f"bad shape {part!r}: dimensions must be positive")
        shapes.append(dims)
    return shapes


def run_case(client: Client, case: BenchCase, shape: Shape, variant: str, *, seed: int = 0) -> dict[str, Any]:
    """Benchmark one case on one shape and variant; returns the JSON record."""
    rng = np.random.default_rng(seed)  # benchmark data only, never secrets
    plain = case.make_inputs(shape, rng, variant)
    t0 = time.perf_counter()
    res = client.run("bench", plain, {"case": case.name, "variant": variant})
    wall = time.perf_counter() - t0
    (st,) = res.top("bench")
    got, want = res.outputs["out"], np.asarray(case.reference(**plain), dtype=np.float64)
    if got.shape != want.shape:
        raise ValueError(f"{case.name}: output shape {got.shape} differs from the reference {want.shape}")
    abs_err = np.abs(got - want)
    rel_err = abs_err / np.maximum(np.abs(want), 1e-12)
    elements = int(np.prod(shape))
    max_abs, max_rel = float(abs_err.max(initial=0.0)), float(rel_err.max(initial=0.0))
    err, tolerance = case.error(got, want), case.tolerance_for(variant)
    return {
        "protocol": case.name,
        "variant": variant,
        "dim": "x".join(str(d) for d in shape),
        "shape": list(shape),
        "elements": elements,
        "time_s": st.time_s,
        "job_wall_s": wall,
        "bytes_total": st.bytes_total,
        "bytes_per_element": st.bytes_total / elements,
        "bytes_per_link": st.bytes_per_link,
        "wire_bytes_total": st.wire_total,
        "wire_bytes_per_link": st.wire_per_link,
        "offline_bytes": st.offline_bytes,
        "online_bytes": st.online_bytes,
        "rounds": st.rounds,
        "messages": st.messages,
        "max_abs_err": max_abs,
        "max_rel_err": max_rel,
        "error_kind": case.error_kind,
        "error": err,
        "tolerance": tolerance,
        "within_tolerance": bool(err <= tolerance),
    }


def run_repeated(client: Client, case: BenchCase, shape: Shape, variant: str, repeat: int = 1) -> dict[str, Any]:
    """``run_case`` ``repeat`` times (fresh inputs each time) folded into one record."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    return aggregate([run_case(client, case, shape, variant, seed=i) for i in range(repeat)])


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One record from repeated runs: median time (with min/max), worst error, all bytes of
    the first run (counts do not depend on the data)."""
    rec = dict(runs[0])
    times = [r["time_s"] for r in runs]
    rec.update(
        repeat=len(runs),
        time_s=float(np.median(times)),
        time_min_s=min(times),
        time_max_s=max(times),
        job_wall_s=float(np.median([r["job_wall_s"] for r in runs])),
        max_abs_err=max(r["max_abs_err"] for r in runs),
        max_rel_err=max(r["max_rel_err"] for r in runs),
        error=max(r["error"] for r in runs),
        within_tolerance=all(r["within_tolerance"] for r in runs),
    )
    return rec


def plan(cases: list[BenchCase], variants: list[str] | None) -> list[tuple[BenchCase, str]]:
    """The (case, variant) pairs to run: each case's variants among ``variants`` (None: all of
    them); a case that has none of the requested variants is an error."""
    out = []
    for case in cases:
        chosen = [v for v in variants if v in case.variants] if variants else list(case.variants)
        if not chosen:
            raise ValueError(f"{case.name} has no variant {' or '.join(map(repr, variants or []))}; "
                             f"known: {', '.join(case.variants)}")
        out += [(case, v) for v in chosen]
    return out


def run_all(
    client: Client,
    cases: list[BenchCase],
    shapes: list[Shape],
    variants: list[str] | None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    repeat: int = 1,
) -> list[dict[str, Any]]:
    """Every case x shape x variant, each ``repeat`` times."""
    records = []
    for case, variant in plan(cases, variants):
        for shape in shapes:
            rec = run_repeated(client, case, shape, variant, repeat)
            records.append(rec)
            if on_record is not None:
                on_record(rec)
    return records


SPEED_SHAPES: tuple[tuple[int, int, int], ...] = ((128, 784, 128), (128, 128, 128), (128, 128, 10))
SPEED_TARGET_RATIO = 15.0  # issue 17: secure 128x784 @ 784x128 at most 15x the float64 product


def matmul_speed(client: Client, shapes: tuple[tuple[int, int, int], ...] = SPEED_SHAPES,
                 repeats: int = 5) -> list[dict[str, Any]]:
    """Secure (m x k) @ (k x n) over the servers, triple dealing included, against plain
    products of the same shapes timed in this process in the same run: numpy's uint64 matmul
    (no BLAS), ``ring.matmul`` (exact, float64 BLAS where it pays) and numpy's float64 matmul.
    One record per shape, in the order given.

    The secure times are the median of ``repeats`` calls, the plain ones of 5 calls per repeat,
    interleaved with the secure calls; the secure time is the ``matmul`` call as the servers
    recorded it (the slowest party), the job time adds upload, download and job overheads.
    ``ratio`` is secure / float64; the first shape carries the 15x target.
    """
    return [_matmul_speed_one(client, m, k, n, repeats, SPEED_TARGET_RATIO if i == 0 else None)
            for i, (m, k, n) in enumerate(shapes)]


def _matmul_speed_one(client: Client, m: int, k: int, n: int, repeats: int,
                      target: float | None) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, size=(m, k)), rng.uniform(-1, 1, size=(k, n))
    a, b = client.cfg.fxp.encode(x), client.cfg.fxp.encode(y)
    products: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], np.ndarray, np.ndarray]] = {
        "uint64": (np.matmul, a, b), "ring": (ring.matmul, a, b), "float64": (np.matmul, x, y)}
    plain: dict[str, list[float]] = {name: [] for name in products}
    secure, jobs = [], []
    client.run("matmul", {"x": x, "y": y})  # warm up connections and code paths
    for product, lhs, rhs in products.values():
        product(lhs, rhs)
    for _ in range(repeats):
        for name, (product, lhs, rhs) in products.items():
            for _ in range(5):
                t0 = time.perf_counter()
                product(lhs, rhs)
                plain[name].append(time.perf_counter() - t0)
        res = client.run("matmul", {"x": x, "y": y})
        secure.append(res.top("matmul")[0].time_s)
        jobs.append(res.wall_s)
    err = float(np.abs(res.outputs["out"] - x @ y).max())
    p, r, f = (float(np.median(plain[name])) for name in ("uint64", "ring", "float64"))
    s, j = float(np.median(secure)), float(np.median(jobs))
    return {
        "shape": f"{m}x{k} @ {k}x{n}",
        "secure_matmul_s": s,
        "secure_job_s": j,
        "plain_numpy_uint64_s": p,
        "plain_ring_matmul_s": r,
        "plain_numpy_float64_s": f,
        "ratio": s / f,
        "ratio_uint64": s / p,
        "job_ratio": j / f,
        "target_ratio": target,
        "max_abs_err": err,
        "repeats": repeats,
    }
