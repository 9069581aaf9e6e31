"""The 3-round sign bit: many-input ANDs in one round, the two-round carry over wide leaves,
and products with the opened value; correctness against numpy and exact costs."""

from functools import partial

import numpy as np
from helpers import inputs

from spp_runtime.protocols import wide_compare as wc
from spp_runtime.protocols.boolean import BitTensor
from spp_runtime.protocols.opened_compare import open_masked
from spp_runtime.tensor import reveal

N = 64  # a multiple of 8: packed bit counts are exact in bytes
TERMS_A = ((0, 1), (1, 2, 3), (0, 1, 2, 3, 4), (4,), (2, 4))
TERMS_B = ((0, 1, 2), (2,))


def _band_many(ctx, a, b):
    def share(bits):
        if ctx.is_helper:
            return BitTensor(ctx, None, bits.shape)
        pad = ctx.prg(1 - ctx.party).bits(bits.shape)  # a pad the two primaries share
        return BitTensor(ctx, bits ^ pad if ctx.party == 0 else pad)

    x, y = share(a), share(b)
    pa, pb = wc.band_many(ctx, [(x, TERMS_A), (y, TERMS_B)])
    return pa.reveal(), pb.reveal()


def test_band_many_products_and_exact_cost(run_any, rng):
    a = rng.integers(0, 2, (N, 5), dtype=np.uint8)
    b = rng.integers(0, 2, (3, N, 3), dtype=np.uint8)
    a[:32] = 1  # every product 1 on these rows
    run = run_any(partial(_band_many, a=a, b=b))
    pa, pb = run.outputs[0]
    for got, bits, terms in ((pa, a, TERMS_A), (pb, b, TERMS_B)):
        want = np.stack([np.bitwise_and.reduce(bits[..., list(t)], axis=-1) for t in terms], axis=-1)
        assert np.array_equal(got, want)
    (st,) = run.top("band_many")
    # dealt: the subsets of two or more masks some term needs: A 26 (all of 5 bits), B 4
    dealt_a = 2**5 - 5 - 1
    assert wc.band_many_cost(5, TERMS_A) == (5, dealt_a) and wc.band_many_cost(3, TERMS_B) == (3, 4)
    online = (5 * N + 3 * 3 * N) // 8
    assert st.rounds == 1
    assert st.bytes_per_link == {"p0->p1": online, "p1->p0": online, "p2->p1": (dealt_a * N + 4 * 3 * N) // 8}


def _msb_wide(ctx, raw, offsets):
    t = inputs(ctx, raw, encoded=True)
    opened = open_masked(t)
    bits = wc.msb_wide(opened, offsets)
    injected, prod, _ = wc.mul_opened(~bits[0], opened)
    return bits.reveal(), reveal(prod), reveal(injected.ring())


def _ring_edges(rng, n):
    raw = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    edges = [0, 1, 2, 2**59 - 1, 2**59, 2**60 - 1, 2**60, 2**62, 2**63 - 2, 2**63 - 1, 2**63, 2**63 + 1]
    edges += [2**64 - 2, 2**64 - 1, 2**64 - 2**60, 2**64 - 2**60 - 1]
    raw[: len(edges)] = edges
    # long runs of ones and zeros across group and node boundaries (propagates)
    for i, k in enumerate(range(1, 63, 3)):
        raw[len(edges) + i] = np.uint64((1 << 63) - (1 << k))
        raw[len(edges) + 40 + i] = np.uint64((1 << k) - 1)
    return raw


def test_msb_wide_is_exact_on_the_whole_ring_for_several_offsets(run_any, rng):
    raw = _ring_edges(rng, 4096)
    offsets = [0, 1, -1, 1 << 40, -(1 << 62), (1 << 63) - 1]
    bits, prod, ring = run_any(partial(_msb_wide, raw=raw, offsets=offsets)).outputs[0]
    for got, c in zip(bits, offsets):
        want = ((raw + np.uint64(c % 2**64)) >> np.uint64(63)).astype(np.uint8)
        assert np.array_equal(got, want)
    top = raw >> np.uint64(63)
    assert np.array_equal(ring, np.uint64(1) - top)
    assert np.array_equal(prod, np.where(top == 0, raw, np.uint64(0)))


def test_msb_wide_and_mul_opened_costs_match_the_docstring(run3, rng):
    k = 3
    raw = rng.integers(0, 2**64, size=N, dtype=np.uint64)
    run = run3(partial(_msb_wide, raw=raw, offsets=[0, 5, -5]))
    (st,) = run.top("msb_wide")
    bits = lambda b: b * N // 8
    assert st.rounds == 2
    assert st.bytes_per_link == {"p0->p1": bits(34 * k), "p1->p0": bits(34 * k), "p2->p1": bits(233 + 84 * k)}
    assert st.bytes_total == (29.125 + 19 * k) * N
    (mo,) = run.top("mul_opened")
    assert mo.rounds == 1
    assert mo.bytes_per_link == {"p0->p1": bits(1), "p1->p0": bits(1), "p2->p1": 16 * N}
