"""Jobs side by side on real servers: independent jobs run at the same time, each in its own
session; with the slots taken, a job waits and its client is told its place; the results are
right either way."""

import threading
import time

import numpy as np
import pytest
import tomli_w

from spp_runtime.client import Client
from spp_runtime.api.access import INFER
from spp_runtime.client.remote_store import grant, upload
from spp_runtime.config import load
from spp_runtime.data.readers import Dataset
from spp_runtime.keys import generate
from spp_runtime.launch import local as cl
from spp_runtime.launch.files import free_ports
from spp_runtime.nn.model import model_from_dict
from spp_runtime.nn.ops import FloatOps

pytestmark = pytest.mark.network
MODEL = {"name": "mlp", "inputs": 64, "output": "softmax",
         "layers": [{"type": "dense", "units": 32}, {"type": "relu"}, {"type": "dense", "units": 4}]}


def _cluster(d, **limits):
    generate(d / "keys", ["p0", "p1", "p2", "a", "b", "c"])
    ports = free_ports(3)
    path = d / "cluster.toml"
    path.write_text(tomli_w.dumps({
        "keys": {"dir": "keys"}, "clients": {"allowed": ["a", "b", "c"], "default": "a"},
        "timeouts": {"recv_s": 30}, "limits": limits,
        "parties": {f"p{i}": {"host": "127.0.0.1", "port": ports[i]} for i in range(3)},
    }))
    cl.up(d / "run", path)
    cfg = load(path)
    rng = np.random.default_rng(2)
    with Client(cfg) as c:
        x = rng.uniform(0, 1, (1200, 64))
        upload(c, Dataset(x, rng.integers(0, 4, 1200).astype(float), "mem"), "big")
        upload(c, Dataset(x[:40], None, "mem"), "small")
        for other in ("b", "c"):  # a owns the data; b and c query it under a grant
            assert all(v is not None and not isinstance(v, Exception)
                       for v in grant(c, "small", other, [INFER]).values())
    return cfg, x


@pytest.fixture
def side_by_side(tmp_path):
    cfg, x = _cluster(tmp_path)
    try:
        yield cfg, x
    finally:
        cl.down(tmp_path / "run")


@pytest.fixture
def one_slot(tmp_path):
    cfg, x = _cluster(tmp_path, max_concurrent_jobs=1)
    try:
        yield cfg, x
    finally:
        cl.down(tmp_path / "run")


def _client(cfg, name):
    from spp_runtime.keys import load_pair

    return Client(cfg, load_pair(cfg.client_secret_key(name)))


def _weights():
    model = model_from_dict(MODEL)
    return model, {f"param.{k}": v for k, v in model.init_params(3).items()}


class _Training(threading.Thread):
    """A training job from client ``a`` on its own thread; ``started`` once a batch is done."""

    def __init__(self, cfg, epochs):
        super().__init__(daemon=True)
        self.cfg, self.epochs = cfg, epochs
        self.started, self.ended = threading.Event(), threading.Event()
        self.result = self.error = None
        self.progress: list[dict] = []

    def run(self):
        _, w = _weights()
        try:
            with _client(self.cfg, "a") as c:
                self.result = c.run("train", w, {"model": MODEL, "hyper": {
                    "lr": 0.05, "momentum": 0.9, "batch_size": 16, "epochs": self.epochs, "seed": 1}},
                    datasets={"x": "big:x", "y": "big:y"}, on_progress=self._on_progress)
        except Exception as exc:  # noqa: BLE001 - checked by the test
            self.error = exc
        finally:
            self.ended.set()
            self.started.set()

    def _on_progress(self, done, total, info):
        self.progress.append(dict(info))
        if done:
            self.started.set()


def _expected_scores(x):
    model, w = _weights()
    ops = FloatOps()
    params = {k[len("param."):]: v for k, v in w.items()}
    scores, _ = model.forward(ops, params, x, keep=False)
    return model.predict(ops, scores)


def test_independent_jobs_run_side_by_side_with_right_results(side_by_side):
    cfg, x = side_by_side
    _, w = _weights()
    want = _expected_scores(x[:40])
    training = _Training(cfg, epochs=3)
    training.start()
    assert training.started.wait(120) and training.error is None, training.error
    with _client(cfg, "b") as b, _client(cfg, "c") as watcher:
        for _ in range(3):  # each inference finishes while the training job still runs
            res = b.run("infer", w, {"model": MODEL}, datasets={"x": "small:x"})
            assert np.max(np.abs(res.outputs["scores"] - want)) < 2e-3
            assert not training.ended.is_set(), "the training job ended first: make it longer"
            assert len(watcher.status_of(0)["running"]) == 1  # the training job, still going
        # three inference jobs at once, from three clients: all run, none waits for the others
        results, threads, peak = {}, [], [0]

        def infer(name):
            with _client(cfg, name) as c:
                results[name] = c.run("infer", w, {"model": MODEL}, datasets={"x": "small:x"})

        for name in ("a", "b", "c"):
            threads.append(threading.Thread(target=infer, args=(name,)))
            threads[-1].start()
        while any(t.is_alive() for t in threads):
            peak[0] = max(peak[0], len(watcher.status_of(0)["running"]))
            time.sleep(0.05)
        assert set(results) == {"a", "b", "c"}
        for res in results.values():
            assert np.max(np.abs(res.outputs["scores"] - want)) < 2e-3
    assert peak[0] >= 3, peak  # the training job and at least two inference jobs at once
    training.join(600)
    assert training.error is None and np.all(np.isfinite(training.result.outputs["param.0.W"]))
    assert not any("queued" in p for p in training.progress)


def test_a_job_that_must_wait_is_told_its_place_and_runs_after(one_slot):
    cfg, x = one_slot
    _, w = _weights()
    want = _expected_scores(x[:40])
    training = _Training(cfg, epochs=3)
    training.start()
    assert training.started.wait(120) and training.error is None, training.error
    infos: dict[str, list[dict]] = {"b": [], "c": []}
    done: dict[str, float] = {}
    results = {}

    def infer(name):
        with _client(cfg, name) as c:
            results[name] = c.run("infer", w, {"model": MODEL}, datasets={"x": "small:x"},
                                  on_progress=lambda d, t, info: infos[name].append(dict(info)))
            done[name] = time.monotonic()

    tb = threading.Thread(target=infer, args=("b",))
    tb.start()
    deadline = time.monotonic() + 30
    while not infos["b"] and time.monotonic() < deadline:
        time.sleep(0.05)
    tc = threading.Thread(target=infer, args=("c",))
    tc.start()
    tb.join(600)
    tc.join(600)
    training.join(600)
    assert training.error is None
    assert infos["b"][0] == {"queued": 1, "running": 1}, infos["b"]
    places_c = [i["queued"] for i in infos["c"] if "queued" in i]
    assert places_c == [2, 1], infos["c"]  # moved up when b started
    assert done["b"] < done["c"]
    for res in results.values():
        assert np.max(np.abs(res.outputs["scores"] - want)) < 2e-3
