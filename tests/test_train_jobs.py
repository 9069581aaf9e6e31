"""`spp train` / `spp infer` over real server processes: upload MNIST rows, train, resume after
a server is killed mid-job, predict; the result follows the fixed-point emulation."""

import os
import signal
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from cluster_helpers import write_config as _write_config

from spp_runtime.cli.main import cli
from spp_runtime.client import Client
from spp_runtime.client.remote_store import upload
from spp_runtime.config import load
from spp_runtime.data.mnist import default_mnist_dir, load_mnist
from spp_runtime.data.readers import Dataset
from spp_runtime.launch import local as cl
from spp_runtime.nn import FloatOps, load_params
from spp_runtime.nn.runner import Hyper, train_plain
from spp_runtime.nn.train import onehot

pytestmark = pytest.mark.network
N_TRAIN, N_TEST = 384, 200


@pytest.fixture(scope="module")
def mnist_cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("traincluster")
    path = _write_config(d)
    cl.up(d / "run", path)
    mdir = default_mnist_dir()
    tr, te = load_mnist(mdir, "train", limit=N_TRAIN), load_mnist(mdir, "test", limit=N_TEST)
    data = {"train": (tr.images.reshape(N_TRAIN, -1), tr.labels), "test": (te.images.reshape(N_TEST, -1), te.labels)}
    try:
        with Client(load(path)) as c:
            for name, (x, y) in data.items():
                upload(c, Dataset(x, y.astype(float), "mem"), f"mnist-{name}", chunk_bytes=1 << 20)
        yield path, d, data
    finally:
        cl.down(d / "run")


def _spp(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _train_args(path, out, epochs):
    return ["train", "--config", path, "--model", "mnist_1layer", "--dataset", "mnist-train",
            "--test-dataset", "mnist-test", "--report-accuracy", "--epochs", epochs, "--batch-size", 64,
            "--out", out]


def test_train_resumes_after_a_killed_server_and_matches_the_emulation(mnist_cluster, tmp_path):
    path, d, data = mnist_cluster
    out = tmp_path / "model.npz"
    killer = threading.Thread(target=_kill_p1_after_first_checkpoint, args=(d, ))
    killer.start()
    first = _spp(*_train_args(path, out, 4))
    killer.join()
    assert first.exit_code != 0 and "p1" in first.output  # the job failed, naming the lost server
    assert not out.exists()
    cl.down(d / "run")
    cl.up(d / "run", path)  # restart: the checkpoints survive on disk

    again = _spp(*_train_args(path, out, 4))
    assert again.exit_code == 0, again.output
    assert "resumed after epoch" in again.output and "epoch 4:" in again.output
    model, params, meta = load_params(out)
    assert meta["epochs"] == 4

    (x, y), (xt, yt) = data["train"], data["test"]
    hyper = Hyper.of(model, epochs=4, batch_size=64)
    fixed = train_plain(model, x, onehot(y, 10), model.init_params(hyper.seed), hyper, fixed=True)
    for k in params:
        assert np.max(np.abs(params[k] - fixed.params[k])) <= 5e-3  # same run as one uninterrupted one

    pred = tmp_path / "pred.npy"
    res = _spp("infer", "--config", path, "--model", out, "--dataset", "mnist-test", "--out", pred)
    assert res.exit_code == 0, res.output
    scores = np.load(pred)
    z, _ = model.forward(FloatOps(), params, xt)
    want = int(np.sum(z.argmax(1) == yt))
    assert scores.shape == (N_TEST, 10) and np.allclose(scores.sum(1), 1, atol=2e-3)
    assert f"accuracy on mnist-test: {want}/{N_TEST}" in res.output or abs(int(np.sum(scores.argmax(1) == yt)) - want) <= 1
    assert want / N_TEST > 0.6  # it learned something in 4 small epochs


def _kill_p1_after_first_checkpoint(d):
    """Kill p1 once it has saved a checkpoint (after epoch 1, mid-job)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _saved_steps(d):
        time.sleep(0.05)
    time.sleep(0.2)
    pid = int((d / "run" / "p1.pid").read_text())
    os.kill(pid, signal.SIGKILL)


def _saved_steps(d):
    return [p for ck in d.rglob("train-mnist_1layer-*") if ck.is_dir() for p in ck.iterdir() if not p.name.startswith(".")]


def test_train_refuses_a_bad_model_or_dataset_with_clear_errors(mnist_cluster, tmp_path):
    path, _, _ = mnist_cluster
    res = _spp("train", "--config", path, "--model", "nope", "--dataset", "mnist-train", "--out", tmp_path / "m.npz")
    assert res.exit_code != 0 and "no model config 'nope'" in res.output
    res = _spp("train", "--config", path, "--model", "mnist_1layer", "--dataset", "missing", "--out", tmp_path / "m.npz")
    assert res.exit_code != 0 and "no dataset 'missing'" in res.output
    res = _spp("train", "--config", path, "--model", "mnist_1layer", "--dataset", "mnist-train", "--report-accuracy",
               "--out", tmp_path / "m.npz")
    assert res.exit_code != 0 and "--report-accuracy needs --test-dataset" in res.output
