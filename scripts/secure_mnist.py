#!/usr/bin/env python3
"""Train a model on MNIST securely over three ZeroMQ processes and in float64, same seed.

    python scripts/secure_mnist.py --model configs/models/mnist_a.toml --epochs 10 --out out/mnist_a
    python scripts/secure_mnist.py --model mnist_c --train-limit 6000 --epochs 3 --out /work/runs/lenet \\
        --json docs/training/mnist_c_secure_vs_float64.json
    python scripts/secure_mnist.py --model configs/models/mnist_lstm.toml --train-limit 4480 --clip 1.0 \\
        --epochs 3 --plain-eval --out /work/runs/lstm --json docs/training/mnist_lstm_secure_vs_float64.json

Both runs start from the same initial weights and use the same batch order. Writes
OUT/epochs.jsonl (one line per secure epoch as it completes), OUT/checkpoints/ (each
primary's shares of the weights and velocities after every epoch; rerunning the same command
resumes after the last complete epoch, ``--resume E`` insists that this is epoch E),
OUT/float64.json (the float64 reference, reused on resume) and OUT/result.json (both runs per
epoch: test accuracy, seconds, bytes between the servers, rounds), copied to --json if given.
``--train-limit N`` trains on the first N training images (stated in the result); the test set
is always the full 10,000 unless --test-limit. ``--probe N`` times N secure training batches
(no test evaluation) and exits.

Test accuracy of the secure run: by default (``--secure-eval``) the parties count correct test
predictions on shares after every epoch (only the count is opened). With ``--plain-eval``
(cheaper: a secure forward pass over 10,000 images or sequences costs as much as many training
batches) the per-epoch checkpoints are reconstructed while the run goes on (P0's and P1's share
files together, which only the operator of both can do) and the secure-trained weights are
evaluated in float64. ``--eval-only`` evaluates the checkpoints present (e.g. of a run still in
progress) in the fixed-point emulation of secure inference (what the parties would compute, up
to the +-1 ulp of local truncation) and in float64, and exits; ``--report-only`` assembles the
result of a run in progress. Sequence models (``inputs = [28, 28]``) take each image as 28 rows
of 28 pixels; convolutional ones (``inputs = [1, 28, 28]``) as one NCHW image.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import threading
import time
from pathlib import Path

from spp_runtime.cli.models import resolve_model
from spp_runtime.data.mnist import default_mnist_dir, load_mnist
from spp_runtime.launch.parties import ZmqParties
from spp_runtime.nn import FixedOps
from spp_runtime.nn.checkpointed import (
    checkpoint_weights,
    float_test_accuracy,
    last_complete_epoch,
    secure_train_checkpointed,
)
from spp_runtime.nn.runner import Hyper, secure_train_program, train_plain
from spp_runtime.nn.train import count_correct, onehot


def evaluate_checkpoints(model, ckpt: Path, test) -> list[dict]:
    """Full-test-set accuracy of each complete checkpoint: emulated secure inference and float64."""
    rows = []
    fx = FixedOps()
    n = len(test[0])
    for e in range(1, last_complete_epoch(ckpt) + 1):
        w = checkpoint_weights(ckpt, e)
        emu = count_correct(fx, model, {k: fx.encode(v) for k, v in w.items()}, fx.encode(test[0]), fx.encode(test[1]))
        rows.append({"epoch": e, "test_accuracy": (emu or 0) / n,
                     "test_accuracy_float64_inference": float_test_accuracy(model, w, *test)})
        print("checkpoint", rows[-1], flush=True)
    return rows


def _epochs_json(results) -> list[dict]:
    return [{"epoch": r.epoch, "test_accuracy": r.test_accuracy, "seconds": r.seconds} for r in results]


def _evaluate_new_checkpoints(model, out: Path, test_full) -> dict[int, float]:
    """float64 test accuracy of the secure-trained weights of every complete checkpoint not yet
    evaluated (OUT/eval.jsonl); returns all evaluations so far."""
    path = out / "eval.jsonl"
    done = {int(r["epoch"]): r["test_accuracy"] for r in map(json.loads, path.read_text().splitlines())} if path.exists() else {}
    last = last_complete_epoch(out / "checkpoints")
    for e in range(1, last + 1):
        if e not in done:
            acc = float_test_accuracy(model, checkpoint_weights(out / "checkpoints", e), *test_full)
            done[e] = acc
            with open(path, "a") as f:
                f.write(json.dumps({"epoch": e, "test_accuracy": acc, "test_rows": len(test_full[0])}) + "\n")
            print(f"secure epoch {e}: test accuracy of the weights in float64 {acc:.4f}", flush=True)
    return done


def report_partial(a: argparse.Namespace) -> None:
    """The result of the epochs finished so far, from OUT/epochs.jsonl (P0's log: seconds and
    the bytes P0 has sent), OUT/eval.jsonl and OUT/float64.json. Bytes between the servers
    and rounds per epoch are only in result.json, which a finished run writes."""
    model = resolve_model(a.model)
    logged = [json.loads(line) for line in (a.out / "epochs.jsonl").read_text().splitlines()]
    evals = {}
    if (a.out / "eval.jsonl").exists():
        evals = {int(r["epoch"]): r["test_accuracy"] for r in map(json.loads, (a.out / "eval.jsonl").read_text().splitlines())}
    cached = json.loads((a.out / "float64.json").read_text()) if (a.out / "float64.json").exists() else {}
    if isinstance(cached, list):  # written before the cache had a key
        cached = {"epochs": cached}
    sent_before = 0
    secure = []
    for r in logged:
        secure.append({"epoch": r["epoch"], "test_accuracy": evals.get(r["epoch"], r["test_accuracy"]),
                       "seconds": r["seconds"],  # a resumed run's counter starts again from 0
                       "p0_sent_bytes": r["p0_sent_bytes"] - (sent_before if r["p0_sent_bytes"] >= sent_before else 0)})
        sent_before = r["p0_sent_bytes"]
    key = cached.get("key", {})
    out = {
        "model": model.name, "output": model.output, "hyper": key.get("hyper"), "train_rows": key.get("train_rows"),
        "train_subset": f"first {key.get('train_rows')} of the 60,000 MNIST training images",
        "test_rows": key.get("test_rows"), "layout": "NCHW", "summary": model.summary(),
        "secure_test_evaluation": "float64 on the secure-trained weights (checkpoint shares added)" if evals else "secure inference",
        "float64": cached.get("epochs", []), "secure": secure, "partial": True,
        "note": "assembled from a run in progress: per epoch only P0's sent bytes (p0->p1 and p0->p2)",
        "transport": "three processes over CURVE ZeroMQ on one host",
    }
    text = json.dumps(out, indent=1)
    (a.out / "result_partial.json").write_text(text)
    if a.json:
        a.json.write_text(text)
    print(json.dumps({k: v for k, v in out.items() if k != "summary"}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a TOML config, a packaged model name or FILE.onnx")
    ap.add_argument("--output", choices=["softmax", "relu_output", "relu_grad"], help="override the output rule")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--momentum", type=float)
    ap.add_argument("--clip", type=float, help="clip each mean-gradient entry to [-clip, clip] (0: off)")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--train-limit", "--limit", dest="limit", type=int, help="first N training images only")
    ap.add_argument("--test-limit", type=int, help="first N test images only (default: all 10,000; 0: none)")
    ap.add_argument("--eval-batch", type=int, default=500, help="test images per secure evaluation batch")
    ap.add_argument("--secure-eval", action="store_true",
                    help="count test accuracy on shares after every epoch (the default unless --plain-eval)")
    ap.add_argument("--plain-eval", action="store_true",
                    help="evaluate each epoch's secure-trained weights (from the checkpoint shares) in float64 on the "
                         "test set instead of by secure inference (which costs as much as training on it)")
    ap.add_argument("--skip-float", action="store_true", help="no float64 reference run (a cached OUT/float64.json "
                                                                "of the same settings is reused anyway)")
    ap.add_argument("--resume", type=int, help="check that the run resumes after this epoch's checkpoint "
                                               "(a run always resumes after the last complete one)")
    ap.add_argument("--probe", type=int, help="time this many secure batches and exit")
    ap.add_argument("--eval-only", action="store_true", help="evaluate the checkpoints present and exit")
    ap.add_argument("--timeout-h", type=float, default=24.0)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--json", type=Path, help="also write the result here (docs/training/...)")
    ap.add_argument("--report-only", action="store_true",
                    help="do not train: assemble the result from a (possibly still running) run's OUT files")
    a = ap.parse_args()
    if a.report_only:
        report_partial(a)
        return
    model = resolve_model(a.model)
    if a.output:
        model = dataclasses.replace(model, output=a.output)
    hyper = Hyper.of(model, epochs=a.epochs, lr=a.lr, momentum=a.momentum, clip=a.clip, batch_size=a.batch_size,
                     seed=a.seed)
    if a.secure_eval and a.plain_eval:
        ap.error("--secure-eval and --plain-eval exclude each other")
    d = default_mnist_dir()
    tr, te = load_mnist(d, "train", limit=a.limit), load_mnist(d, "test", limit=a.test_limit or None)
    x, y = tr.images.reshape(len(tr.images), -1), onehot(tr.labels, 10)
    test = None if a.test_limit == 0 else (te.images.reshape(len(te.images), -1), onehot(te.labels, 10))
    test_full = test
    if a.plain_eval and test is not None:
        test = None  # the secure run evaluates nothing; the driver evaluates the checkpoints
    params0 = model.init_params(hyper.seed)
    a.out.mkdir(parents=True, exist_ok=True)

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
        if test_full is None:
            ap.error("--eval-only needs a test set (not --test-limit 0)")
        print(json.dumps(evaluate_checkpoints(model, a.out / "checkpoints", test_full), indent=1))
        return
    print("\n".join(model.summary()), flush=True)
    print(f"hyper {hyper.kwargs()}, train rows {len(x)}, test rows {0 if test is None else len(test[0])}", flush=True)

    float_path = a.out / "float64.json"
    plain_epochs: list[dict] = []
    if not a.skip_float:
        key = {"hyper": hyper.kwargs(), "train_rows": len(x), "test_rows": 0 if test_full is None else len(test_full[0])}
        cached = json.loads(float_path.read_text()) if float_path.exists() else {}
        if cached.get("key") == key:
            plain_epochs = cached["epochs"]
        else:
            t0 = time.perf_counter()
            plain = train_plain(model, x, y, params0, hyper, test_full,
                                on_epoch=lambda r: print("float64 epoch", r.epoch, r.test_accuracy, f"{r.seconds:.1f}s", flush=True))
            plain_epochs = _epochs_json(plain.epochs)
            float_path.write_text(json.dumps({"key": key, "epochs": plain_epochs}, indent=1))
            print("float64:", [r["test_accuracy"] for r in plain_epochs], f"{time.perf_counter() - t0:.1f}s", flush=True)

    start = last_complete_epoch(a.out / "checkpoints")
    if a.resume is not None and a.resume != start:
        raise SystemExit(f"--resume {a.resume}: the last complete checkpoint in {a.out / 'checkpoints'} is epoch {start}")
    if start:
        print(f"resuming after epoch {start}", flush=True)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(20.0):
            _evaluate_new_checkpoints(model, a.out, test_full)

    watcher = threading.Thread(target=watch, daemon=True) if a.plain_eval and test_full is not None else None
    with ZmqParties() as parties:
        print("party processes", parties.pids, flush=True)
        if watcher is not None:
            watcher.start()
        t0 = time.perf_counter()
        try:
            run = parties.run(secure_train_checkpointed, model, x, y, params0, hyper, test, str(a.out), a.eval_batch,
                              timeout=a.timeout_h * 3600.0)
        finally:
            stop.set()
        wall = time.perf_counter() - t0
    if watcher is not None:
        watcher.join()
    plain_eval = _evaluate_new_checkpoints(model, a.out, test_full) if a.plain_eval and test_full is not None else {}
    _, results, started = run.outputs[0]
    epochs = run.top("epoch")
    secure_now = [
        {**e, "bytes_between_servers": st.bytes_total, "gb_between_servers": st.bytes_total / 1e9,
         "bytes_per_link": st.bytes_per_link, "offline_bytes": st.offline_bytes, "rounds": st.rounds}
        for e, st in zip(_epochs_json(results), epochs)
    ]
    result_path = a.out / "result.json"
    earlier = json.loads(result_path.read_text())["secure"] if started and result_path.exists() else []
    secure = [e for e in earlier if e["epoch"] <= started] + secure_now
    for e in secure:
        if e["epoch"] in plain_eval:
            e["test_accuracy"] = plain_eval[e["epoch"]]
            e["test_accuracy_by"] = "the secure-trained weights (checkpoint shares added) evaluated in float64"
    shared = run.top("share_inputs")[0]
    out = {
        "model": model.name, "output": model.output, "hyper": hyper.kwargs(), "train_rows": len(x),
        "train_subset": (f"first {len(x)} of the 60,000 MNIST training images" if a.limit else "all 60,000"),
        "test_rows": 0 if test_full is None else len(test_full[0]),
        "secure_test_evaluation": "float64 on the secure-trained weights" if a.plain_eval else "secure inference",
        "layout": "NCHW", "summary": model.summary(),
        "float64": plain_epochs,
        "secure": secure,
        "secure_wall_s_this_run": wall,
        "secure_train_bytes": sum(e["bytes_between_servers"] for e in secure),
        "secure_train_rounds": sum(e["rounds"] for e in secure),
        "secure_bytes_per_epoch": sum(e["bytes_between_servers"] for e in secure) / max(1, len(secure)),
        "share_inputs_bytes": shared.bytes_total,
        "transport": "three processes over CURVE ZeroMQ on one host",
        "resumed_after_epoch": started,
    }
    result_path.write_text(json.dumps(out, indent=1))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "summary"}, indent=1))


if __name__ == "__main__":
    main()
