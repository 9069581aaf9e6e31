#!/usr/bin/env python3
"""Train a model on MNIST securely over three ZeroMQ processes and in float64, same seed.

    python scripts/secure_mnist.py --model configs/models/mnist_a.toml --epochs 10 --out out/mnist_a
    python scripts/secure_mnist.py --model configs/models/mnist_lstm.toml --train-limit 6000 \\
        --epochs 3 --out /work/runs/lstm --json docs/training/mnist_lstm_secure_vs_float64.json

Writes OUT/epochs.jsonl (one line per secure epoch as it completes, P0's view),
OUT/epochs.jsonl.p0/.p1/.p2 (each party's sent bytes and round clock per epoch),
OUT/ckpt/party<p>_epoch<e>.npz (each party's own shares of weights and momentum after each
epoch; ``--resume E`` continues from epoch E's files) and OUT/result.json (both runs'
per-epoch test accuracy on the full 10,000-image test set, time and traffic; also copied to
``--json``). ``--probe N`` times N secure training batches (no test evaluation) and exits.

Test accuracy of the secure run: with ``--secure-eval`` the parties count correct test
predictions on shares after every epoch (only the count is opened). Without it (cheaper: a
secure forward pass over 10,000 sequences costs as much as ~80 training batches), the
per-epoch checkpoints are reconstructed after the run (P0's and P1's share files together,
which only the operator of both can do) and the secure-trained weights are evaluated on the
full test set in the fixed-point emulation of secure inference (what the parties would
compute, up to the +-1 ulp of local truncation) and in float64. ``--eval-only`` does just
that for the checkpoints present (e.g. of a run still in progress).
Sequence models (``inputs = [28, 28]``) take each image as 28 rows of 28 pixels.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from spp_runtime.data.mnist import default_mnist_dir, load_mnist
from spp_runtime.encoding import FixedPoint
from spp_runtime.launch.parties import ZmqParties
from spp_runtime.nn import FixedOps, FloatOps, load_model_config
from spp_runtime.nn.runner import Hyper, secure_train_program, train_plain
from spp_runtime.nn.train import count_correct, onehot


def _checkpoint_weights(ckpt: Path, epoch: int, names: list[str]) -> dict[str, np.ndarray] | None:
    """float64 weights after ``epoch`` from P0's and P1's share files (None if absent)."""
    files = [ckpt / f"party{p}_epoch{epoch}.npz" for p in (0, 1)]
    if not all(f.exists() for f in files):
        return None
    fxp = FixedPoint()
    with np.load(files[0]) as z0, np.load(files[1]) as z1:
        return {k: fxp.decode(z0[f"param.{k}"] + z1[f"param.{k}"]) for k in names}


def evaluate_checkpoints(model, ckpt: Path, epochs: int, test) -> list[dict]:
    """Full-test-set accuracy of each checkpoint: emulated secure inference and float64."""
    rows = []
    fx = FixedOps()
    for e in range(1, epochs + 1):
        w = _checkpoint_weights(ckpt, e, model.param_names())
        if w is None:
            continue
        n = len(test[0])
        emu = count_correct(fx, model, {k: fx.encode(v) for k, v in w.items()}, fx.encode(test[0]), fx.encode(test[1]))
        flt = count_correct(FloatOps(), model, w, *test)
        rows.append({"epoch": e, "test_accuracy": emu / n, "test_accuracy_float64_inference": flt / n})
        print("checkpoint", rows[-1], flush=True)
    return rows


def _party_epochs(log: Path) -> list[dict]:
    """Per-epoch traffic summed over the parties' own logs, and P0's round clock."""
    per = []
    for p in range(3):
        f = Path(f"{log}.p{p}")
        per.append([json.loads(line) for line in f.read_text().splitlines()] if f.exists() else [])
    out, prev_bytes, prev_rounds = [], 0, 0
    for rows in zip(*per):
        total = sum(r["sent_bytes"] for r in rows)
        rounds = rows[0]["round_clock"]
        out.append({"epoch": rows[0]["epoch"], "bytes": total - prev_bytes if rows[0]["epoch"] > 1 else total,
                    "rounds": rounds - prev_rounds if rows[0]["epoch"] > 1 else rounds})
        prev_bytes, prev_rounds = total, rounds
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--output", choices=["softmax", "relu_output", "relu_grad"], help="override the output rule")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--clip", type=float)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--limit", "--train-limit", dest="limit", type=int, help="first N training images only")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--json", type=Path, help="also write the result here")
    ap.add_argument("--probe", type=int, help="time this many secure batches and exit")
    ap.add_argument("--resume", type=int, default=0, help="continue the secure run from this epoch's checkpoint")
    ap.add_argument("--skip-float", action="store_true", help="reuse OUT/float64.json from an earlier run")
    ap.add_argument("--secure-eval", action="store_true", help="count test accuracy on shares every epoch")
    ap.add_argument("--eval-only", action="store_true", help="evaluate the checkpoints present and exit")
    a = ap.parse_args()
    model = load_model_config(a.model)
    if a.output:
        model = dataclasses.replace(model, output=a.output)
    hyper = Hyper.of(model, epochs=a.epochs, lr=a.lr, clip=a.clip, batch_size=a.batch_size)
    d = default_mnist_dir()
    tr, te = load_mnist(d, "train", limit=a.limit), load_mnist(d, "test")
    x, y = tr.images.reshape(len(tr.images), -1), onehot(tr.labels, 10)
    test = (te.images.reshape(len(te.images), -1), onehot(te.labels, 10))
    params0 = model.init_params(hyper.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    log = a.out / "epochs.jsonl"
    ckpt = a.out / "ckpt"
    ckpt.mkdir(exist_ok=True)

    if a.probe:
        n = a.probe * hyper.batch_size
        probe = dataclasses.replace(hyper, epochs=1)
        with ZmqParties() as parties:
            t0 = time.perf_counter()
            run = parties.run(secure_train_program, model, x[:n], y[:n], params0, probe, None, timeout=6 * 3600.0)
            wall = time.perf_counter() - t0
        train = next(s for s in run.stats if s.name == "train")
        per = train.time_s / a.probe
        print(json.dumps({"batches": a.probe, "train_s": train.time_s, "wall_s": wall, "s_per_batch": per,
                          "bytes_per_batch": train.bytes_total / a.probe, "rounds_per_batch": train.rounds / a.probe,
                          "full_epoch_s_estimate": per * 60000 / hyper.batch_size,
                          "subset_epoch_s_estimate": per * len(x) / hyper.batch_size}, indent=1))
        return

    if a.eval_only:
        print(json.dumps(evaluate_checkpoints(model, ckpt, hyper.epochs, test), indent=1))
        return

    if not a.resume:
        for p in [log, *(Path(f"{log}.p{i}") for i in range(3))]:
            p.unlink(missing_ok=True)
    float_file = a.out / "float64.json"
    if a.skip_float and float_file.exists():
        plain_rows = json.loads(float_file.read_text())
    else:
        t0 = time.perf_counter()
        plain = train_plain(model, x, y, params0, hyper, test,
                            on_epoch=lambda r: print("float64 epoch", r.epoch, r.test_accuracy, flush=True))
        print("float64:", [r.test_accuracy for r in plain.epochs], f"{time.perf_counter() - t0:.1f}s", flush=True)
        plain_rows = [{"epoch": r.epoch, "test_accuracy": r.test_accuracy, "seconds": r.seconds} for r in plain.epochs]
        float_file.write_text(json.dumps(plain_rows, indent=1))

    with ZmqParties() as parties:
        t0 = time.perf_counter()
        run = parties.run(secure_train_program, model, x, y, params0, hyper, test if a.secure_eval else None,
                          str(log), str(ckpt), a.resume,
                          timeout=24 * 3600.0)
        wall = time.perf_counter() - t0
    params, results = run.outputs[0]
    train = next(s for s in run.stats if s.name == "train")
    shared = next(s for s in run.stats if s.name == "share_inputs")
    traffic = {r["epoch"]: r for r in _party_epochs(log)}
    evals = {} if a.secure_eval else {r["epoch"]: r for r in evaluate_checkpoints(model, ckpt, hyper.epochs, test)}
    out = {
        "model": model.name, "output": model.output, "hyper": hyper.kwargs(), "train_rows": len(x),
        "test_rows": len(test[0]),
        "float64": plain_rows,
        "secure_test_accuracy_from": "secure inference (count opened)" if a.secure_eval else
        "secure-trained weights (per-epoch share checkpoints), inference in the fixed-point emulation",
        "secure": [{"epoch": r.epoch, "seconds": r.seconds,
                    **({"test_accuracy": r.test_accuracy} if a.secure_eval else evals.get(r.epoch, {})),
                    "gb": traffic.get(r.epoch, {}).get("bytes", 0) / 1e9, "rounds": traffic.get(r.epoch, {}).get("rounds")}
                   for r in results],
        "resumed_from_epoch": a.resume,
        "secure_wall_s": wall,
        "secure_train_bytes": train.bytes_total, "secure_train_rounds": train.rounds,
        "secure_bytes_per_epoch": train.bytes_total / max(len(results), 1),
        "share_inputs_bytes": shared.bytes_total,
    }
    (a.out / "result.json").write_text(json.dumps(out, indent=1))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
