#!/usr/bin/env python3
"""Measure the S++ functions against float64: the default exp's relative error by region,
and the faithful ``spp`` variant's gross-failure rate per function inside its documented
range (a failure: error above 10x the documented bar, e.g. a failed local truncation).

    .venv/bin/python scripts/measure_spp_accuracy.py --exp 400000 --spp 20000 --seed 1

Prints one line per measurement; the numbers quoted in docs/SPP.md and the docstrings come
from this script.
"""

from __future__ import annotations

import argparse

import numpy as np

from spp_runtime.engine.local import run_local
from spp_runtime.protocols import activations, exponential, softmax
from spp_runtime.tensor import share_input


def _run(fn, x: np.ndarray) -> np.ndarray:
    def prog(ctx):
        t = share_input(ctx, x if ctx.party == 0 else None, 0, x.shape)
        return fn(t).reveal()

    return run_local(prog, timeout=3600).outputs[0]


def _sig(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))


def measure_exp(n: int, rng: np.random.Generator, chunk: int = 50_000) -> None:
    x = np.concatenate([rng.uniform(-16, 16, n), np.linspace(-16, 16, n)])
    got = np.concatenate([_run(exponential.exp, x[i : i + chunk]) for i in range(0, x.size, chunk)])
    ref = np.exp(x)
    rel = np.abs(got - ref) / ref
    ab = np.abs(got - ref)
    for lo in (-16, -8, -5, -4.2, -3.7, -3.0, -2.4, -2.3, -1.67, -1.0, 0.0, 8.0):
        sel = x >= lo
        print(f"exp x >= {lo:6}: max relative {rel[sel].max():.3g} (at x = {x[sel][rel[sel].argmax()]:.4f})")
    for hi in (-4.2, -3.0, 0.0):
        sel = x < hi
        print(f"exp x < {hi}: max absolute {ab[sel].max():.3g}")


SPP_CASES = {
    # name: (function on shares, float64 reference, documented range, documented bar)
    "exp": (lambda t: exponential.exp(t, "spp"), np.exp, (-5.0, 14.0), "rel", 0.02),
    "sigmoid": (lambda t: activations.sigmoid(t, "spp"), _sig, (-14.0, 14.0), "abs", 4e-3),
    "sigmoid_grad": (lambda t: activations.sigmoid_grad(t, "spp"), lambda x: _sig(x) * (1 - _sig(x)), (-14.0, 14.0), "abs", 8e-3),
    "tanh": (lambda t: activations.tanh(t, "spp"), np.tanh, (-7.0, 7.0), "abs", 8e-3),
    "tanh_grad": (lambda t: activations.tanh_grad(t, "spp"), lambda x: 1 - np.tanh(x) ** 2, (-7.0, 7.0), "abs", 8e-3),
}


def measure_spp(n: int, rng: np.random.Generator, chunk: int = 2_000) -> None:
    for name, (fn, ref, (lo, hi), kind, bar) in SPP_CASES.items():
        x = rng.uniform(lo, hi, n)
        got = np.concatenate([_run(fn, x[i : i + chunk]) for i in range(0, n, chunk)])
        r = ref(x)
        err = np.abs(got - r) / (np.abs(r) if kind == "rel" else 1.0)
        gross = err > 10 * bar
        within = err[~gross].max() if (~gross).any() else float("nan")
        print(f"spp {name} on [{lo}, {hi}]: {gross.sum()} gross failures in {n} "
              f"(rate {gross.mean():.2g}; at x = {np.round(x[gross][:5], 3).tolist()}); "
              f"max {kind} error otherwise {within:.3g}")
    rows = rng.uniform(-5, 5, (n // 10, 10))
    got = np.concatenate([_run(lambda t: softmax.softmax(t, variant="spp"), rows[i : i + chunk // 10])
                          for i in range(0, rows.shape[0], chunk // 10)])
    e = np.exp(rows)
    err = np.abs(got - e / e.sum(-1, keepdims=True))
    gross = err.max(-1) > 10 * 5e-3
    print(f"spp softmax rows of 10 on [-5, 5]: {gross.sum()} gross failures in {rows.shape[0]} rows "
          f"(rate {gross.mean():.2g}); max error otherwise {err[~gross].max():.3g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exp", type=int, default=200_000, help="samples for the default exp")
    ap.add_argument("--spp", type=int, default=10_000, help="samples per function for the spp variant")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.exp:
        measure_exp(args.exp, rng)
    if args.spp:
        measure_spp(args.spp, rng)


if __name__ == "__main__":
    main()
