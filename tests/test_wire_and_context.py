import msgpack
import numpy as np
import pytest

from spp_runtime.engine.context import PartyContext
from spp_runtime.engine.local import run_local
from spp_runtime.errors import PeerFailed, PeerTimeout, ProtocolError
from spp_runtime.transport import wire
from spp_runtime.transport.inprocess import InProcessHub

SESSION = b"s1"


def test_encode_decode_roundtrip():
    arrs = [np.arange(6, dtype=np.uint64).reshape(2, 3), np.array([1, 0, 1], dtype=np.uint8)]
    frames = wire.encode(SESSION, 4, 2, arrs)
    msg = wire.decode([bytes(f) for f in frames], peer="p1", session=SESSION, max_bytes=10**6)
    assert msg.seq == 4 and msg.round == 2
    for a, b in zip(arrs, msg.arrays):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def _frames(**overrides):
    header = {"v": 1, "s": SESSION, "q": 0, "r": 1, "a": [["uint64", [2]]]}
    header.update(overrides)
    return [msgpack.packb(header, use_bin_type=True), np.zeros(2, np.uint64).tobytes()]


@pytest.mark.parametrize(
    "frames, match",
    [
        ([b"\xc1garbage"], "malformed message header"),
        ([msgpack.packb([1, 2])], "lacks required fields"),
        (_frames(v=99), "unsupported wire version"),
        (_frames(s=b"other"), "another session"),
        (_frames(a=[["object", [2]]]), "disallowed type"),
        (_frames(a=[["uint64", [3]]]), "buffer size does not match"),
        (_frames(a=[["uint64", [2]], ["uint64", [2]]]), "array count"),
        (_frames(q="x"), "malformed sequence"),
    ],
)
def test_decode_rejects_malformed_with_peer_name(frames, match):
    with pytest.raises(ProtocolError, match=match) as info:
        wire.decode(frames, peer="p1", session=SESSION, max_bytes=10**6)
    assert info.value.peer == "p1" and "(peer p1)" in str(info.value)


def test_decode_rejects_oversized():
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        wire.decode(_frames(), peer="p0", session=SESSION, max_bytes=8)


def _pair():
    hub = InProcessHub()
    return [PartyContext(p, hub.transport(p), session=SESSION, timeout=0.5) for p in range(3)]


def test_out_of_order_message_is_rejected():
    c0, c1, _ = _pair()
    c1._transport.send_frames(0, wire.encode(SESSION, 5, 1, [np.zeros(1, np.uint64)]))
    with pytest.raises(ProtocolError, match="out-of-order message: expected sequence 0, got 5"):
        c0.recv(1)


def test_unexpected_shape_is_rejected():
    c0, c1, _ = _pair()
    c1.send(0, np.zeros(3, np.uint64))
    with pytest.raises(ProtocolError, match=r"expected uint64\[2\]"):
        c0.recv(1, expect=[((2,), np.uint64)])


def test_silent_peer_times_out_naming_it():
    c0, _, _ = _pair()
    with pytest.raises(PeerTimeout, match=r"within 0.5 s \(peer p2\)"):
        c0.recv(2)


def test_failure_in_one_party_stops_the_others_fast():
    def prog(ctx):
        if ctx.party == 1:
            raise RuntimeError("boom in p1")
        ctx.recv(1)  # would wait for the timeout without the abort

    import time

    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="boom in p1"):
        run_local(prog, timeout=20)
    assert time.perf_counter() - t0 < 5


def test_rounds_follow_the_dependency_chain():
    def prog(ctx):
        with ctx.record("chain"):
            # p0 -> p1 -> p2 -> p0: three dependent hops
            if ctx.party == 0:
                ctx.send(1, np.zeros(1, np.uint64))
                ctx.recv(2)
            elif ctx.party == 1:
                ctx.recv(0)
                ctx.send(2, np.zeros(1, np.uint64))
            else:
                ctx.recv(1)
                ctx.send(0, np.zeros(1, np.uint64))
        with ctx.record("parallel"):
            # everybody sends to everybody, then receives: one round
            for p in range(3):
                if p != ctx.party:
                    ctx.send(p, np.zeros(2, np.uint64))
            for p in range(3):
                if p != ctx.party:
                    ctx.recv(p)
        with ctx.record("offline"):
            if ctx.party == 2:
                ctx.send(1, np.zeros(4, np.uint64), offline=True)
            if ctx.party == 1:
                ctx.recv(2)

    run = run_local(prog)
    chain, parallel, offline = run.top()
    assert chain.rounds == 3
    assert parallel.rounds == 1 and parallel.bytes_total == 6 * 16
    assert offline.rounds == 0 and offline.offline_bytes == 32 == offline.bytes_total


def test_pairwise_prgs_agree():
    def prog(ctx):
        return {p: ctx.prg(p).uint64(4) for p in range(3) if p != ctx.party}

    outs = run_local(prog).outputs
    for i in range(3):
        for j in range(3):
            if i != j:
                assert np.array_equal(outs[i][j], outs[j][i])
    assert not np.array_equal(outs[0][1], outs[0][2])


def test_peer_failed_is_raised_on_abort():
    hub = InProcessHub()
    c0 = PartyContext(0, hub.transport(0), session=SESSION, timeout=5)
    hub.abort(2)
    with pytest.raises(PeerFailed, match="peer p2"):
        c0.recv(1)
