"""Multi-host for real: each server in its own network namespace with its own address over
veth links (with a one-way delay relay and a rate limit), a client in a fourth namespace
runs jobs end to end through ``spp_runtime.client.Client``.

Runs where root and ``ip netns`` exist; ``SPP_REQUIRE_NETNS=1`` (set by .ci/run) makes a
missing capability a failure, not a skip.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from netns_util import needs_netns

from spp_runtime.launch.lan import LanCluster
from spp_runtime.netem.topology import LinkShape

CLIENT_SCRIPT = Path(__file__).with_name("multihost_client.py")


@needs_netns
@pytest.mark.netns
@pytest.mark.network
def test_three_hosts_and_a_client_run_a_job_end_to_end():
    with LanCluster(LinkShape(100.0, 100.0, 1.0), recv_s=60, clients=("analyst", "owner")) as cluster:
        cfg = cluster.config
        hosts = {pc.host for pc in cfg.parties}
        assert len(hosts) == 3 and all(h.startswith("10.") for h in hosts)  # three addresses
        out = cluster.client_run([sys.executable, str(CLIENT_SCRIPT), str(cluster.config_path)],
                                 capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr + cluster.server_logs()
        res = json.loads(out.stdout)
        # the client's namespace reaches the servers only over the LAN, never loopback
        probe = cluster.client_run(["ip", "-o", "-4", "addr"], capture_output=True, text=True)
        assert cluster.lan.address("client") in probe.stdout
    assert res["demo"]["err"] < 1e-3 and res["demo"]["servers"] == ["p0", "p1", "p2"]
    assert res["matmul"]["err"] < 1e-3 and res["matmul"]["rounds"] == 1
    names = subprocess.run(["ip", "netns", "list"], check=True, capture_output=True, text=True).stdout
    assert cluster.lan.netns("p0") not in names and cluster.lan.switch not in names
