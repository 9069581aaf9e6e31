"""The CURVE ZeroMQ transport between real processes: authentication, identity binding,
timeouts, fast failure when a peer dies or freezes, session isolation, and the wire-byte
model against the kernel's own TCP counters."""

import os
import re
import signal
import subprocess
import sys
import time

import msgpack
import numpy as np
import pytest
import zmq
from helpers import inputs

from spp_runtime.errors import PeerFailed, PeerTimeout
from spp_runtime.keys import generate, load_pair, load_public, public_path, secret_path
from spp_runtime.launch.files import free_ports
from spp_runtime.launch.parties import ZmqParties, run_zmq
from spp_runtime.transport import wire
from spp_runtime.transport.zmq_common import ZmqOptions
from spp_runtime.transport.zmq_transport import (
    ClientRequest,
    ConnectError,
    PeerAddress,
    ZmqTransport,
)

pytestmark = pytest.mark.network


# -- programs (module level: they are pickled to the party processes) ------------------------------
def _wait_for_p1(ctx):
    if ctx.party == 0:
        ctx.recv(1)
    return ctx.party


def _p1_fails(ctx):
    if ctx.party == 1:
        raise ValueError("bad input on p1")
    ctx.recv(1)


def _p1_dies(ctx, sig):
    if ctx.party == 1:
        os.kill(os.getpid(), sig)
        time.sleep(60)
    ctx.recv(1)


def _matmul(ctx, x, y):
    a, b = inputs(ctx, x, y)
    return (a @ b).reveal()


def _send_to_p1(ctx, n0, n2):
    with ctx.record("xfer"):
        _xfer(ctx, n0, n2)


def _xfer(ctx, n0, n2):
    if ctx.party == 0:
        ctx.send(1, np.arange(n0, dtype=np.uint64))
    elif ctx.party == 2:
        ctx.send(1, np.arange(n2, dtype=np.uint64), offline=True)
    else:
        ctx.recv(0, expect=[((n0,), np.uint64)])
        ctx.recv(2, expect=[((n2,), np.uint64)])


# -- runs over three processes ------------------------------------------------------------------------
def test_run_zmq_standalone_matches_numpy(rng):
    x, y = rng.normal(size=(5, 7)), rng.normal(size=(7, 3))
    run = run_zmq(_matmul, x, y)
    assert np.max(np.abs(run.outputs[0] - x @ y)) <= 9 * 2.0**-16
    assert run.top("matmul")[0].rounds == 1


def test_silent_peer_gives_timeout_naming_it(zmq_parties):
    with pytest.raises(PeerTimeout, match=r"no message within 1 s \(peer p1\)"):
        zmq_parties.run(_wait_for_p1, timeout=1.0)


def test_error_on_one_party_stops_the_others_at_once_and_next_run_is_clean(zmq_parties, rng):
    # Without the abort message P0 and P2 would raise PeerTimeout after 30 s (and that,
    # not the ValueError, would be reported first).
    with pytest.raises(ValueError, match="bad input on p1"):
        zmq_parties.run(_p1_fails, timeout=30.0)
    x, y = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    run = zmq_parties.run(_matmul, x, y)
    assert np.allclose(run.outputs[1], x @ y, atol=1e-3)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_dead_or_frozen_peer_is_named_before_the_timeout(sig):
    # A killed process closes its TCP connections; a frozen one stops answering heartbeats
    # (2 s here). Either way the others raise PeerFailed naming p1 instead of PeerTimeout.
    with ZmqParties(heartbeat_s=0.3, heartbeat_timeout_s=1.5) as parties:
        try:
            with pytest.raises(PeerFailed) as err:
                parties.run(_p1_dies, sig, timeout=20.0)
            assert err.value.peer == "p1"
            assert "connection lost" in str(err.value) or "exited" in str(err.value)
        finally:
            os.kill(parties.pids[1], signal.SIGKILL)


def test_wire_byte_model_matches_kernel_tcp_counters(zmq_parties):
    # Everything sent to p1 in one run (p0: 100k elements, p2: 1k) as the kernel counted it,
    # against the engine's wire-byte model (plus the one seed message p0 sends in setup).
    n0, n2 = 100_000, 1_000
    port = zmq_parties.ports[1]
    zmq_parties.run(_send_to_p1, n0, n2)
    before = _tcp_bytes_sent_to(port)
    run = zmq_parties.run(_send_to_p1, n0, n2)
    after = _tcp_bytes_sent_to(port)
    (stats,) = run.stats
    setup = wire.wire_size(wire.encode(b"s" * 8, 0, 1, [np.zeros(16, np.uint8)]))[1]
    model = stats.wire_per_link["p0->p1"] + stats.wire_per_link["p2->p1"] + setup
    assert stats.bytes_per_link == {"p0->p1": 8 * n0, "p2->p1": 8 * n2}
    assert 0 <= (after - before) - model <= 200  # equal, unless a heartbeat fell inside the run


def _tcp_bytes_sent_to(port):
    out = subprocess.run(["ss", "-tinH", "dst", f"127.0.0.1:{port}"], capture_output=True, text=True,
                         check=True).stdout
    return sum(int(m) for m in re.findall(r"bytes_sent:(\d+)", out))


