"""Hostile requests and dead servers, against real ``spp server`` processes (issue 14).

* every crafted request of the issue is refused with an error naming the limit it broke, the
  three servers keep running (same pids) and a normal job succeeds afterwards;
* a dead (kill -9) or frozen (SIGSTOP) primary makes every client command fail within the
  heartbeat timeout plus a few seconds, naming it; ``datasets list`` and ``cluster status``
  answer from the live servers; an upload cut off by a dead peer frees its name at once;
* a client presenting a server's key is refused at once, with an accurate message;
* labels recorded in a dataset's manifest are checked against the model's classes.
"""

import os
import signal
import socket
import struct
import threading
import time
from dataclasses import replace
from pathlib import Path

import msgpack
import numpy as np
import pytest
import tomli_w
import zmq
from click.testing import CliRunner

from spp_runtime.api import messages
from spp_runtime.cli.main import cli
from spp_runtime.client import Client, JobFailed, ServerUnavailable
from spp_runtime.client.remote_store import RemoteStore, list_datasets, upload
from spp_runtime.client.upload_driver import UploadFailed, push_upload
from spp_runtime.client.upload_prep import SharedUpload
from spp_runtime.config import load
from spp_runtime.data.readers import Dataset
from spp_runtime.keys import generate, load_pair, load_public
from spp_runtime.launch import local as cl
from spp_runtime.launch.files import free_ports
from spp_runtime.nn.model import model_from_dict
from spp_runtime.transport.zmq_common import ZmqOptions
from spp_runtime.transport.zmq_transport import PeerAddress, ZmqTransport

pytestmark = pytest.mark.network
TARGET_S = 5.0  # fail-fast target with the default heartbeat timeout (2 s)


def _config(d, **limits):
    generate(d / "keys", ["p0", "p1", "p2", "tester", "other"])
    ports = free_ports(3)
    raw = {  # default timeouts (heartbeat 0.5 s, timeout 2 s) except a short recv_s
        "keys": {"dir": "keys"},
        "clients": {"allowed": ["tester", "other"], "default": "tester"},
        "timeouts": {"recv_s": 10},
        "limits": limits,
        "parties": {f"p{i}": {"host": "127.0.0.1", "port": ports[i]} for i in range(3)},
    }
    path = d / "cluster.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def _pids(run):
    return [int((run / f"p{i}.pid").read_text()) for i in range(3)]


def _rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _raw(cfg, party, keys):
    """A bare CURVE DEALER to one server with key pair ``keys``."""
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.curve_publickey, s.curve_secretkey = keys.public, keys.secret
    s.curve_serverkey = load_public(cfg.parties[party].public_key)
    s.linger = 0
    s.rcvtimeo = 10_000
    s.connect(cfg.parties[party].connect_url)
    return s


def _reply(sock):
    return messages.decode_reply(sock.recv_multipart(), server="p?", max_bytes=1 << 30)


def _dataset(rng, rows=40, features=4, classes=3):
    return Dataset(rng.normal(0, 1, (rows, features)), rng.integers(0, classes, rows).astype(float), "mem")


def _model(inputs=4, units=3, **extra):
    return {"name": "m", "inputs": inputs, "layers": [{"type": "dense", "units": units}], **extra}


def _hyper(**over):
    return {"lr": 0.1, "momentum": 0.0, "batch_size": 8, "epochs": 1, "seed": 1, **over}


def _train_inputs(model_cfg, seed=1):
    model = model_from_dict(model_cfg)
    return {f"param.{k}": v for k, v in model.init_params(seed).items()}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("hardening")
    path = _config(d)
    run = d / "run"
    cl.up(run, path)
    try:
        yield load(path), run
    finally:
        cl.down(run)


@pytest.fixture
def client(cluster):
    with Client(cluster[0]) as c:
        yield c


