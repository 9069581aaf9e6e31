"""Rounds and bytes per element of the SecureNN-family bench cases, from the engine's counters.

Runs every variant of each case in process (three threads) on one shape and prints rounds,
bytes per element (all links, online + offline), offline bytes per element, the case's error
and the wall time. Usage:

    .venv/bin/python scripts/securenn_costs.py [--shape 128 128] [case ...]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np

from spp_runtime.bench.registry import ALL_CASES
from spp_runtime.engine.local import run_local
from spp_runtime.tensor import share_input

DEFAULT_CASES = ("drelu", "relu", "division", "reciprocal", "maxpool", "rowmax")


def _program(ctx, case, variant, plain):
    shared = {k: share_input(ctx, v if ctx.party == 0 else None, 0, v.shape) for k, v in plain.items()}
    with ctx.record("case"):
        out = case.program(ctx, shared, variant)
    return out.reveal()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=DEFAULT_CASES)
    parser.add_argument("--shape", nargs="+", type=int, default=[128, 128])
    args = parser.parse_args()
    shape = tuple(args.shape)
    print(f"{'case':10s} {'variant':8s} {'rounds':>6s} {'B/elem':>10s} {'offline':>9s} {'error':>9s} {'time':>7s}")
    for name in args.cases:
        case = ALL_CASES[name]
        for variant in case.variants:
            plain = case.make_inputs(shape, np.random.default_rng(7), variant)
            t0 = time.perf_counter()
            run = run_local(partial(_program, case=case, variant=variant, plain=plain), timeout=600)
            (st,) = run.top("case")
            n = next(iter(plain.values())).size
            err = case.error(run.outputs[0], case.reference(**plain))
            print(f"{name:10s} {variant:8s} {st.rounds:6d} {st.bytes_total / n:10.3f} "
                  f"{st.offline_bytes / n:9.3f} {err:9.2e} {time.perf_counter() - t0:6.1f}s", flush=True)


if __name__ == "__main__":
    main()
