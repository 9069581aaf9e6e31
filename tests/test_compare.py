"""Default (ours) and SecureNN comparison family: correctness, exact costs, views."""

import numpy as np
import pytest

from helpers import ULP, edge_values, inputs, recorder
from spp_runtime.encoding import FixedPoint
from spp_runtime.engine.local import run_local
from spp_runtime.protocols import compare, securenn
from spp_runtime.protocols.boolean import BitTensor, b2a, band, select_bits

FXP = FixedPoint()


def _reveal_ring(t):
    from spp_runtime.protocols.basic import reveal

    return reveal(t)


def test_msb_is_exact_on_every_kind_of_ring_element(rng):
    raw = rng.integers(0, 2**64, size=4000, dtype=np.uint64)
    raw[:6] = [0, 1, 2**63 - 1, 2**63, 2**64 - 1, 2**62]

    def prog(ctx):
        return compare.msb_bits(inputs(ctx, raw, encoded=True)).reveal()

    got = run_local(prog).outputs[0]
    assert np.array_equal(got, (raw >> np.uint64(63)).astype(np.uint8))


@pytest.mark.parametrize("variant", ["default", "securenn"])
def test_drelu_relu_on_edge_and_random_values(rng, variant):
    x = np.concatenate([edge_values(), rng.normal(size=500) * 100])
    if variant == "securenn":  # SecureNN looks at MSB(2a): |x| < 2^46 for 16 fractional bits
        x = x[np.abs(x) < 2.0**46]
    want_d = (FXP.decode(FXP.encode(x)) >= 0).astype(float)

    def prog(ctx):
        t = inputs(ctx, x)
        return _reveal_ring(compare.drelu(t, variant)), compare.relu(t, variant).reveal()

    d, r = run_local(prog).outputs[0]
    assert np.array_equal(d.astype(np.int64), want_d)
    assert np.max(np.abs(r - np.maximum(FXP.decode(FXP.encode(x)), 0))) <= ULP / 2


def test_drelu_at_the_ring_extremes():
    # the largest and smallest representable values, as raw ring elements
    raw = np.array([2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1, 0, 1], dtype=np.uint64)

    def prog(ctx):
        t = inputs(ctx, raw, encoded=True)
        return _reveal_ring(compare.drelu(t)), _reveal_ring(compare.relu(t))

    d, r = run_local(prog).outputs[0]
    signed = raw.view(np.int64)
    assert np.array_equal(d, (signed >= 0).astype(np.uint64))
    assert np.array_equal(r, np.where(signed >= 0, raw, 0))


def test_less_than_select_maximum_and_bits(rng):
    x, y = rng.normal(size=300), rng.normal(size=300)
    y[:10] = x[:10]  # ties

    def prog(ctx):
        a, b = inputs(ctx, x, y)
        lt = compare.less_than(a, b)
        return (
            _reveal_ring(lt),
            compare.maximum(a, b).reveal(),
            compare.select(lt, a, b).reveal(),
            compare.select(compare.less_than_bits(a, b), a, b).reveal(),
        )

    lt, mx, sel_ring, sel_bits = run_local(prog).outputs[0]
    xq, yq = FXP.decode(FXP.encode(x)), FXP.decode(FXP.encode(y))
    assert np.array_equal(lt, (xq < yq).astype(np.uint64))
    assert np.max(np.abs(mx - np.maximum(xq, yq))) == 0
    assert np.max(np.abs(sel_ring - np.where(xq < yq, xq, yq))) == 0
    assert np.max(np.abs(sel_bits - np.where(xq < yq, xq, yq))) == 0


def test_boolean_gates_and_b2a(rng):
    xb, yb = rng.integers(0, 2, 1000).astype(np.uint8), rng.integers(0, 2, 1000).astype(np.uint8)

    def prog(ctx):
        x = BitTensor.private(ctx, xb if ctx.party == 0 else None, 0, xb.shape)
        y = BitTensor.private(ctx, yb if ctx.party == 1 else None, 1, yb.shape)
        return band(x, y).reveal(), (x ^ y).reveal(), (~x).reveal(), _reveal_ring(b2a(x ^ y))

    a, xo, nx, ring = run_local(prog).outputs[0]
    assert np.array_equal(a, xb & yb) and np.array_equal(xo, xb ^ yb)
    assert np.array_equal(nx, 1 - xb) and np.array_equal(ring, (xb ^ yb).astype(np.uint64))


N = 64  # a multiple of 8, so packed bit counts are exact


def _costs(prog):
    run = run_local(prog)
    return {s.name: s for s in run.top()}