# -- crafted requests --------------------------------------------------------------------------------
def test_crafted_jobs_are_refused_naming_the_limit_and_a_normal_job_runs_after(cluster, client, rng):
    _, run = cluster
    pids = _pids(run)
    huge = _model(inputs=10**7, units=10**7)
    cases = [
        # (N, 1) * (1, N): ~1 MiB sent, N^2 outputs that the helper would deal a triple for
        ("mul", {"x": np.zeros((65536, 1)), "y": np.zeros((1, 65536))}, {},
         r"would compute a tensor of 4294967296 elements .*limits.max_job_elements is 4194304"),
        # inputs = units = 10^7: the pre-flight check computes the weights' shapes, allocates none
        ("infer", {"x": np.zeros((1, 10**7))}, {"model": huge},
         r"model m needs weights \{'0.W': \(10000000, 10000000\), '0.b': \(10000000,\)\}, got \{\}"),
        ("infer", {"x": np.zeros((2, 4))}, {"model": _model(inputs=float("inf"))}, "inputs must be an integer"),
        ("infer", {"x": np.zeros((2, 4))}, {"model": _model(units=float("nan"))}, r"units must be an integer"),
        ("infer", {"x": np.zeros((2, 4))}, {"model": _model(units=-3)}, r"units must be an integer in \[1, "),
        ("infer", {"x": np.zeros((2, 4)), **_train_inputs(_model())}, {"model": _model(), "batch": float("inf")},
         "batch must be a positive integer"),
        ("infer", {"x": np.zeros((2, 4))}, {"model": [1, 2]}, "params.model must be a model config"),
    ]
    x, y = np.zeros((10, 4)), np.zeros(10)
    for hyper, message in [
        (_hyper(lr=float("nan")), "lr must be a finite number"),
        (_hyper(lr=-0.1), "lr must be a finite number"),
        (_hyper(lr=0.0), "lr must be a finite number"),
        (_hyper(lr=float("inf")), "lr must be a finite number"),
        (_hyper(batch_size=0), "batch_size must be an integer"),
        (_hyper(batch_size=-8), "batch_size must be an integer"),
        (_hyper(batch_size=float("nan")), "batch_size must be an integer"),
        (_hyper(epochs=0), "epochs must be an integer"),
        (_hyper(epochs=float("inf")), "epochs must be an integer"),
        (_hyper(momentum=float("nan")), "momentum must be a finite number"),
        ({"lr": 0.1}, "params.hyper must map exactly lr, momentum, batch_size, epochs, seed"),
    ]:
        cases.append(("train", {"x": x, "y": y, **_train_inputs(_model())}, {"model": _model(), "hyper": hyper},
                      message))
    # a batch of 10^4 rows at a layer of 1000 units is 10^7 elements: refused before it runs
    wide = _model(units=1000)
    cases.append(("train", {"x": np.zeros((10**4, 4)), "y": np.zeros(10**4), **_train_inputs(wide)},
                  {"model": wide, "hyper": _hyper(batch_size=10**6)},
                  r"would compute a tensor of 10000000 elements"))
    for program, inputs, params, message in cases:
        t0 = time.monotonic()
        with pytest.raises(JobFailed, match=message) as err:
            client.run(program, inputs, params)
        budget = 5.0 + sum(a.nbytes for a in inputs.values()) / 10e6  # the client shares 10^7 inputs too
        assert time.monotonic() - t0 < budget, (program, message)
        assert set(err.value.errors) == {"p0", "p1", "p2"}, err.value.errors  # every server answers
    assert _pids(run) == pids
    # the same servers then run normal jobs
    a, b = rng.uniform(-2, 2, (6, 5)), rng.uniform(-2, 2, (5, 3))
    assert np.max(np.abs(client.run("matmul", {"x": a, "y": b}).outputs["out"] - a @ b)) < 1e-3
    data = _dataset(rng)
    res = client.run("train", {"x": data.features, "y": data.labels, **_train_inputs(_model())},
                     {"model": _model(), "hyper": _hyper(epochs=2)})
    assert res.outputs["param.0.W"].shape == (4, 3) and np.all(np.isfinite(res.outputs["param.0.W"]))


