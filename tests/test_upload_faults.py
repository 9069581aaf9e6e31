"""Faults around uploads with real server processes: bad clients, killed clients and servers,
coordinators that vanish between prepare and commit, restarts. After each, the stored
datasets are checked against their checksums."""

import os
import signal
import subprocess
import sys
import time
import tomllib

import numpy as np
import pytest
import tomli_w
from cluster_helpers import write_config as _write_config
from storage_helpers import fingerprint

from spp_runtime.client import Client, ServerUnavailable
from spp_runtime.client.remote_store import RemoteStore, list_datasets, upload
from spp_runtime.client.upload_driver import UploadFailed
from spp_runtime.client.upload_prep import SharedUpload
from spp_runtime.config import load
from spp_runtime.data.readers import Dataset
from spp_runtime.keys import generate, load_pair
from spp_runtime.launch import local as cl
from spp_runtime.storage.errors import StorageError, UploadNotFound

pytestmark = pytest.mark.network
RECV_S = 2


def _cluster(tmp_path):
    path = _write_config(tmp_path, recv_s=RECV_S)
    generate(tmp_path / "keys", ["other"])  # a second allowed data owner
    raw = tomllib.loads(path.read_text())
    raw["clients"]["allowed"] = ["tester", "other"]
    path.write_text(tomli_w.dumps(raw))
    run = tmp_path / "run"
    cl.up(run, path)
    cfg = load(path)
    try:
        with Client(cfg) as c:
            upload(c, _data(np.random.default_rng(1), 30), "keep")
        yield cfg, run, path
    finally:
        cl.down(run)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Shared by the tests that leave every server running."""
    yield from _cluster(tmp_path_factory.mktemp("faults"))


@pytest.fixture
def own_cluster(tmp_path):
    """For a test that kills and restarts servers."""
    yield from _cluster(tmp_path)


def _data(rng, rows=40, cols=5):
    return Dataset(rng.normal(0, 3, (rows, cols)), rng.integers(0, 4, rows).astype(float), "mem")


def _intact(cfg, names=("keep",)):
    """Every named dataset verifies on both servers and is listed complete."""
    with Client(cfg) as c:
        views = {v.name: v for v in list_datasets(c)}
        for name in names:
            assert views[name].complete, views[name]
            for p in (0, 1):
                RemoteStore(c, p).show(name, verify=True)
        return views


def _state(cfg):
    return fingerprint(cfg.data_dir / "p0"), fingerprint(cfg.data_dir / "p1")


def _start_server(run, path, party):
    cfg = load(path)
    log = open(run / f"p{party}.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "spp_runtime", "server", "--party", str(party),
                             "--config", str(path)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (run / f"p{party}.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 15
    with Client(cfg) as c:
        while time.monotonic() < deadline:
            try:
                if c.status_of(party, timeout=1.0).get("ready"):
                    return proc
            except ServerUnavailable:
                pass
            time.sleep(0.2)
    raise AssertionError(f"p{party} did not come back")


def _kill(run, party):
    os.kill(int((run / f"p{party}.pid").read_text()), signal.SIGKILL)


def test_an_unknown_client_key_is_refused_and_nothing_changes(cluster):
    cfg, _run, _ = cluster
    before = _state(cfg)
    with Client(cfg, load_pair(cfg.client_secret_key("mallory"))) as c, pytest.raises(ServerUnavailable, match="refused our key"):
        upload(c, _data(np.random.default_rng(2)), "evil")
    assert _state(cfg) == before
    _intact(cfg)


def test_bad_requests_are_refused_and_the_servers_keep_serving(cluster):
    cfg, _run, _ = cluster
    with Client(cfg) as c:
        c.connect()
        with pytest.raises(UploadNotFound, match="no upload 00000000000000000000 in progress"):
            c.request(0, "upload.chunk", {"upload_id": "0" * 20, "index": 0, "sha256": {"x": "0" * 64}},
                      {"x": np.zeros((2, 5), np.uint64)})
        with pytest.raises(StorageError, match="field 'upload_id' must be a string"):
            c.request(1, "upload.prepare", {"sha256": {}})
        with pytest.raises(StorageError, match="upload metadata must be a mapping"):
            c.request(0, "upload.begin", {"meta": [1, 2]})
        with Client(cfg, load_pair(cfg.client_secret_key("other"))) as other:
            with pytest.raises(StorageError, match="dataset 'keep' belongs to tester; only its owner may delete it"):
                RemoteStore(other, 0).delete("keep")
            RemoteStore(other, 1).show("keep")  # any allowed client may see the metadata
        # a chunk whose bytes do not match the digest the owner sent
        up = SharedUpload(_data(np.random.default_rng(3)), name="tampered", owner="x", chunk_rows=10)
        s0 = RemoteStore(c, 0)
        s0.begin(up.meta)
        pair = next(up.chunks())
        with pytest.raises(StorageError, match="chunk 0 part x: checksum mismatch"):
            s0.write_chunk(up.meta.upload_id, 0, {k: v ^ np.uint64(1) for k, v in pair.p0.arrays.items()}, pair.p0.sha256)
        s0.abort(up.meta.upload_id)
        upload(c, _data(np.random.default_rng(4)), "after")
    _intact(cfg, ("keep", "after"))


CHILD = r"""
import sys, time
import numpy as np
from spp_runtime.client import Client
from spp_runtime.client.remote_store import upload
from spp_runtime.config import load
from spp_runtime.data.readers import Dataset
cfg = load(sys.argv[1])
rng = np.random.default_rng(0)
def slow(pair):
    print("chunk", pair.index, flush=True)
    time.sleep(0.3)
