"""The prediction service over real ``spp server`` processes with three client keys: ``owner``
(uploads data, trains and stores a model), ``analyst`` (queries it when granted) and
``other`` (never granted).

A query needs the model owner's ``predict`` grant and the training data owner's ``infer``
grant, on both primaries; it stops at revoke; budgets are counted durably on both primaries
and survive a restart; the scores match the float64 forward of the stored model; the reply
carries the scores and nothing else; refusals are clear and fast.
"""

import time

import numpy as np
import pytest
from click.testing import CliRunner

from spp_runtime.cli.main import cli
from spp_runtime.client import Client, JobFailed
from spp_runtime.client.remote_store import RemoteStore, list_grants, upload
from spp_runtime.config import load
from spp_runtime.data.readers import Dataset
from spp_runtime.keys import load_pair
from spp_runtime.launch import local
from spp_runtime.launch.files import cluster_doc, free_ports, new_keys, write_config
from spp_runtime.nn.model import model_from_dict
from spp_runtime.nn.ops import FloatOps
from spp_runtime.nn.programs import PARAM
from spp_runtime.nn.runner import Hyper

pytestmark = pytest.mark.network
FAST_S = 1.0
ROWS, COLS, CLASSES = 32, 6, 3
MODEL = model_from_dict({"name": "small", "inputs": COLS, "output": "softmax", "layers": [
    {"type": "dense", "units": 8}, {"type": "relu"}, {"type": "dense", "units": CLASSES}]})
TOL = 2e-3  # fixed point, 16 fractional bits, two layers


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("predict")
    new_keys(d / "keys", ["owner", "analyst", "other"])
    doc = cluster_doc(free_ports(3), clients=["owner", "analyst", "other"],
                      timeouts={"recv_s": 10, "connect_s": 5, "job_s": 60, "heartbeat_s": 0.3,
                                "heartbeat_timeout_s": 1.5})
    path = write_config(d / "cluster.toml", doc)
    cfg = load(path)
    local.up(d / "run", path)
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (ROWS, COLS))
    y = rng.integers(0, CLASSES, ROWS).astype(float)
    try:
        with Client(cfg, _key(cfg, "owner")) as c:
            upload(c, Dataset(x, y, "mem"), "owner-data")
            hyper = Hyper.of(MODEL, epochs=1, batch_size=8, lr=0.1, momentum=0.0, seed=2)
            init = {f"{PARAM}{k}": v for k, v in MODEL.init_params(hyper.seed).items()}
            params = {"model": MODEL.to_dict(), "hyper": hyper.kwargs(), "report_accuracy": False}
            c.run("train", init, params, datasets={"x": "owner-data:x", "y": "owner-data:y"}, save_as="m1",
                  timeout=60)
        yield cfg, d, path
    finally:
        local.down(d / "run")


def _key(cfg, name):
    return load_pair(cfg.client_secret_key(name))


def _client(cluster, name):
    c = Client(cluster[0], _key(cluster[0], name))
    c.connect()
    return c


def _plain_model(cfg, name="m1"):
    """The stored model reconstructed from both servers' files (test only, read directly)."""
    out = {}
    for t, v in MODEL.init_params(0).items():
        s = [np.fromfile(cfg.store_dir(p) / "models" / name / f"{t}.u64", dtype="<u8") for p in (0, 1)]
        out[t] = cfg.fxp.decode(s[0] + s[1]).reshape(v.shape)
    return out


def _query(client, rows, model="m1"):
    return client.run("predict", {"x": rows}, {}, model=model, timeout=30)


def _refused(client, rows, model="m1", **kw) -> JobFailed:
    t0 = time.perf_counter()
    with pytest.raises(JobFailed) as info:
        client.run("predict", {"x": rows}, {}, model=model, timeout=20, **kw)
    elapsed = time.perf_counter() - t0
    assert elapsed < FAST_S, f"refusal took {elapsed:.2f} s"
    assert set(info.value.errors) == {"p0", "p1", "p2"}, info.value.errors
    return info.value


