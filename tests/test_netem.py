"""The emulated LAN delivers the delay and rate asked for; the cost model's arithmetic.

Namespace tests need root and iproute2. They run wherever those exist (CI here is root);
``SPP_REQUIRE_NETNS=1`` (set by .ci/run) turns a missing capability into a failure instead
of a skip, so the namespace path cannot rot unnoticed.
"""

from __future__ import annotations

import os

import pytest
from netns_util import needs_netns, scheduling_rtt_s

from spp_runtime.netem.costmodel import TCP_FRAMING, predict
from spp_runtime.netem.measure import probe_link
from spp_runtime.netem.topology import PRESETS, Lan, LinkShape, NetnsUnavailable, require_netns


@needs_netns
@pytest.mark.netns
@pytest.mark.parametrize(
    "shape", [LinkShape(20.0, 20.0, 10.0), PRESETS["paper-lan"]], ids=["20mbit-20ms", "paper-lan"]
)
def test_emulated_link_honours_delay_and_rate(shape):
    """Never faster than asked (the delay and the rate limit took effect); slower only by what
    the machine's own scheduling costs the relays (measured now, so a busy machine passes)."""
    with Lan(["a", "b"], shape) as lan:
        probe = probe_link(lan, "a", "b", mbytes=3.0)
    overhead = 8 * scheduling_rtt_s()  # 4 relay hops per round trip, generously twice each
    asked = shape.rtt_ms / 1000
    assert 0.8 * asked <= probe.rtt_s <= 1.2 * asked + overhead, (probe.rtt_s, asked, overhead)
    expected_mbit = min(shape.up_mbit, shape.down_mbit) / TCP_FRAMING
    assert probe.throughput_mbit <= 1.2 * expected_mbit
    assert probe.throughput_mbit >= 0.8 * expected_mbit / (1 + overhead / asked), (probe.throughput_mbit, overhead)


@needs_netns
@pytest.mark.netns
def test_namespaces_are_removed_on_exit():
    import subprocess

    with Lan(["x"], LinkShape()) as lan:
        names = subprocess.run(["ip", "netns", "list"], check=True, capture_output=True, text=True).stdout
        assert lan.netns("x") in names and lan.switch in names
    names = subprocess.run(["ip", "netns", "list"], check=True, capture_output=True, text=True).stdout
    assert lan.netns("x") not in names and lan.switch not in names


def test_not_root_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NetnsUnavailable, match="needs root"):
        require_netns()


def test_cost_model_adds_latency_transfer_and_compute():
    shape = LinkShape(up_mbit=8.0, down_mbit=16.0, one_way_delay_ms=5.0)
    links = {"p0->p1": 1_000_000, "p1->p0": 1_000_000, "p2->p1": 500_000}
    p = predict(rounds=4, wire_per_link=links, shape=shape, compute_s=0.25)
    assert p.latency_s == pytest.approx(0.020)
    # p1 receives 1.5 MB at 16 Mbit/s = 0.75 s; p0 sends 1 MB at 8 Mbit/s = 1.0 s (slowest)
    assert p.transfer_s == pytest.approx(1.0 * TCP_FRAMING)
    assert p.total_s == pytest.approx(0.020 + 1.0 * TCP_FRAMING + 0.25)


def test_cost_model_unlimited_links_cost_only_latency():
    p = predict(3, {"p0->p1": 10**9}, LinkShape(None, None, 1.0), compute_s=0.0)
    assert p.transfer_s == 0.0 and p.total_s == pytest.approx(0.003)


def test_cost_model_entry_hops_add_one_way_delays():
    p = predict(2, {}, LinkShape(None, None, 3.0), compute_s=0.0, entry_hops=1)
    assert p.latency_s == pytest.approx(0.009)


def test_cost_model_burst_passes_small_transfers_free():
    shape = LinkShape(8.0, 8.0, 0.0)
    assert predict(1, {"p0->p1": 50_000}, shape, 0.0, burst=True).transfer_s == 0.0
    big = predict(1, {"p0->p1": 10**6}, shape, 0.0, burst=True).transfer_s
    assert big == pytest.approx((10**6 * TCP_FRAMING - 96 * 1024) * 8 / 8e6)