def test_a_16_mib_header_of_empty_arrays_is_refused_without_growing_the_server(cluster, client):
    cfg, run = cluster
    n = 16 << 20
    bomb = (b"\x84" + msgpack.packb("v") + msgpack.packb(1) + msgpack.packb("kind") + msgpack.packb("job")
            + msgpack.packb("job") + msgpack.packb("bomb") + msgpack.packb("params")
            + b"\xdd" + struct.pack(">I", n) + b"\x90" * n)
    small = msgpack.packb({"v": 1, "kind": "job", "job": "bomb2", "params": {"a": [[]] * 100_000}})
    keys = load_pair(cfg.client_secret_key("tester"))
    for party, pid in enumerate(_pids(run)):
        before = _rss_mb(pid)
        s = _raw(cfg, party, keys)
        try:
            s.send_multipart([bomb])
            reply = _reply(s)
            assert not reply.ok and f"request header of {len(bomb)} bytes exceeds limits.max_header_kb (256 KiB)" \
                in reply.error, reply.error
            s.send_multipart([small])  # under the byte limit, over the entries per list
            reply = _reply(s)
            assert not reply.ok and "malformed request header" in reply.error, reply.error
        finally:
            s.close()
        assert _rss_mb(pid) - before < 100, (party, before, _rss_mb(pid))
    assert client.status()["p0"]["ready"]


def _greeting():
    """A ZMTP 3.0 greeting asking for the CURVE mechanism (no key: nothing is authenticated)."""
    return b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"CURVE".ljust(20, b"\x00") + b"\x00" * 32


def test_a_frame_declared_at_1_gib_closes_the_connection_at_once(cluster, client):
    cfg, run = cluster
    pids = _pids(run)
    for party in range(3):
        pc = cfg.parties[party]
        with socket.create_connection((pc.host, pc.port), timeout=5) as s:
            s.sendall(_greeting())
            got = b""
            while len(got) < 64:
                got += s.recv(64 - len(got))
            t0 = time.monotonic()
            s.sendall(b"\x06" + struct.pack(">Q", 1 << 30) + b"\x05HELLO")  # long command frame, 1 GiB
            try:
                closed = s.recv(100) == b""
            except ConnectionResetError:
                closed = True
            assert closed and time.monotonic() - t0 < 2.0, party
    assert _pids(run) == pids
    x = np.ones((2, 2))
    assert np.allclose(client.run("matmul", {"x": x, "y": x}).outputs["out"], x @ x, atol=1e-3)


def test_a_client_with_too_many_waiting_jobs_is_refused_at_once(cluster, client):
    cfg, _ = cluster
    s = _raw(cfg, 2, load_pair(cfg.client_secret_key("other")))
    try:
        shapes = {"x": (1, 1), "y": (1, 1)}
        for i in range(16):  # p2 holds each until p0 announces it (never: p0 does not get them)
            s.send_multipart(messages.encode_job(f"wait-{i}", "mul", {}, 16, shapes, None))
        s.send_multipart(messages.encode_job("one-too-many", "mul", {}, 16, shapes, None))
        t0 = time.monotonic()
        reply = _reply(s)
        assert time.monotonic() - t0 < 1.0
        assert reply.job == "one-too-many" and not reply.ok
        assert "p2 is busy: client other already has 16 requests waiting (limits.max_pending_requests)" in reply.error
    finally:
        s.close()
    x = np.ones((2, 2))  # another client is not affected
    assert np.allclose(client.run("mul", {"x": x, "y": x}).outputs["out"], x, atol=1e-3)


def test_the_transport_refuses_requests_beyond_the_pending_limit_while_the_server_is_busy(tmp_path):
    generate(tmp_path / "k", ["s", "c", "peer"])
    keys = {n: load_pair(tmp_path / "k" / f"{n}.key_secret") for n in ("s", "c")}
    peer_key = load_public(tmp_path / "k" / "peer.key")
    port = free_ports(1)[0]
    refused = []

    def refuse(r):
        refused.append(r.why)
        return [msgpack.packb({"busy": r.identity})]

    t = ZmqTransport(0, keys["s"], f"tcp://127.0.0.1:{port}",
                     {1: PeerAddress(1, "tcp://127.0.0.1:1", peer_key), 2: PeerAddress(2, "tcp://127.0.0.1:2", peer_key)},
                     {keys["c"].public: "c"}, ZmqOptions(max_pending_per_client=3, rcv_hwm=64), refuse)
    s = zmq.Context.instance().socket(zmq.DEALER)
    try:
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = keys["c"].public, keys["c"].secret, keys["s"].public
        s.linger, s.rcvtimeo = 0, 5000
        s.connect(f"tcp://127.0.0.1:{port}")
        for i in range(10):
            s.send_multipart([msgpack.packb({"n": i})])
        deadline = time.monotonic() + 5
        while len(refused) < 7 and time.monotonic() < deadline:
            t._pump(0.1)  # what a running job does while it waits: drain, never hand out requests
        assert refused == ["busy"] * 7
        assert [msgpack.unpackb(s.recv_multipart()[0]) for _ in range(7)] == [{"busy": "c"}] * 7
        got = [t.next_event(1.0) for _ in range(3)]
        assert [msgpack.unpackb(bytes(e.frames[0])) for e in got] == [{"n": 0}, {"n": 1}, {"n": 2}]
        s.send_multipart([msgpack.packb({"n": 10})])  # answered ones free their places
        assert msgpack.unpackb(bytes(t.next_event(5.0).frames[0])) == {"n": 10}
    finally:
        s.close()
        t.close()