def _owner_grants(cluster, *, predict=None, infer=None, budget=None, parties=(0, 1)):
    with _client(cluster, "owner") as owner:
        for p in parties:
            store = RemoteStore(owner, p)
            if predict is True:
                store.grant("m1", "analyst", ["predict"], kind="model", budget=budget)
            elif predict is False:
                store.revoke("m1", "analyst", kind="model")
            if infer is True:
                store.grant("owner-data", "analyst", ["infer"])
            elif infer is False:
                store.revoke("owner-data", "analyst")


def test_scores_match_the_float64_forward_and_the_reply_holds_only_scores(cluster):
    cfg = cluster[0]
    rows = np.random.default_rng(1).normal(0, 1, (5, COLS))
    want, _ = MODEL.forward(FloatOps(), _plain_model(cfg), rows, keep=False)
    with _client(cluster, "owner") as owner:  # the owner queries its own model freely
        first = _query(owner, rows)
        again = _query(owner, rows[:1])
        probs = owner.run("predict", {"x": rows}, {"output": "model"}, model="m1", timeout=30)
    assert np.abs(first.outputs["scores"] - want).max() < TOL
    assert np.abs(again.outputs["scores"] - want[:1]).max() < TOL
    assert np.abs(probs.outputs["scores"] - FloatOps().softmax(want)).max() < 0.02
    for res in (first, again):
        assert set(res.outputs) == {"scores"} and set(res.ring_outputs) == {"scores"}
        assert res.outputs["scores"].shape == (len(res.outputs["scores"]), CLASSES)
    # the weights were opened once (first query) and reused: the second opens only its input
    (op,) = again.top("weights.open")
    assert op.rounds == 1 and op.bytes_per_link["p0->p1"] == 32
    for p in (0, 1):
        assert (cfg.store_dir(p) / "models" / "m1" / "opening" / "manifest.json").exists()


def test_predict_needs_predict_and_infer_grants_on_both_primaries(cluster):
    rows = np.zeros((2, COLS))
    with _client(cluster, "analyst") as analyst:
        err = _refused(analyst, rows)
        assert "model 'm1'" in str(err) and "predict" in str(err) and "analyst" in str(err)
        _owner_grants(cluster, predict=True)
        err = _refused(analyst, rows)  # the training data's owner has not granted infer
        assert "owner-data" in str(err) and "infer" in str(err)
        _owner_grants(cluster, infer=True, parties=(0,))
        err = _refused(analyst, rows)  # p1 does not hold it
        assert "p1" in str(err) and "infer" in str(err)
        _owner_grants(cluster, infer=True, parties=(1,))
        assert _query(analyst, rows).outputs["scores"].shape == (2, CLASSES)
        _owner_grants(cluster, infer=False, parties=(1,))  # revoke the data owner's infer grant
        err = _refused(analyst, rows)
        assert "owner-data" in str(err) and "infer" in str(err)
        _owner_grants(cluster, infer=True)
        _owner_grants(cluster, predict=False, parties=(0,))
        err = _refused(analyst, rows)
        assert "predict" in str(err) and "p0" in str(err)
    with _client(cluster, "other") as other:  # never granted anything
        err = _refused(other, rows)
        assert "predict" in str(err)
    _owner_grants(cluster, predict=False, infer=False)


