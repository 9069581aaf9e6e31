"""``spp bench --training``: the per-batch training profile, with exact byte and round counts
for both opening modes, and the CLI writing one record per model and mode."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers import recorder

from spp_runtime.bench.lan import net_shape
from spp_runtime.bench.training import (
    format_training,
    training_data,
    training_program,
    training_record,
)
from spp_runtime.cli.main import cli
from spp_runtime.engine.local import run_local
from spp_runtime.nn import model_from_dict
from spp_runtime.nn.layers import Dense
from spp_runtime.nn.runner import Hyper

TINY = {
    "name": "tiny", "inputs": 20, "output": "softmax",
    "layers": [{"type": "dense", "units": 8}, {"type": "relu"}, {"type": "dense", "units": 3}],
    "train": {"lr": 0.05, "momentum": 0.9, "batch_size": 4, "epochs": 1, "seed": 3},
}
BATCHES = 3


def _profile(reuse: bool) -> dict:
    model = model_from_dict(TINY)
    hyper = Hyper.of(model)
    x, y, data = training_data(model, BATCHES * hyper.batch_size)
    run = run_local(lambda ctx: training_program(ctx, model, x, y, model.init_params(1), hyper, reuse), timeout=120)
    return training_record(run.stats, model, BATCHES, hyper.batch_size, reuse, "tiny", data, 0.0)


def _saved_bytes(b: int, dense: list[Dense]) -> int:
    """Bytes per step that opening each matrix once saves: per dense layer d->k with an input
    gradient 16Bd + 8Bk + 16dk, the first (no input gradient) 16Bd - 8Bk."""
    total = 0
    for i, layer in enumerate(dense):
        d, k = layer.n_in, layer.n_out
        total += 16 * b * d - 8 * b * k if i == 0 else 16 * b * d + 8 * b * k + 16 * d * k
    return total


def test_training_profile_counts_the_saving_exactly():
    model = model_from_dict(TINY)
    once, per_product = _profile(True), _profile(False)
    assert once["data"] == "synthetic" and once["openings"] == "once_per_step"
    assert per_product["openings"] == "per_product"
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    assert per_product["bytes_per_batch"] - once["bytes_per_batch"] == _saved_bytes(4, dense)
    # every backward product after the first layer's takes its round from dy's one opening
    assert per_product["rounds_per_batch"] - once["rounds_per_batch"] == len(dense) - 1
    for rec in (once, per_product):
        assert rec["bytes_per_batch"] * BATCHES == rec["bytes"]
        assert sum(r["bytes"] for r in rec["protocols"]) == rec["bytes"]  # the breakdown is complete
        assert sum(r["calls"] for r in rec["protocols"]) <= rec["protocol_calls"]
        assert "share_input" not in {r["name"] for r in rec["protocols"]}  # sharing happens before training
    names = {r["name"]: r for r in once["protocols"]}
    assert names["open_operands"]["calls"] == BATCHES * 2 * len(dense)  # X and W forward, dy backward
    assert names["masked_matmul"]["calls"] == BATCHES * (3 * len(dense) - 1)
    assert names["masked_matmul"]["rounds"] == 0
    assert "matmul" not in names and "matmul" in {r["name"] for r in per_product["protocols"]}
    for net in ("lan-1g", "paper-lan"):  # the cost model: rounds x one-way delay + transfer + compute
        shape = net_shape(net)
        assert shape is not None
        for rec in (once, per_product):
            p = rec["predicted"][net]
            assert p["latency_s"] == pytest.approx(rec["rounds_per_batch"] * shape.one_way_delay_ms / 1000)
            assert p["compute_s"] == pytest.approx(rec["seconds_per_batch"])
            assert p["seconds_per_epoch"] == pytest.approx(p["seconds_per_batch"] * 15000)  # 60000 rows of 4
    # on a symmetric link P1's download (P0's openings + the helper's dealing) is the bottleneck
    assert once["predicted"]["lan-1g"]["transfer_s"] < per_product["predicted"]["lan-1g"]["transfer_s"]
    text = format_training(once)
    assert text.startswith("tiny (once_per_step): 3 batches of 4") and "open_operands" in text


def test_cli_writes_one_record_per_model_and_mode(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        'name = "tiny"\ninputs = 20\nlayers = [{ type = "dense", units = 8 }, { type = "relu" }, '
        '{ type = "dense", units = 3 }]\n[train]\nbatch_size = 4\n'
    )
    out = tmp_path / "train.json"
    res = CliRunner().invoke(cli, ["bench", "--training", str(cfg), "--batches", "2", "--openings", "both",
                                   "--json", str(out)])
    assert res.exit_code == 0, res.output
    recs = json.loads(out.read_text())["training"]
    assert [(r["model"], r["openings"], r["batches"]) for r in recs] == [
        ("tiny", "per_product", 2), ("tiny", "once_per_step", 2)
    ]
    for r in recs:
        assert r["seconds_per_batch"] > 0 and r["rounds_per_batch"] > 0 and r["protocols"]
    assert recs[0]["bytes_per_batch"] - recs[1]["bytes_per_batch"] == _saved_bytes(4, [Dense(20, 8), Dense(8, 3)])
    bad = CliRunner().invoke(cli, ["bench", "--training", "no_such_model"])
    assert bad.exit_code != 0 and "no model config" in bad.output


def test_the_helper_receives_nothing_while_training_so_it_deals_ahead():
    """P2 gets no online message in a training step (only the session's seed exchange), so it
    never waits for P0 or P1: it computes and sends the next products' shares while they work
    on this one, as far ahead as the transport's flow-control window lets it."""
    model = model_from_dict(TINY)
    hyper = Hyper.of(model)
    x, y, _ = training_data(model, BATCHES * hyper.batch_size)
    wrap, recs = recorder()
    run_local(lambda ctx: training_program(ctx, model, x, y, model.init_params(1), hyper, True),
              wrap_transport=wrap, timeout=120)
    views = {r.party: r for r in recs}
    assert {p: len(m) for p, m in views[2].received_messages.items()} == {0: 1, 1: 1}  # the seeds
    dealt = views[1].received_messages[2]
    assert len(dealt) > 1 + BATCHES * 5  # a seed, then per step the products' and masks' shares
