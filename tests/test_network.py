"""Real server processes over CURVE-secured ZeroMQ: jobs, keys, failures, the cluster CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

from spp_runtime.client.client import Client, JobFailed
from spp_runtime.config import load_config
from spp_runtime.engine.zmq_runner import free_ports, run_zmq
from spp_runtime.errors import ConfigError, PeerTimeout
from spp_runtime.keys import generate_keys
from spp_runtime.protocols.basic import share_input
from spp_runtime.server import cluster
from spp_runtime.transport.zmq_transport import CONTROL

pytestmark = pytest.mark.network


def _config(tmp_path: Path, timeout: float = 10.0) -> Path:
    ports = free_ports(3)
    text = f"""
[cluster]
timeout_s = {timeout}
[parties.p0]
host = "127.0.0.1"
bind = "127.0.0.1"
port = {ports[0]}
[parties.p1]
host = "127.0.0.1"
bind = "127.0.0.1"
port = {ports[1]}
[parties.p2]
host = "127.0.0.1"
bind = "127.0.0.1"
port = {ports[2]}
[keys]
dir = "keys"
clients = ["analyst"]
"""
    path = tmp_path / "config.toml"
    path.write_text(text)
    generate_keys(tmp_path / "keys", ["analyst"])  # test keys, generated per test
    return path


@pytest.fixture
def servers(tmp_path):
    """Three real `spp server` processes (via `spp cluster up`); stopped afterwards."""
    cfg_path = _config(tmp_path)
    cfg = cluster.up(tmp_path, cfg_path, wait=30)
    yield cfg, tmp_path
    cluster.down(tmp_path)


def test_three_servers_compute_a_matmul(servers, rng):
    cfg, _ = servers
    x, y = rng.normal(size=(32, 48)), rng.normal(size=(48, 16))
    with Client(cfg) as c:
        r = c.submit("matmul", {"x": x, "y": y})
    assert np.max(np.abs(r.outputs["z"] - x @ y)) <= 50 * 2**-16
    (st,) = r.top("matmul")
    assert st.rounds == 1 and st.bytes_per_link["p2->p1"] == 8 * 32 * 16
    assert st.wire_total > st.bytes_total  # header and CURVE framing are counted on the wire


def test_bad_jobs_get_clear_errors_and_the_servers_keep_serving(servers, rng):
    cfg, _ = servers
    with Client(cfg) as c:
        with pytest.raises(JobFailed, match="unknown program 'nope'; known: .*matmul"):
            c.submit("nope")
        with pytest.raises(JobFailed, match="no input named 'y'"):
            c.submit("matmul", {"x": np.ones((2, 2))})
        with pytest.raises(JobFailed, match="do not align"):
            c.submit("matmul", {"x": np.ones((2, 3)), "y": np.ones((2, 3))})
        # a malformed request straight on the socket
        sock = c._socks[0]
        sock.send_multipart([CONTROL, msgpack.packb({"type": "job", "job": "not-bytes"})])
        assert c.submit("matmul", {"x": np.eye(2), "y": np.eye(2)}).outputs["z"][0, 0] == 1.0


def test_a_client_with_an_unknown_key_is_refused(servers, tmp_path):
    cfg, _ = servers
    rogue = tmp_path / "rogue"
    generate_keys(rogue, ["analyst"])  # same name, different key
    bad = load_config(cfg.path)
    object.__setattr__(bad, "key_dir", rogue)
    # the servers' public keys must be the real ones for the handshake to even start
    for n in ("p0", "p1", "p2"):
        (rogue / f"{n}.key").write_bytes((cfg.key_dir / f"{n}.key").read_bytes())
    with Client(bad, timeout=3) as c:
        with pytest.raises(PeerTimeout, match="no result for the job within 3 s"):
            c.submit("ping")
    log = (tmp_path / "logs" / "p0.log").read_text()
    assert "rejected a connection with an unknown public key" in log


def test_a_killed_server_makes_the_others_fail_fast_naming_it(servers, rng):
    cfg, run_dir = servers
    pids = cluster.read_pids(run_dir)
    with Client(cfg, timeout=30) as c:
        c.submit("ping")
        os.kill(pids[2], signal.SIGKILL)
        t0 = time.monotonic()
        with pytest.raises(JobFailed, match="p2"):
            c.submit("matmul", {"x": np.ones((4, 4)), "y": np.ones((4, 4))})
        assert time.monotonic() - t0 < 15  # well before the 10 s receive timeout x 4


def test_cluster_status_and_down(servers):
    cfg, run_dir = servers
    rows = cluster.status(run_dir)
    assert [r.party for r in rows] == ["p0", "p1", "p2"] and all(r.alive and r.answering for r in rows)
    assert sorted(cluster.down(run_dir)) == ["p0", "p1", "p2"]
    assert cluster.down(run_dir) == []  # idempotent
    assert not any(r.alive for r in cluster.status(run_dir))


def test_cli_cluster_up_status_down(tmp_path):
    cfg_path = _config(tmp_path)
    spp = [sys.executable, "-m", "spp_runtime.cli.main"]
    up = subprocess.run([*spp, "cluster", "up", "--run-dir", str(tmp_path), "--config", str(cfg_path)],
                        capture_output=True, text=True, timeout=60)
    try:
        assert up.returncode == 0, up.stderr
        assert "spp cluster is up" in up.stdout and "tcp://127.0.0.1" in up.stdout
        st = subprocess.run([*spp, "cluster", "status", "--run-dir", str(tmp_path)], capture_output=True, text=True)
        assert st.stdout.count("running") == 3
    finally:
        down = subprocess.run([*spp, "cluster", "down", "--run-dir", str(tmp_path)], capture_output=True, text=True)
    assert "stopped p0, p1, p2" in down.stdout


def test_config_errors_name_file_and_field(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[parties.p0]\nhost='a'\nport=1\n")
    with pytest.raises(ConfigError, match=r"c.toml: missing table \[parties.p1\]"):
        load_config(p)
    p.write_text("[parties.p0]\nhost='a'\nport=99999\n[parties.p1]\nhost='b'\nport=2\n[parties.p2]\nhost='c'\nport=3\n")
    with pytest.raises(ConfigError, match="parties.p0.port = 99999 is not a TCP port"):
        load_config(p)
    p.write_text("not toml [[")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def _prog(ctx):
    x = share_input(ctx, np.arange(6.0).reshape(2, 3) if ctx.party == 0 else None, 0, (2, 3))
    return (x * x).reveal()


def test_run_zmq_matches_run_local():
    run = run_zmq(_prog, timeout=10)
    assert np.array_equal(run.outputs[0], np.arange(6.0).reshape(2, 3) ** 2)
    assert run.top("mul")[0].bytes_per_link == {"p0->p1": 96, "p1->p0": 96, "p2->p1": 48}
