"""Multi-host for real: each server in its own network namespace with its own address (veth
links over a bridge), a data owner in a fourth one uploads a dataset and runs a job on it."""

import json
import subprocess
import sys

import pytest
import tomli_w

from spp_runtime.keys import generate
from spp_runtime.launch.files import free_ports
from spp_runtime.netem.topology import Lan, LinkShape, NetnsUnavailable, require_netns


def _netns_ok() -> bool:
    try:
        require_netns()
    except NetnsUnavailable:
        return False
    return True


pytestmark = [pytest.mark.network, pytest.mark.netns,
              pytest.mark.skipif(not _netns_ok(), reason="needs root and iproute2 (ip, tc)")]

OWNER = r"""
import json, sys, time
import numpy as np
from spp_runtime.client import Client
from spp_runtime.client.remote_store import RemoteStore, list_datasets, upload
from spp_runtime.config import load
from spp_runtime.data.readers import Dataset
cfg = load(sys.argv[1])
rng = np.random.default_rng(0)
x, w, b = rng.normal(size=(64, 5)), rng.normal(size=(5, 2)), rng.normal(size=2)
with Client(cfg) as c:
    deadline = time.monotonic() + 30
    while not all(c.status_of(p, 5.0).get("ready") for p in range(3)):
        assert time.monotonic() < deadline, "servers did not connect to each other"
        time.sleep(0.2)
    summary = upload(c, Dataset(x, None, "mem"), "remote", chunk_bytes=1024)
    views = list_datasets(c)
    for p in (0, 1):
        RemoteStore(c, p).show("remote", verify=True)
    res = c.run("dense_scores", {"w": w, "b": b}, {"batch": 16}, datasets={"x": "remote:x"})
    err = float(np.abs(res.outputs["scores"] - (x @ w + b)).max())
    print(json.dumps({"chunks": summary.chunks, "complete": [v.complete for v in views], "err": err,
                      "peers": c.status_of(0, 5.0)["peers"]}))
"""


def test_upload_and_a_job_across_four_network_namespaces(tmp_path):
    generate(tmp_path / "keys", ["p0", "p1", "p2", "owner"])
    ports = free_ports(3)
    with Lan(["p0", "p1", "p2", "owner"], LinkShape()) as lan:
        raw = {
            "keys": {"dir": "keys"}, "data_dir": "data",
            "clients": {"allowed": ["owner"], "default": "owner"},
            "timeouts": {"recv_s": 20, "connect_s": 20, "job_s": 60, "heartbeat_s": 0.5,
                         "heartbeat_timeout_s": 3.0},
            "parties": {f"p{i}": {"host": lan.address(f"p{i}"), "bind": "*", "port": ports[i]}
                        for i in range(3)},
        }
        path = tmp_path / "cluster.toml"
        path.write_text(tomli_w.dumps(raw))
        servers = [lan.popen(f"p{i}", [sys.executable, "-m", "spp_runtime", "server", "--party", str(i),
                                        "--config", str(path)],
                             stdout=open(tmp_path / f"p{i}.log", "wb"), stderr=subprocess.STDOUT)
                   for i in range(3)]
        try:
            out = lan.run("owner", [sys.executable, "-c", OWNER, str(path)], capture_output=True,
                          text=True, timeout=120)
        finally:
            for s in servers:
                s.terminate()
            for s in servers:
                try:
                    s.wait(10)
                except subprocess.TimeoutExpired:
                    s.kill()
                    s.wait()
    assert out.returncode == 0, out.stderr[-2000:] + "".join(
        (tmp_path / f"p{i}.log").read_text()[-1500:] for i in range(3))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["chunks"] > 1 and result["complete"] == [True] and result["err"] < 1e-3
    assert result["peers"] == {"p1": "connected", "p2": "connected"}
    assert (tmp_path / "data" / "p0" / "datasets" / "remote").is_dir()
    assert not (tmp_path / "data" / "p2").exists()  # the helper stores nothing