def test_default_costs_match_docstrings(rng):
    x = rng.normal(size=N)

    def prog(ctx):
        t = inputs(ctx, x)
        compare.msb_bits(t)
        compare.drelu(t)
        compare.relu(t)

    c = _costs(prog)
    # msb_bits: 182 opened bits each way, 211 helper bits, per element (see compare.py)
    assert c["msb_bits"].rounds == 6
    assert c["msb_bits"].bytes_per_link == {"p0->p1": 182 * N // 8, "p1->p0": 182 * N // 8, "p2->p1": 211 * N // 8}
    assert c["drelu"].rounds == 7
    assert c["drelu"].bytes_per_link == {"p0->p1": 183 * N // 8, "p1->p0": 183 * N // 8, "p2->p1": 211 * N // 8 + 8 * N}
    assert c["relu"].rounds == 7
    assert c["relu"].bytes_per_link == {
        "p0->p1": 183 * N // 8 + 8 * N, "p1->p0": 183 * N // 8 + 8 * N, "p2->p1": 211 * N // 8 + 16 * N
    }
    assert c["relu"].bytes_total * 2 <= 704 * N and c["drelu"].bytes_total * 2 <= 664 * N


def test_securenn_costs_match_the_paper(rng):
    x = rng.normal(size=N)

    def prog(ctx):
        t = inputs(ctx, x)
        compare.drelu(t, "securenn")
        compare.relu(t, "securenn")

    run = run_local(prog)
    by = {}
    for s in run.stats:
        by.setdefault(s.name, s)
    assert by["private_compare"].bytes_total == 2 * 64 * N  # 2 l log p bits
    assert by["share_convert"].rounds == 4 and by["share_convert"].bytes_total == 2432 * N // 8
    assert by["compute_msb"].rounds == 4 and by["compute_msb"].bytes_total == 2880 * N // 8
    top = {s.name: s for s in run.top()}
    assert top["drelu"].rounds == 8 and top["drelu"].bytes_total == 664 * N
    assert top["relu"].rounds == 9 and top["relu"].bytes_total == 704 * N


def _views(x, variant, fn):
    """What each party received during ``fn`` (session set-up messages excluded)."""
    wrap, recs = recorder()

    def prog(ctx):
        fn(inputs(ctx, x), variant)

    run_local(prog, wrap_transport=wrap)
    views = {}
    for r in recs:
        # set-up: each party received one seed message from every lower-numbered party
        views[r.party] = {peer: msgs[1:] if peer < r.party else msgs for peer, msgs in r.received.items()}
    return views


def _bits_of(arrays):
    return np.unpackbits(np.concatenate([a.reshape(-1).view(np.uint8) for a in arrays]))


@pytest.mark.parametrize("fn", [compare.drelu, compare.relu])
def test_default_views_do_not_depend_on_the_sign(rng, fn):
    pos = rng.uniform(1, 1000, size=4096)
    views = {s: _views(s * pos, "default", fn) for s in (1, -1)}
    for sign in (1, -1):
        assert all(len(v) == 0 for v in views[sign][2].values())  # P2 receives nothing
    for party, peer in ((0, 1), (1, 0)):
        # every bit a primary receives from the other is a fair coin, for either sign
        means = [_bits_of(views[s][party][peer]).mean() for s in (1, -1)]
        n = _bits_of(views[1][party][peer]).size
        assert abs(means[0] - 0.5) < 5 / np.sqrt(n) and abs(means[1] - 0.5) < 5 / np.sqrt(n)
        assert abs(means[0] - means[1]) < 7 / np.sqrt(n)


def test_securenn_helper_view_does_not_depend_on_the_sign(rng):
    pos = rng.uniform(1, 1000, size=2048)
    stats = {}
    for sign in (1, -1):
        p2 = _views(sign * pos, "securenn", compare.drelu)[2]
        pcs = [a for a in p2[0] if a.dtype == np.uint8]  # PrivateCompare messages from P0
        pcs1 = [a for a in p2[1] if a.dtype == np.uint8]
        has_zero = [((a.astype(int) + b) % 67 == 0).any(axis=-1).mean() for a, b in zip(pcs, pcs1)]
        masked = [a for a in p2[0] if a.dtype == np.uint64]  # a + r, uniform in the ring
        top_bits = np.concatenate([(m >> np.uint64(63)) for m in masked]).mean()
        stats[sign] = (has_zero, top_bits)
    for sign in (1, -1):
        has_zero, top = stats[sign]
        assert all(abs(h - 0.5) < 0.05 for h in has_zero)  # beta hides the comparison result
        assert abs(top - 0.5) < 0.05