with Client(cfg) as c:
    upload(c, Dataset(rng.normal(size=(400, 5)), None, "mem"), "victim", chunk_bytes=400, on_chunk=slow)
"""


def test_a_client_killed_mid_upload_leaves_nothing_visible_and_a_retry_works(cluster, tmp_path):
    cfg, _run, path = cluster
    before = _state(cfg)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    for _ in range(3):
        assert child.stdout.readline().startswith("chunk")
    child.kill()
    child.wait()
    assert _state(cfg) == before
    assert "victim" not in _intact(cfg)
    assert len(list((cfg.data_dir / "p0" / "staging").iterdir())) == 1  # invisible, receiving
    from click.testing import CliRunner

    from spp_runtime.cli.main import cli

    r = CliRunner().invoke(cli, ["datasets", "list", "--config", str(path)])
    assert "p0: upload " in r.output and "of 'victim' is receiving (not visible yet)" in r.output, r.output
    time.sleep(RECV_S + 1.6)  # the abandoned upload goes stale after recv_s + heartbeat timeout
    with Client(cfg) as c:
        summary = upload(c, _data(np.random.default_rng(5), 400), "victim", chunk_bytes=4000)
    assert summary.rows == 400
    _intact(cfg, ("keep", "victim"))


def test_a_server_killed_mid_upload_fails_it_a_retry_works_and_restarts_keep_the_data(own_cluster):
    cfg, run, path = own_cluster
    before = _state(cfg)
    calls = []

    def kill_p1(pair):
        calls.append(pair.index)
        if pair.index == 1:
            _kill(run, 1)

    with Client(cfg) as c:
        with pytest.raises(UploadFailed, match="p1 did not answer chunk 2"):
            from spp_runtime.client.upload_driver import push_upload

            up = SharedUpload(_data(np.random.default_rng(6), 50), name="half", owner="x", chunk_rows=10)
            push_upload(up, [RemoteStore(c, 0), RemoteStore(c, 1)], max_attempts=1, on_chunk=kill_p1)
    assert not list((cfg.data_dir / "p0" / "staging").iterdir())  # p0 was told to abort
    _start_server(run, path, 1)
    assert _state(cfg) == before  # p1 discarded its receiving upload on restart
    with Client(cfg) as c:
        upload(c, _data(np.random.default_rng(7), 50), "half")
    _intact(cfg, ("keep", "half"))
    # a restart of the whole cluster keeps every dataset, byte for byte
    before = _state(cfg)
    cl.down(run)
    cl.up(run, path)
    assert _state(cfg) == before
    _intact(cfg, ("keep", "half"))
    _check_status(run, path)


def test_a_coordinator_that_vanishes_after_prepare_is_settled_by_the_servers(cluster):
    cfg, _run, _ = cluster
    with Client(cfg) as c:
        stores = [RemoteStore(c, 0), RemoteStore(c, 1)]
        ups = {}
        for name in ("p0-committed", "nobody-committed"):
            up = SharedUpload(_data(np.random.default_rng(8), 20), name=name, owner="x", chunk_rows=10)
            for p, s in enumerate(stores):
                s.begin(up.meta)
            for pair in up.chunks():
                for p, s in enumerate(stores):
                    ch = pair.for_party(p)
                    s.write_chunk(up.meta.upload_id, ch.index, ch.arrays, ch.sha256)
            for p, s in enumerate(stores):
                s.prepare(up.meta.upload_id, up.sha256(p))
            ups[name] = up
        stores[0].commit(ups["p0-committed"].meta.upload_id)  # ... and the coordinator dies
    deadline = time.monotonic() + 4 * RECV_S + 5
    while time.monotonic() < deadline:
        views = _intact(cfg)
        staged = [e for p in ("p0", "p1") for e in (cfg.data_dir / p / "staging").iterdir()]
        if views.get("p0-committed") and views["p0-committed"].complete and not staged:
            break
        time.sleep(0.5)
    views = _intact(cfg, ("keep", "p0-committed"))
    assert "nobody-committed" not in views and not staged


def _check_status(run, path):
    from click.testing import CliRunner

    from spp_runtime.cli.main import cli

    for _ in range(30):  # the record is refreshed every second
        r = CliRunner().invoke(cli, ["status", "--party", "2", "--config", str(path), "--via", "file"])
        if r.exit_code == 0:
            break
        time.sleep(0.2)
    assert r.exit_code == 0 and "p2: OK" in r.output, r.output
    _kill(run, 2)
    time.sleep(2.0)  # heartbeat timeout: p0 notices p2 is gone
    r = CliRunner().invoke(cli, ["status", "--party", "0", "--config", str(path)])
    assert r.exit_code == 1 and "NOT READY" in r.output and "p2" in r.output, r.output
    r = CliRunner().invoke(cli, ["status", "--party", "2", "--config", str(path), "--timeout", "1"])
    assert r.exit_code == 1 and "p2: DOWN" in r.output, r.output
    r = CliRunner().invoke(cli, ["status", "--party", "2", "--config", str(path), "--via", "file"])
    assert r.exit_code == 1 and "p2: DOWN" in r.output, r.output
