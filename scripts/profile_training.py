#!/usr/bin/env python3
"""Where a secure training epoch's time and bytes go: train a model for a few batches over
three ZeroMQ processes and print time, MB and rounds per protocol (the engine's counters).

    python scripts/profile_training.py --model configs/models/mnist_a.toml --batches 40

A thin wrapper of ``spp bench --training`` (spp_runtime/bench/training.py), which also
writes the records as JSON.
"""

from __future__ import annotations

import argparse

from spp_runtime.bench.training import format_training, profile_training
from spp_runtime.cli.models import resolve_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a TOML config, a packaged name (mnist_c) or FILE.onnx")
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--per-product-openings", action="store_true",
                    help="one Beaver product per matrix product (the cost before masked operands)")
    a = ap.parse_args()
    rec = profile_training(resolve_model(a.model), a.batches, reuse_openings=not a.per_product_openings,
                           source=a.model)
    print(format_training(rec))


if __name__ == "__main__":
    main()
