"""Three real ``spp server`` processes over CURVE ZeroMQ: jobs from a client, bad requests,
refused keys, a killed server, the cluster commands, and ``spp bench`` / ``spp demo``."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq
from cluster_helpers import write_config

from spp_runtime.api import messages as jobs
from spp_runtime.client import Client, JobFailed, ServerUnavailable
from spp_runtime.config import load
from spp_runtime.keys import load_pair, load_public
from spp_runtime.launch import local as cl
from spp_runtime.launch.files import free_ports
from spp_runtime.launch.local import ClusterError

pytestmark = pytest.mark.network
ULP = 2.0**-16


def _raw(cfg, party, key_name="tester"):
    """A bare CURVE DEALER to one server, for sending hand-made requests."""
    kp = load_pair(cfg.client_secret_key(key_name))
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.curve_publickey, s.curve_secretkey = kp.public, kp.secret
    s.curve_serverkey = load_public(cfg.parties[party].public_key)
    s.linger = 0
    s.rcvtimeo = 10_000
    s.connect(cfg.parties[party].connect_url)
    return s


def _ask(sock, frames):
    sock.send_multipart(frames)
    return jobs.decode_reply(sock.recv_multipart(), server="p?", max_bytes=1 << 30)


# -- jobs --------------------------------------------------------------------------------------------
def test_three_servers_compute_a_matmul_over_curve(client, rng):
    x, y = rng.uniform(-2, 2, (24, 40)), rng.uniform(-2, 2, (40, 8))
    res = client.run("matmul", {"x": x, "y": y})
    assert np.max(np.abs(res.outputs["out"] - x @ y)) <= 42 * ULP
    (st,) = res.top("matmul")
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": 8 * (24 * 40 + 40 * 8), "p1->p0": 8 * (24 * 40 + 40 * 8),
                                 "p2->p1": 8 * 24 * 8}
    assert st.offline_bytes == 8 * 24 * 8 and set(res.server_time_s) == {"p0", "p1", "p2"}


def test_demo_and_bench_programs(client, rng):
    x, w, b = rng.uniform(-1, 1, (5, 6)), rng.uniform(-1, 1, (6, 3)), rng.uniform(-1, 1, 3)
    res = client.run("demo", {"x": x, "w": w, "b": b})
    assert np.max(np.abs(res.outputs["scores"] - np.maximum(x @ w + b, 0))) <= 16 * ULP
    res = client.run("bench", {"x": x, "y": w}, {"case": "matmul"})
    (st,) = res.top("bench")
    assert [s.name for s in res.stats if s.depth == 1] == ["matmul"] and st.rounds == 1
    assert np.max(np.abs(res.outputs["out"] - x @ w)) <= 16 * ULP


def test_bad_jobs_fail_on_every_server_with_a_clear_error(client):
    with pytest.raises(JobFailed, match=r"unknown program 'nope'; known: .*matmul") as err:
        client.run("nope", {"x": np.ones(2)})
    assert set(err.value.errors) == {"p0", "p1", "p2"}
    with pytest.raises(JobFailed, match=r"matmul needs \(m, k\) and \(k, n\) inputs, got \[2, 3\] and \[2, 3\]"):
        client.run("matmul", {"x": np.ones((2, 3)), "y": np.ones((2, 3))})
    with pytest.raises(JobFailed, match=r"takes inputs \['x', 'y'\], got \['x'\]"):
        client.run("mul", {"x": np.ones(3)})
    with pytest.raises(JobFailed, match="unknown benchmark case 'zzz'"):
        client.run("bench", {"x": np.ones(3)}, {"case": "zzz"})


def test_malformed_requests_get_errors_and_the_servers_keep_serving(cluster, client, rng):
    cfg, _ = cluster
    s0 = _raw(cfg, 0)
    try:
        cases = [
            ([b"\xc1garbage"], "malformed request header"),
            ([msgpack.packb([1, 2])], "header is not a map"),
            ([msgpack.packb({"v": 99, "kind": "job"})], "unsupported request version 99"),
            ([msgpack.packb({"v": 1, "kind": "drop tables"})], "unknown request kind"),
            ([msgpack.packb({"v": 1, "kind": "job", "job": "a b"})], "job id must be"),
            (jobs.encode_job("j1", "matmul", {}, 16, {"x": (2, 2), "y": (2, 2)}, None), "0 share frames for 2"),
            (jobs.encode_job("j2", "matmul", {}, 16, {"x": (2, 2), "y": (2, 2)},
                             {"x": np.zeros(4, np.uint64), "y": np.zeros(3, np.uint64)}),
             "share of input 'y' does not match shape [2, 2]"),
            (jobs.encode_job("j3", "matmul", {}, 12, {"x": (1, 1), "y": (1, 1)},
                             {"x": np.zeros(1, np.uint64), "y": np.zeros(1, np.uint64)}),
             "client uses 12 fractional bits, servers use 16"),
        ]
        for frames, message in cases:
            reply = _ask(s0, frames)
            assert not reply.ok and reply.party == "p0" and message in reply.error, (message, reply.error)
        status = _ask(s0, jobs.encode_status_request())
        assert status["ready"] and status["peers"] == {"p1": "connected", "p2": "connected"}
    finally:
        s0.close()
    x = rng.normal(size=(3, 3))
    assert np.allclose(client.run("mul", {"x": x, "y": x}).outputs["out"], x * x, atol=1e-3)


def test_servers_refuse_a_job_their_requests_disagree_on(cluster, client):
    # P1 gets other parameters than P0: P1 refuses, P0 and P2 are told at once.
    cfg, _ = cluster
    socks = [_raw(cfg, p) for p in range(3)]
    try:
        shapes = {"x": (2, 2), "y": (2, 2)}
        z = {"x": np.zeros(4, np.uint64), "y": np.zeros(4, np.uint64)}
        socks[0].send_multipart(jobs.encode_job("jd", "bench", {"case": "mul"}, 16, shapes, z))
        socks[1].send_multipart(jobs.encode_job("jd", "bench", {"case": "matmul"}, 16, shapes, z))
        socks[2].send_multipart(jobs.encode_job("jd", "bench", {"case": "mul"}, 16, shapes, None))
        replies = [jobs.decode_reply(s.recv_multipart(), server=f"p{i}", max_bytes=1 << 30)
                   for i, s in enumerate(socks)]
    finally:
        for s in socks:
            s.close()
    assert not any(r.ok for r in replies)
    assert "the request p1 received differs from p0's" in replies[1].error
    for r in (replies[0], replies[2]):
        assert r.error_type == "PeerFailed" and r.peer == "p1"
    assert client.status()["p0"]["ready"]


def test_a_client_with_an_unknown_key_is_refused(cluster):
    cfg, _ = cluster
    with (Client(cfg, key=load_pair(cfg.client_secret_key("mallory"))) as stranger,
          pytest.raises(ServerUnavailable, match="refused our key")):
        stranger.connect(timeout=10)


# -- failures and the cluster commands ----------------------------------------------------------------
def test_killing_a_server_mid_job_fails_the_job_fast_naming_it(tmp_path):
    path = write_config(tmp_path, recv_s=60)
    servers = cl.up(tmp_path / "run", path)
    try:
        cfg = load(path)
        pid1 = next(s.pid for s in servers if s.name == "p1")
        with Client(cfg) as client:
            client.connect()
            rng = np.random.default_rng(0)
            a = rng.uniform(1, 64, (576, 20))
            killer = threading.Timer(0.3, os.kill, (pid1, signal.SIGKILL))
            killer.start()
            with pytest.raises(JobFailed) as err:
                client.run("bench", {"a": a * 0.5, "b": a}, {"case": "division", "variant": "securenn"})
            killer.join()
            assert err.value.root == "p1"
            for other in ("p0", "p2"):  # not PeerTimeout after 60 s: told at once
                assert "PeerFailed" in err.value.errors[other] and "p1" in err.value.errors[other]
            with pytest.raises(ServerUnavailable, match="p1"):
                client.run("mul", {"x": np.ones(2), "y": np.ones(2)})
    finally:
        cl.down(tmp_path / "run")


def test_a_server_with_the_wrong_key_is_refused_and_named(tmp_path):
    path = write_config(tmp_path, p2_secret="keys/mallory.key_secret")
    t0 = time.monotonic()
    with pytest.raises(ClusterError) as err:
        cl.up(tmp_path / "run", path, wait_s=60)  # generous for a busy machine: the refusal ends the wait
    assert time.monotonic() - t0 < 30, "a key refusal must not wait for the start-up timeout"
    text = str(err.value)
    assert "refused a peer's CURVE key" in text
    assert "p2: p0 at" in text and "refused our key" in text
    assert "refused a connection with an unknown CURVE key" in text
    assert cl.status(tmp_path / "run") == []  # up cleaned up after itself


def _spp(*args, env=None):
    return subprocess.run([sys.executable, "-m", "spp_runtime", *args], capture_output=True, text=True,
                          check=False, timeout=120, env={**os.environ, **(env or {})})


def test_cluster_up_status_down_commands(tmp_path):
    path = write_config(tmp_path)
    run_dir = str(tmp_path / "run")
    up = _spp("cluster", "up", "--config", str(path), "--run-dir", run_dir)
    try:
        assert up.returncode == 0, up.stderr
        assert up.stdout.count("serving") == 3 and "127.0.0.1" in up.stdout
        again = _spp("cluster", "up", "--config", str(path), "--run-dir", run_dir)
        assert again.returncode != 0 and "already running" in again.stderr
        st = _spp("cluster", "status", "--run-dir", run_dir)
        assert st.returncode == 0 and st.stdout.count("serving") == 3
    finally:
        down = _spp("cluster", "down", "--run-dir", run_dir)
    assert down.returncode == 0 and down.stdout.startswith("Stopped p0")
    assert "No cluster was running" in _spp("cluster", "down", "--run-dir", run_dir).stdout
    assert "No cluster is running" in _spp("cluster", "status", "--run-dir", run_dir).stdout


def test_default_config_cluster_generates_its_keys(tmp_path):
    servers = cl.up(tmp_path, ports=free_ports(3))
    try:
        assert [s.status["ready"] for s in servers] == [True] * 3
        assert sorted(p.name for p in (tmp_path / "keys").glob("*.key")) == [
            "local.key", "p0.key", "p1.key", "p2.key"]
    finally:
        assert len(cl.down(tmp_path)) == 3


def test_bench_and_demo_commands_against_a_running_cluster(cluster, tmp_path):
    _, d = cluster
    out = tmp_path / "bench.json"
    res = _spp("bench", "--config", str(d / "cluster.toml"), "--protocols", "matmul,mul",
               "--dims", "8x4,16x8", "--json", str(out), "--matmul-speed")
    assert res.returncode == 0, res.stderr
    assert "ratio" in res.stdout and "matmul" in res.stdout
    doc = json.loads(out.read_text())
    recs = doc["records"]
    assert [(r["protocol"], r["dim"]) for r in recs] == [
        ("matmul", "8x4"), ("matmul", "16x8"), ("mul", "8x4"), ("mul", "16x8")]
    for r in recs:
        for key in ("variant", "elements", "time_s", "bytes_total", "bytes_per_element", "bytes_per_link",
                    "wire_bytes_total", "offline_bytes", "online_bytes", "rounds", "max_abs_err", "max_rel_err"):
            assert key in r
        assert r["within_tolerance"] and r["wire_bytes_total"] > r["bytes_total"]
    m = recs[1]  # (16 x 8) @ (8 x 16)
    assert m["bytes_per_link"] == {"p0->p1": 16 * 128, "p1->p0": 16 * 128, "p2->p1": 8 * 256}
    assert m["rounds"] == 1 and m["bytes_per_element"] == (2 * 16 * 128 + 8 * 256) / 128
    speed = doc["matmul_speed"]
    assert [s["shape"] for s in speed] == ["128x784 @ 784x128", "128x128 @ 128x128", "128x128 @ 128x10"]
    for s in speed:
        assert s["ratio"] > 0 and s["plain_numpy_float64_s"] > 0 and s["max_abs_err"] < 1e-2
    demo = _spp("demo", "--config", str(d / "cluster.toml"))
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.count("max |error| vs float64 numpy") == 2 and "rounds: 1" in demo.stdout


def test_a_terminated_command_stops_the_local_cluster_it_started(tmp_path):
    """SIGTERM (a CI timeout, `kill`) to a command that started its own local cluster must not
    leave those servers running (a later command would reuse them, stale code and all)."""
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "spp_runtime", "bench", "--run-dir", str(run_dir), "--protocols", "reciprocal",
         "--variant", "securenn", "--dims", "128x128", "--repeat", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (len(cl._servers(run_dir)) == 3 and all(s.alive for s in cl._servers(run_dir))):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.2)
        time.sleep(1.0)  # the benchmark is running against them now
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        leftover = [s.name for s in cl._servers(run_dir) if s.alive]
        cl.down(run_dir)
    assert proc.returncode != 0
    assert leftover == []
