"""The helper-assisted boolean toolkit: XOR-shared bits, AND gates, bit injection, B2A,
select, bitwise addition. Correctness against numpy and exact costs against the counters.

Programs are module-level functions (bound with functools.partial) so that the same tests
can run over real server processes.
"""

from functools import partial

import numpy as np
import pytest

from helpers import inputs, private_bits
from spp_runtime.protocols.boolean import (
    BitTensor, add_private, and_private, b2a, band, band_fanout, bits_mul, inject_bits, inject_bits_and,
    select_bits,
)
from spp_runtime.tensor import reveal

N = 64  # a multiple of 8: packed bit counts are exact in bytes


def _gates(ctx, xb, yb):
    x = private_bits(ctx, xb, 0)
    y = private_bits(ctx, yb, 1)
    return (
        band(x, y).reveal(), (x ^ y).reveal(), (~x).reveal(), (x ^ yb).reveal(),
        reveal(b2a(x ^ y)), x[::2].reveal(), BitTensor.concatenate([x, y], axis=0).reveal(),
    )


def test_gates_xor_not_and_b2a_match_numpy(run3, rng):
    xb, yb = rng.integers(0, 2, (3, N)).astype(np.uint8), rng.integers(0, 2, (3, N)).astype(np.uint8)
    run = run3(partial(_gates, xb=xb, yb=yb))
    a, xo, nx, xp, ring, sl, cat = run.outputs[0]
    assert np.array_equal(a, xb & yb) and np.array_equal(xo, xb ^ yb) and np.array_equal(nx, 1 - xb)
    assert np.array_equal(xp, xb ^ yb) and np.array_equal(ring, (xb ^ yb).astype(np.uint64))
    assert np.array_equal(sl, xb[::2]) and np.array_equal(cat, np.concatenate([xb, yb]))
    assert np.array_equal(run.outputs[1][0], xb & yb) and run.outputs[2] == (None,) * 7
    n = xb.size
    (st,) = run.top("band")
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": 2 * n // 8, "p1->p0": 2 * n // 8, "p2->p1": n // 8}
    (st,) = run.top("b2a")
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": n // 8, "p1->p0": n // 8, "p2->p1": 8 * n}


def _fanout(ctx, xb, yb, zb):
    x, y, z = (private_bits(ctx, v, p) for v, p in ((xb, 0), (yb, 1), (zb, 1)))
    outs = band_fanout(x, [((Ellipsis, None), y), ((Ellipsis, slice(0, 2)), z)])
    return [o.reveal() for o in outs]


def test_band_fanout_opens_x_once(run3, rng):
    xb = rng.integers(0, 2, (N, 4)).astype(np.uint8)
    yb = rng.integers(0, 2, (N, 4, 3)).astype(np.uint8)
    zb = rng.integers(0, 2, (N, 2)).astype(np.uint8)
    run = run3(partial(_fanout, xb=xb, yb=yb, zb=zb))
    p1, p2 = run.outputs[0]
    assert np.array_equal(p1, xb[..., None] & yb) and np.array_equal(p2, xb[:, :2] & zb)
    (st,) = run.top("band_fanout")
    each = (xb.size + yb.size + zb.size) // 8
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": each, "p1->p0": each, "p2->p1": (yb.size + zb.size) // 8}


def _private_and(ctx, xs, ys, pairs):
    shape = xs.shape[:-1]
    z = and_private(ctx, xs if ctx.party == 0 else None, ys if ctx.party == 1 else None, pairs,
                    shape, xs.shape[-1], ys.shape[-1])
    return z.reveal()


def test_and_private_any_pairs(run3, rng):
    xs = rng.integers(0, 2, (N, 5)).astype(np.uint8)
    ys = rng.integers(0, 2, (N, 3)).astype(np.uint8)
    pairs = (np.array([0, 0, 4, 2, 1, 3]), np.array([0, 2, 1, 1, 2, 0]))
    run = run3(partial(_private_and, xs=xs, ys=ys, pairs=pairs))
    assert np.array_equal(run.outputs[0], xs[:, pairs[0]] & ys[:, pairs[1]])
    (st,) = run.top("and_private")
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": 5 * N // 8, "p1->p0": 3 * N // 8, "p2->p1": 6 * N // 8}


def _inject(ctx, bb, x, y, w):
    bits = private_bits(ctx, bb, 0)
    xs = inputs(ctx, x, y, w)
    injected, (px, py) = inject_bits(bits, xs[:2])
    (pw,) = bits_mul(injected, xs[2])
    return reveal(injected.ring()), px.reveal(), py.reveal(), pw.reveal()


