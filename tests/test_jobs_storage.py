"""Jobs on stored datasets, progress reports and checkpoints, over real server processes."""

import shutil

import numpy as np
import pytest

from spp_runtime.client import Client, JobFailed
from spp_runtime.client.remote_store import RemoteStore, upload
from spp_runtime.client.upload_driver import push_upload
from spp_runtime.client.upload_prep import SharedUpload
from spp_runtime.data.readers import Dataset
from spp_runtime.encoding import FixedPoint

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def cluster(cluster):
    """The module's cluster (conftest) with the datasets these tests read: ``train`` (x and
    labels) and ``bits12`` (uploaded with 12 fractional bits); yields (config, x)."""
    cfg, _ = cluster
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (40, 6))
    with Client(cfg) as c:
        upload(c, Dataset(x, rng.integers(0, 3, 40).astype(float), "mem"), "train", chunk_bytes=800)
        shared = SharedUpload(Dataset(x, None, "mem"), name="bits12", owner="x", fxp=FixedPoint(12))
        push_upload(shared, [RemoteStore(c, 0), RemoteStore(c, 1)])
    return cfg, x


def test_a_job_reads_a_stored_dataset_and_reports_progress(cluster, client, rng):
    _cfg, x = cluster
    w, b = rng.normal(0, 1, (6, 3)), rng.normal(0, 1, 3)
    seen = []
    res = client.run("dense_scores", {"w": w, "b": b}, {"batch": 16}, datasets={"x": "train:x"},
                     on_progress=lambda done, total, info: seen.append((done, total, info["batch"])))
    np.testing.assert_allclose(res.outputs["scores"], x @ w + b, atol=1e-3)
    assert seen[-1] == (40, 40, 2) and all(t == 40 for _, t, _ in seen)


@pytest.mark.parametrize("ref, problem", [
    ("nope:x", "no dataset 'nope' on p"),
    ("train:z", "has no part 'z'"),
    ("bits12:x", "uploaded with 12 fractional bits; the servers use 16"),
])
def test_bad_stored_inputs_are_refused_on_all_three_servers(cluster, client, ref, problem):
    with pytest.raises(JobFailed) as info:
        client.run("dense_scores", {"w": np.ones((6, 3)), "b": np.ones(3)}, datasets={"x": ref}, timeout=20)
    err = info.value
    assert set(err.errors) == {"p0", "p1", "p2"} and err.root == "p0"
    assert all(problem in m for m in err.errors.values()), err.errors
    assert client.run("mul", {"x": np.ones(2), "y": np.ones(2)}).outputs["out"].tolist() == [1, 1]


def test_shape_checks_use_the_stored_shape(cluster, client):
    with pytest.raises(JobFailed, match=r"x \(n, d\), w \(d, k\)"):
        client.run("dense_scores", {"w": np.ones((5, 3)), "b": np.ones(3)}, datasets={"x": "train:x"}, timeout=20)


def test_checkpoints_carry_state_from_one_job_to_the_next(cluster, client):
    cfg, x = cluster
    sums = x.sum(axis=0)
    r1 = client.run("column_sums", datasets={"x": "train:x"}, checkpoint="sums-a")
    r2 = client.run("column_sums", datasets={"x": "train:x"}, checkpoint="sums-a")
    np.testing.assert_allclose(r1.outputs["acc"], sums, atol=1e-3)
    np.testing.assert_allclose(r2.outputs["acc"], 2 * sums, atol=1e-3)
    fresh = client.run("column_sums", datasets={"x": "train:x"}, checkpoint="sums-b")
    np.testing.assert_allclose(fresh.outputs["acc"], sums, atol=1e-3)
    # p1 lost its newest step (a crash before it saved): both resume from the step they share
    p1_steps = sorted((cfg.data_dir / "p1" / "checkpoints" / "tester" / "sums-a").iterdir())  # per client
    shutil.rmtree(p1_steps[-1])
    r3 = client.run("column_sums", datasets={"x": "train:x"}, checkpoint="sums-a")
    np.testing.assert_allclose(r3.outputs["acc"], 2 * sums, atol=1e-3)
    assert not list((cfg.data_dir).glob("p2"))  # the helper stores nothing