# -- a server's key used by a client ------------------------------------------------------------------
def test_a_client_presenting_a_servers_key_is_refused_at_once(cluster, client):
    cfg, run = cluster
    for party in range(3):  # the client library refuses before connecting
        stolen = load_pair(cfg.parties[party].secret_key)
        t0 = time.monotonic()
        with pytest.raises(ServerUnavailable, match=rf"the client key is p{party}'s key pair .*a server's key "
                                                    r"cannot act as a client"):
            Client(cfg, stolen)
        assert time.monotonic() - t0 < 0.5
    # a hand-made client with p1's key pair: p0 answers at once instead of taking it for p1
    s = _raw(cfg, 0, load_pair(cfg.parties[1].secret_key))
    try:
        t0 = time.monotonic()
        s.send_multipart(messages.encode_job("stolen", "mul", {}, 16, {"x": (1,), "y": (1,)},
                                             {"x": np.zeros(1, np.uint64), "y": np.zeros(1, np.uint64)}))
        reply = _reply(s)
        assert time.monotonic() - t0 < 1.0 and reply.job == "stolen" and not reply.ok
        assert "p0 refused a client request made with p1's key: a server's key pair cannot act as a client" \
            in reply.error
    finally:
        s.close()
    # p0's own key at p0: refused in the handshake, and the log says why
    s = _raw(cfg, 0, load_pair(cfg.parties[0].secret_key))
    try:
        s.send_multipart(messages.encode_status_request())
        deadline = time.monotonic() + 5
        while "proved p0's own key" not in (run / "p0.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "refused a connection that proved p0's own key" in (run / "p0.log").read_text()
    finally:
        s.close()
    assert client.status()["p1"]["peers"] == {"p0": "connected", "p2": "connected"}


# -- labels --------------------------------------------------------------------------------------------
def _upload_with_classes(client, data, name, classes):
    up = SharedUpload(data, name=name, owner="tester", fxp=client.cfg.fxp, chunk_rows=16)
    up.meta = replace(up.meta, classes=classes)
    push_upload(up, [RemoteStore(client, 0), RemoteStore(client, 1)])


def test_labels_recorded_at_upload_are_checked_against_the_models_classes(cluster, client, rng):
    data = _dataset(rng, rows=40, classes=5)
    _upload_with_classes(client, data, "five-classes", 5)
    manifest = RemoteStore(client, 0).show("five-classes")
    assert manifest.classes == 5
    three = _model(units=3)
    refs = {"x": "five-classes:x", "y": "five-classes:y"}
    for program, params in [("train", {"model": three, "hyper": _hyper()}), ("infer", {"model": three})]:
        with pytest.raises(JobFailed, match=r"input 'y': dataset 'five-classes' has labels in \[0, 5\) but the "
                                            r"model has 3 classes") as err:
            client.run(program, _train_inputs(three), params, datasets=refs)
        assert {"p0", "p1"} <= set(err.value.errors)
    five = _model(units=5)
    res = client.run("train", _train_inputs(five), {"model": five, "hyper": _hyper()}, datasets=refs)
    assert res.outputs["param.0.W"].shape == (4, 5)
    # a plain upload declares its classes from the labels it checked (largest label + 1)
    declared = _dataset(rng, rows=20, classes=5)
    upload(client, declared, "declared-classes")
    assert RemoteStore(client, 1).show("declared-classes").classes == int(declared.labels.max()) + 1
    # unknown (not recorded, e.g. an older client): nothing to check on the servers
    _upload_with_classes(client, _dataset(rng, rows=20, classes=3), "unknown-classes", None)
    assert RemoteStore(client, 1).show("unknown-classes").classes is None
    client.run("infer", _train_inputs(three), {"model": three},
               datasets={"x": "unknown-classes:x", "y": "unknown-classes:y"})


# -- dead and frozen primaries -------------------------------------------------------------------------
@pytest.fixture
def own_cluster(tmp_path):
    path = _config(tmp_path)
    run = tmp_path / "run"
    cl.up(run, path)
    cfg = load(path)
    stopped: list[int] = []
    try:
        with Client(cfg) as c:
            upload(c, _dataset(np.random.default_rng(3)), "kept")
        yield cfg, run, path, stopped
    finally:
        for pid in stopped:  # let frozen servers go, so that they stop cleanly
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        cl.down(run)


def _timed(fn):
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def _cli(*args):
    return CliRunner().invoke(cli, list(args))


def _check_commands_name(cfg, run, path, victim, alive, state, tmp_path):
    """Every client command fails (or answers from the live servers) within TARGET_S, naming
    ``victim``; ``cluster status`` says it is ``state``."""
    x = np.ones((2, 2))
    with Client(cfg) as c:
        t0 = time.monotonic()
        with pytest.raises((JobFailed, ServerUnavailable), match=victim):
            c.run("matmul", {"x": x, "y": x})
        assert time.monotonic() - t0 < TARGET_S
    r, took = _timed(lambda: _cli("datasets", "list", "--config", str(path)))
    assert took < TARGET_S and r.exit_code == 1, (took, r.output)
    assert "kept" in r.output and f"{victim} unavailable" in r.output and f"{victim} at tcp://" in r.output, r.output
    r, took = _timed(lambda: _cli("cluster", "status", "--run-dir", str(run)))
    assert took < TARGET_S and r.exit_code == 1, (took, r.output)
    assert r.output.count(" connected") == 2 and state in r.output, r.output  # the live two answered
    np.save(tmp_path / "new.npy", np.ones((5, 3)))
    r, took = _timed(lambda: _cli("upload", str(tmp_path / "new.npy"), "--dataset", "new", "--config", str(path)))
    assert took < TARGET_S and r.exit_code == 1 and victim in r.output, (took, r.output)
    with Client(cfg) as c:  # the live primary holds nothing of the failed upload
        _, pending = RemoteStore(c, alive).list_all()
        assert pending == [] and "new" not in {m.name for m in RemoteStore(c, alive).list()}


def test_a_killed_primary_fails_every_command_fast_and_by_name(own_cluster, tmp_path):
    cfg, run, path, _ = own_cluster
    os.kill(_pids(run)[1], signal.SIGKILL)
    time.sleep(0.2)
    _check_commands_name(cfg, run, path, "p1", 0, "p1 is not running", tmp_path)


def test_a_frozen_primary_fails_every_command_fast_and_by_name(own_cluster, tmp_path):
    cfg, run, path, stopped = own_cluster
    pid = _pids(run)[0]
    os.kill(pid, signal.SIGSTOP)
    stopped.append(pid)
    _check_commands_name(cfg, run, path, "p0", 1, "not answering", tmp_path)
    os.kill(pid, signal.SIGCONT)  # it comes back and serves
    deadline = time.monotonic() + 20
    with Client(cfg) as c:
        while True:
            try:
                x = np.ones((2, 2))
                assert np.allclose(c.run("matmul", {"x": x, "y": x}).outputs["out"], x @ x, atol=1e-3)
                break
            except (JobFailed, ServerUnavailable):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert {v.name: v.complete for v in list_datasets(c)} == {"kept": True}


def test_an_upload_cut_off_by_a_dead_peer_frees_its_name_on_the_live_primary(own_cluster):
    cfg, run, _, _ = own_cluster
    up = SharedUpload(_dataset(np.random.default_rng(4), rows=60), name="cut", owner="tester", chunk_rows=10)
    with Client(cfg) as c:
        stores = [RemoteStore(c, 0), RemoteStore(c, 1)]
        for s in stores:
            s.begin(up.meta)
        pair = next(iter(up.chunks()))
        for p, s in enumerate(stores):
            ch = pair.for_party(p)
            s.write_chunk(up.meta.upload_id, ch.index, ch.arrays, ch.sha256)
        assert [n for _, n, _ in stores[0].list_all()[1]] == ["cut"]
        # the uploading client goes silent (no abort) and p1 dies
        os.kill(_pids(run)[1], signal.SIGKILL)
        t0 = time.monotonic()
        while stores[0].list_all()[1]:
            assert time.monotonic() - t0 < TARGET_S, "p0 still holds the upload"
            time.sleep(0.1)
    assert "discarded upload" in (run / "p0.log").read_text()


# -- the catch-all -------------------------------------------------------------------------------------
def _bomb_check(params, shapes):
    raise {"memory": MemoryError, "overflow": OverflowError, "bug": AttributeError}[params["kind"]]("boom")


def test_a_handler_that_raises_anything_answers_and_the_servers_serve_on(tmp_path):
    from spp_runtime.apps import PROGRAMS
    from spp_runtime.jobs import Program, compose, programs_table
    from spp_runtime.server.server import PartyServer

    programs = compose(PROGRAMS, programs_table(Program("bomb", lambda *a: {}, None, _bomb_check)))
    cfg = load(_config(tmp_path))
    stop = threading.Event()
    servers = {}

    def serve(p):
        servers[p] = PartyServer(cfg, p, programs=programs)  # the serving thread owns the sockets
        servers[p].serve(stop.is_set)

    threads = [threading.Thread(target=serve, args=(p,), daemon=True) for p in range(3)]
    for t in threads:
        t.start()
    try:
        with Client(cfg) as c:
            c.connect(timeout=20)
            deadline = time.monotonic() + 20
            while not all(c.status_of(p)["ready"] for p in range(3)):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            for kind, message in [("memory", r"could not handle the request \(MemoryError\); see the server log"),
                                  ("overflow", r"JobRejected: job \w+: boom"),  # a number the client sent
                                  ("bug", r"could not handle the request \(AttributeError\); see the server log")]:
                with pytest.raises(JobFailed, match=message) as err:
                    c.run("bomb", {"x": np.ones(2)}, {"kind": kind})
                assert set(err.value.errors) == {"p0", "p1", "p2"}
            x = np.ones((2, 2))
            for _ in range(12):  # job threads give their pipes back: no socket per job
                assert np.allclose(c.run("matmul", {"x": x, "y": x}).outputs["out"], x @ x, atol=1e-3)
        assert all(t.is_alive() for t in threads)
        assert all(len(srv.transport._outboxes) <= cfg.limits.max_concurrent_jobs for srv in servers.values())
    finally:
        stop.set()
        for t in threads:
            t.join(10)


def test_an_owner_over_the_storage_quota_is_refused_naming_the_limit(tmp_path, rng):
    path = _config(tmp_path, max_stored_gb_per_owner=64 / (1 << 20))  # 64 KiB per owner and primary
    cl.up(tmp_path / "run", path)
    cfg = load(path)
    try:
        with Client(cfg) as c:
            upload(c, _dataset(rng, rows=500, features=7), "first")  # 32000 B of shares per primary
            with pytest.raises(UploadFailed, match=r"p0 refused begin: .*upload of 'second' \(40000 bytes per server\) "
                                                   r"would bring tester's data on p0 to 72000 bytes.*"
                                                   r"limits.max_stored_gb_per_owner is 6\.1035\de-05 GiB"):
                upload(c, _dataset(rng, rows=1000, features=4), "second")
            assert {m.name for m in RemoteStore(c, 0).list()} == {"first"} and RemoteStore(c, 0).list_all()[1] == []
        with Client(cfg, load_pair(cfg.client_secret_key("other"))) as other:  # another owner has its own quota
            upload(other, _dataset(rng, rows=1000, features=4), "second")
    finally:
        cl.down(tmp_path / "run")


def test_a_server_whose_config_gives_a_client_a_servers_key_refuses_to_start(tmp_path):
    import shutil

    path = _config(tmp_path)
    keys = tmp_path / "keys"
    shutil.copy(keys / "p1.key", keys / "tester.key")  # the client "tester" listed with p1's key
    r = _cli("server", "--party", "0", "--config", str(path))
    assert r.exit_code == 1 and "client 'tester' uses the key of p1" in r.output, r.output