def test_inject_bits_products_and_later_products(run3, rng):
    bb = rng.integers(0, 2, (N, 4)).astype(np.uint8)
    x = rng.normal(size=(N, 4)) * 100
    y = rng.normal(size=(N, 1)) * 1e6  # one value shared by a row of bits
    w = rng.normal(size=(N, 1))
    run = run3(partial(_inject, bb=bb, x=x, y=y, w=w))
    ring, px, py, pw = run.outputs[0]
    q = lambda v: np.round(v * 2**16) / 2**16  # noqa: E731 - the fixed-point grid
    assert np.array_equal(ring, bb.astype(np.uint64))
    assert np.array_equal(px, bb * q(x)) and np.array_equal(py, bb * q(y))  # exact: no truncation
    assert np.array_equal(pw, bb * q(w))
    (st,) = run.top("inject_bits")
    each = bb.size // 8 + 8 * (x.size + y.size)
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": each, "p1->p0": each, "p2->p1": 8 * bb.size * 3}
    (st,) = run.top("bits_mul")
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": 8 * w.size, "p1->p0": 8 * w.size, "p2->p1": 8 * bb.size}


def _inject_and(ctx, bb, yb, x):
    bits = private_bits(ctx, bb, 0)
    ys = private_bits(ctx, yb, 1)
    injected, (px,), (anded,) = inject_bits_and(bits, [inputs(ctx, x)], [((Ellipsis, None), ys)])
    return reveal(injected.ring()), px.reveal(), anded.reveal()


def test_inject_bits_and_shares_the_opened_bit(run3, rng):
    bb = rng.integers(0, 2, (N, 2)).astype(np.uint8)
    yb = rng.integers(0, 2, (N, 2, 5)).astype(np.uint8)
    x = rng.normal(size=(N, 2))
    run = run3(partial(_inject_and, bb=bb, yb=yb, x=x))
    ring, px, anded = run.outputs[0]
    assert np.array_equal(ring, bb.astype(np.uint64)) and np.array_equal(anded, bb[..., None] & yb)
    assert np.array_equal(px, bb * np.round(x * 2**16) / 2**16)
    (st,) = run.top("inject_bits_and")
    each = (bb.size + yb.size) // 8 + 8 * x.size
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": each, "p1->p0": each, "p2->p1": 16 * bb.size + yb.size // 8}


def _select(ctx, bb, x, y):
    a, b = inputs(ctx, x, y)
    bits = private_bits(ctx, bb, 1)
    return select_bits(bits, a, b).reveal(), select_bits(bits, a).reveal()


def test_select_bits_is_exact_and_costs_32_bytes(run3, rng):
    bb = rng.integers(0, 2, N).astype(np.uint8)
    x, y = rng.normal(size=N) * 1e4, rng.normal(size=N) * 1e4
    run = run3(partial(_select, bb=bb, x=x, y=y))
    sel, sel0 = run.outputs[0]
    q = lambda v: np.round(v * 2**16) / 2**16  # noqa: E731
    assert np.array_equal(sel, np.where(bb == 1, q(x), q(y)))
    assert np.array_equal(sel0, np.where(bb == 1, q(x), 0.0))
    for st in run.top("select_bits"):
        assert st.rounds == 1
        assert st.bytes_per_link == {"p0->p1": N // 8 + 8 * N, "p1->p0": N // 8 + 8 * N, "p2->p1": 16 * N}
        assert st.bytes_total == 32.25 * N


def _add(ctx, a, b, nbits):
    return add_private(ctx, a if ctx.party == 0 else None, b if ctx.party == 1 else None, a.shape, nbits).reveal()


@pytest.mark.parametrize("nbits", [1, 5, 8, 13])
def test_add_private_gives_the_bits_of_the_sum(run3, rng, nbits):
    a = rng.integers(0, 2**63, N, dtype=np.uint64)
    b = rng.integers(0, 2**63, N, dtype=np.uint64)
    a[:3], b[:3] = [0, 2**nbits - 1, 2**nbits - 1], [0, 1, 2**nbits - 1]  # no carry, long carries
    run = run3(partial(_add, a=a, b=b, nbits=nbits))
    s = a + b
    want = ((s[:, None] >> np.arange(nbits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    assert np.array_equal(run.outputs[0], want)
    (st,) = run.top("add_private")
    levels = [sum((i // lv) % 2 for i in range(nbits)) for lv in (1 << k for k in range(nbits.bit_length())) if lv < nbits]
    each = nbits + 3 * sum(levels)
    assert st.rounds == 1 + len(levels)
    assert st.bytes_per_link == {"p0->p1": each * N // 8, "p1->p0": each * N // 8,
                                 "p2->p1": (nbits + 2 * sum(levels)) * N // 8}


def _guards(ctx):
    with pytest.raises(ValueError, match="helper holds no bit shares|hold bit shares"):
        BitTensor(ctx, None if not ctx.is_helper else np.zeros(2, np.uint8))
    return repr(BitTensor.public(ctx, np.ones(3, np.uint8)) if not ctx.is_helper else None)


def test_bit_tensor_guards_and_repr(run3):
    assert run3(_guards).outputs[0] == "BitTensor(party=p0, shape=(3,))"