def test_other_programs_and_other_inputs_cannot_use_the_model(cluster):
    with _client(cluster, "owner") as owner:
        t0 = time.perf_counter()
        with pytest.raises(JobFailed, match="does not run a stored model"):
            owner.run("mul", {"x": np.ones(2), "y": np.ones(2)}, model="m1", timeout=20)
        assert time.perf_counter() - t0 < FAST_S
        with pytest.raises(JobFailed, match="takes rows of 6 features"):
            _query(owner, np.zeros((1, COLS + 1)))
        with pytest.raises(JobFailed, match="no model 'nope'"):
            _query(owner, np.zeros((1, COLS)), model="nope")
    with _client(cluster, "analyst") as analyst:  # the owner's dataset as query rows: own data only
        _owner_grants(cluster, predict=True, infer=True)
        with pytest.raises(JobFailed, match="own data"):
            analyst.run("predict", None, {}, model="m1", datasets={"x": "owner-data:x"}, timeout=20)
        _owner_grants(cluster, predict=False, infer=False)


def test_the_budget_is_enforced_on_both_primaries_and_survives_a_restart(cluster):
    cfg, d, path = cluster
    rows = np.zeros((2, COLS))
    _owner_grants(cluster, predict=True, infer=True, budget=3)
    with _client(cluster, "analyst") as analyst:
        _query(analyst, rows)  # 2 of 3
        err = _refused(analyst, rows)
        assert "used 2 of its 3 rows" in str(err) and "1 left" in str(err)
        _query(analyst, rows[:1])  # 3 of 3
        _refused(analyst, rows[:1])
    with _client(cluster, "owner") as owner:
        shown = [g for g in list_grants(owner, "m1", kind="model") if g.grantee == "analyst"]
        assert shown and shown[0].budget == {"p0": "3/3", "p1": "3/3"}
    local.down(d / "run")
    local.up(d / "run", path)
    with _client(cluster, "analyst") as analyst:
        err = _refused(analyst, rows[:1])
        assert "used 3 of its 3 rows" in str(err)
    _owner_grants(cluster, predict=True, budget=10, parties=(0,))  # a fresh budget on p0 only
    with _client(cluster, "analyst") as analyst:
        err = _refused(analyst, rows[:1])
        assert "p1" in str(err) and "used 3 of its 3" in str(err)
        _owner_grants(cluster, predict=True, budget=10, parties=(1,))
        assert _query(analyst, rows).outputs["scores"].shape == (2, CLASSES)
    _owner_grants(cluster, predict=False, infer=False)


def test_spp_predict_and_grant_budget_commands(cluster, tmp_path):
    cfg, d, path = cluster
    runner = CliRunner()

    def spp(*args, key):
        return runner.invoke(cli, [*args, "--config", str(path), "--key", key], catch_exceptions=False)

    res = spp("grant", "--model", "m1", "--to", "analyst", "--allow", "predict", "--budget", "4", key="owner")
    assert res.exit_code == 0, res.output
    assert "budget 4 rows" in res.output
    assert spp("grant", "--dataset", "owner-data", "--to", "analyst", "--allow", "infer", key="owner").exit_code == 0
    rows = np.random.default_rng(3).normal(0, 1, (3, COLS))
    np.save(tmp_path / "q.npy", rows)
    res = spp("predict", "--model", "m1", "--input", str(tmp_path / "q.npy"), "--out", str(tmp_path / "s.npy"),
              key="analyst")
    assert res.exit_code == 0, res.output
    want, _ = MODEL.forward(FloatOps(), _plain_model(cfg), rows, keep=False)
    assert np.abs(np.load(tmp_path / "s.npy") - want).max() < TOL
    res = spp("predict", "--model", "m1", "--input", str(tmp_path / "q.npy"), "--out", str(tmp_path / "t.npy"),
              "--probabilities", key="analyst")
    assert res.exit_code != 0 and "used 3 of its 4 rows" in res.output
    assert not (tmp_path / "t.npy").exists()
    res = spp("grants", "--model", "m1", key="owner")
    assert "3/4" in res.output
    res = spp("grant", "--dataset", "owner-data", "--to", "analyst", "--allow", "infer", "--budget", "3", key="owner")
    assert res.exit_code != 0 and "--model" in res.output
    _owner_grants(cluster, predict=False, infer=False)