# -- the transport's authentication, in one process -------------------------------------------------
@pytest.fixture
def keydir(tmp_path):
    generate(tmp_path, ["p0", "p1", "p2", "eve", "mallory"])
    return tmp_path


def _transport(keydir, ports, party, key_name=None, clients=None):
    peers = {
        q: PeerAddress(q, f"tcp://127.0.0.1:{ports[q]}", load_public(public_path(keydir, f"p{q}")))
        for q in range(3)
        if q != party
    }
    keys = load_pair(secret_path(keydir, key_name or f"p{party}"))
    return ZmqTransport(party, keys, f"tcp://127.0.0.1:{ports[party]}", peers, clients,
                        ZmqOptions(heartbeat_s=0.3, heartbeat_timeout_s=1.5))


def test_peer_with_a_wrong_key_is_refused_on_both_sides(keydir):
    ports = free_ports(3)
    t0 = _transport(keydir, ports, 0)
    t1 = _transport(keydir, ports, 1, key_name="mallory")  # p1's address, someone else's key
    try:
        with pytest.raises(ConnectError, match=r"p1 cannot connect to p0 .*refused our key"):
            t1.wait_connected(10)
        with pytest.raises(ConnectError, match=r"p0 cannot connect to p1 .*handshake failed"):
            t0.wait_connected(10)
        assert t0.peer_status()["p1"].startswith("refused")
    finally:
        t0.close()
        t1.close()


def test_sender_identity_comes_from_the_key_not_the_message(keydir):
    # A known client sending a party-shaped message is still only a client; an unknown key
    # gets no message through at all.
    ports = free_ports(3)
    eve = load_pair(secret_path(keydir, "eve"))
    t0 = _transport(keydir, ports, 0, clients={eve.public: "eve"})
    zctx = zmq.Context()
    socks = []
    try:
        for name in ("eve", "mallory"):
            kp = load_pair(secret_path(keydir, name))
            s = zctx.socket(zmq.DEALER)
            s.curve_publickey, s.curve_secretkey = kp.public, kp.secret
            s.curve_serverkey = load_public(public_path(keydir, "p0"))
            s.linger = 0
            socks.append(s)
            s.connect(f"tcp://127.0.0.1:{ports[0]}")
            s.send_multipart(wire.encode(b"sess", 0, 1, [np.arange(3, dtype=np.uint64)]))
        event = t0.next_event(5.0)
        assert isinstance(event, ClientRequest) and event.client == "eve"
        assert msgpack.unpackb(bytes(event.frames[0].buffer))["s"] == b"sess"
        assert t0.next_event(0.5) is None  # mallory's message never arrives
    finally:
        zctx.destroy(linger=0)
        t0.close()


_DRIVER = """
import sys, time
from spp_runtime.launch.parties import ZmqParties

def long_program(ctx):
    time.sleep(120)

if __name__ == "__main__":
    with ZmqParties() as parties:
        print(" ".join(map(str, parties.pids)), flush=True)
        parties.run(long_program, timeout=300.0)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to see the party processes")
def test_party_processes_die_with_a_killed_driver(tmp_path):
    # A test run or script killed with SIGKILL must not leave its three parties computing.
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in driver.stdout.readline().split()]
        assert len(pids) == 3 and all(_alive(p) for p in pids)
        time.sleep(0.5)  # inside long_program now
        driver.kill()
        driver.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "party processes outlived their driver"
    finally:
        driver.kill()


# -- flow control ---------------------------------------------------------------------------------
_MB = 1 << 20


def _helper_runs_ahead(ctx, n, pause_s):
    """P2 deals n 1-MB messages to P1, which starts consuming only after pause_s."""
    if ctx.party == 2:
        for i in range(n):
            ctx.send(1, np.full(_MB // 8, i, dtype=np.uint64), offline=True)
        return time.monotonic()
    if ctx.party == 1:
        time.sleep(pause_s)
        started = time.monotonic()
        got = [int(ctx.recv(2, expect=[((_MB // 8,), np.uint64)])[0][0]) for _ in range(n)]
        return started, got
    return None


def _big_exchanges(ctx, n, elements):
    if ctx.party == 2:
        return None
    peer = 1 - ctx.party
    total = 0
    for i in range(n):
        (got,) = ctx.exchange(peer, np.full(elements, i + ctx.party, dtype=np.uint64))
        total += int(got[0])
    return total


def test_flow_control_holds_the_helper_back_until_the_receiver_consumes():
    # Without flow control P2 would have sent everything (and P1 buffered 40 MB) long before
    # P1 started reading; with a 4 MB window it can be at most ~4 MB ahead.
    with ZmqParties(flow_window_bytes=4 * _MB) as parties:
        run = parties.run(_helper_runs_ahead, 40, 1.5, timeout=60.0)
        p2_done = run.outputs[2]
        p1_started, got = run.outputs[1]
        assert got == list(range(40))  # in order, nothing lost
        assert p2_done >= p1_started, "the helper finished dealing before P1 consumed anything"


def test_flow_control_never_deadlocks_exchanges_larger_than_the_window():
    with ZmqParties(flow_window_bytes=1 * _MB) as parties:
        run = parties.run(_big_exchanges, 6, 3 * _MB // 8, timeout=60.0)
        assert run.outputs[0] == sum(i + 1 for i in range(6))
        assert run.outputs[1] == sum(range(6))
