"""Long secure runs: per-epoch checkpoints of each primary's shares, and resuming from them."""

from __future__ import annotations

import json

import numpy as np

from spp_runtime.engine.local import run_local
from spp_runtime.nn import load_model_config
from spp_runtime.nn.checkpointed import (
    checkpoint_weights,
    last_complete_epoch,
    secure_train_checkpointed,
)
from spp_runtime.nn.runner import Hyper, train_plain
from spp_runtime.nn.train import onehot

CONFIGS = "spp_runtime/configs/models"


def _run(model, x, y, p0, hyper, out):
    run = run_local(lambda ctx: secure_train_checkpointed(ctx, model, x, y, p0, hyper, None, str(out)), timeout=300.0)
    return run.outputs[0], run


def test_a_stopped_run_resumes_after_its_last_checkpoint(rng, tmp_path):
    model = load_model_config(f"{CONFIGS}/mnist_d.toml")
    x = rng.uniform(0, 1, (32, 784))
    y = onehot(rng.integers(0, 10, 32), 10)
    p0 = model.init_params(5)
    p0.update({k: np.full(v.shape, 0.05) for k, v in p0.items() if k.endswith(".b")})  # no ReLU ties at 0
    two = Hyper.of(model, epochs=2, batch_size=16, lr=0.05)
    (params_a, results_a, start_a), run_a = _run(model, x, y, p0, two, tmp_path / "a")
    assert start_a == 0 and [r.epoch for r in results_a] == [1, 2] and len(run_a.top("epoch")) == 2
    ep = run_a.top("epoch")[0]
    assert ep.bytes_total > 0 and ep.rounds > 0 and ep.bytes_per_link["p0->p1"] == ep.bytes_per_link["p1->p0"]
    assert last_complete_epoch(tmp_path / "a" / "checkpoints") == 2
    assert [json.loads(line)["epoch"] for line in (tmp_path / "a" / "epochs.jsonl").read_text().splitlines()] == [1, 2]
    final_a = checkpoint_weights(tmp_path / "a" / "checkpoints", 2)
    assert all(np.max(np.abs(final_a[k] - params_a[k])) <= 2**-16 for k in params_a)

    # the same training stopped after epoch 1 and restarted (fresh PRG seeds, same shares)
    _run(model, x, y, p0, Hyper.of(model, epochs=1, batch_size=16, lr=0.05), tmp_path / "b")
    (tmp_path / "b" / "checkpoints" / "epoch002_p0.npz").write_bytes(b"")  # an unfinished epoch is ignored
    assert last_complete_epoch(tmp_path / "b" / "checkpoints") == 1
    (params_b, results_b, start_b), _ = _run(model, x, y, p0, two, tmp_path / "b")
    assert start_b == 1 and [r.epoch for r in results_b] == [2]
    fixed = train_plain(model, x, y, p0, two, fixed=True)
    for k in p0:  # relative distances of the whole update (see test_conv_nn)
        moved = np.linalg.norm(fixed.params[k] - p0[k])
        assert moved > 1e-3
        assert np.linalg.norm(params_b[k] - fixed.params[k]) <= 0.2 * moved, k
        assert np.linalg.norm(params_b[k] - params_a[k]) <= 0.2 * moved, k
