"""Statistical checks that no single party's view depends on the inputs.

Each check runs a protocol on all-positive and on all-negative inputs (the same magnitudes)
and records, in process, every message each party sends and receives. What a corrupted
party could look at is compared between the two runs, and against the uniform distribution
the security argument predicts:

* values opened between P0 and P1 (the XOR or sum of what a primary sent and received in
  the same exchange), bit by bit and as ring elements;
* everything the helper P2 receives (nothing, for our protocols; for SecureNN's, the masked
  a + r of ShareConvert and PrivateCompare's blinded, permuted Z_p vectors);
* shares the helper deals to P0 and P1.

Thresholds are several standard deviations wide (false alarm well below 1e-3 per check);
a protocol that forgot a mask fails them by orders of magnitude (see
``test_the_checks_catch_an_unmasked_opening``).
"""

from functools import partial

import numpy as np
import pytest

from helpers import chi2_uniform, inputs, ks_uniform, recorder, ring_to_unit
from spp_runtime.engine.local import run_local
from spp_runtime.nn import SecureOps
from spp_runtime.nn.layers import Dense
from spp_runtime.protocols import activations, compare, exponential
from spp_runtime.protocols.baselines.securenn import P
from spp_runtime.protocols.opened_compare import less_than_public

N = 4096
Z_MAX = 5.0  # |z| bound for a fair-coin frequency test
KS_MAX = 2.6  # bound on sqrt(n) * KS distance (p ~ 3e-6 per check; ~100 checks per run)
CHI_MAX = 6.0  # bound on the standardised chi-square


def _run(fn, x, variant):
    wrap, recs = recorder()
    run_local(partial(_apply, fn=fn, x=x, variant=variant), wrap_transport=wrap)
    return {r.party: r for r in recs}


def _apply(ctx, fn, x, variant):
    fn(inputs(ctx, x), variant)


def _skip_setup(party, peer, msgs, sent):
    """Drop the session set-up message (the lower id sends the pairwise seed)."""
    first_is_seed = (party < peer) if sent else (peer < party)
    return msgs[1:] if first_is_seed else msgs


def _received(rec, peer):
    """Every array the party received from ``peer`` after the set-up."""
    msgs = _skip_setup(rec.party, peer, rec.received_messages[peer], False)
    return [a for m in msgs for a in m]


def _openings(rec, peer):
    """What the party learns in each exchange with ``peer``: XOR of packed bits and sum of
    ring elements it sent and received in the same message position."""
    sent = _skip_setup(rec.party, peer, rec.sent_messages[peer], True)
    got = _skip_setup(rec.party, peer, rec.received_messages[peer], False)
    assert len(sent) == len(got)
    bits, rings = [], []
    for s_msg, r_msg in zip(sent, got):
        for s, r in zip(s_msg, r_msg):
            if s.shape != r.shape:
                continue  # and_private: P0 and P1 send different widths, each padded
            if s.dtype == np.uint8:
                bits.append(np.unpackbits(s ^ r))
            else:
                rings.append(s + r)
    return bits, rings


def _coin_z(bits):
    return (bits.mean() - 0.5) * 2 * np.sqrt(bits.size)


def _check_openings(views_pos, views_neg):
    for party, peer in ((0, 1), (1, 0)):
        bits_p, rings_p = _openings(views_pos[party], peer)
        bits_n, rings_n = _openings(views_neg[party], peer)
        assert len(bits_p) == len(bits_n) and len(rings_p) == len(rings_n)
        assert bits_p or rings_p
        for bp, bn in zip(bits_p, bits_n):
            assert abs(_coin_z(bp)) < Z_MAX and abs(_coin_z(bn)) < Z_MAX
            diff = (bp.mean() - bn.mean()) * 2 * np.sqrt(bp.size / 2)
            assert abs(diff) < Z_MAX
        for rp, rn in zip(rings_p, rings_n):
            for r in (rp, rn):
                assert np.sqrt(r.size) * ks_uniform(ring_to_unit(r)) < KS_MAX
                assert abs(_coin_z(((r >> np.uint64(63)) & np.uint64(1)).astype(np.uint8))) < Z_MAX


def _equal_to_one(t, variant):
    return compare.equal(t, 1.0)


def _outside_16(t, variant):
    return less_than_public(t, [16.0, -16.0])


def _exp(t, variant):
    return exponential.exp(t)


def _exp_nonpositive(t, variant):
    return exponential.exp_nonpositive(t)


def _sigmoid(t, variant):
    return activations.sigmoid(t)


def _dense_step(t, variant):
    """A dense layer's forward and backward pass on x, W and dy made from t: x, W and dy are
    each opened once (masked operands) and reused by the three products."""
    x = t.reshape(64, 64)
    ops, layer = SecureOps(t.ctx), Dense(64, 64)
    p = {"W": x.T * 0.01, "b": x[0] * 0.0}
    _, cache = layer.forward(ops, p, x)
    layer.backward(ops, p, cache, x * 0.1, need_dx=True, step=1e-3)


@pytest.mark.parametrize(
    "fn",
    [compare.drelu, compare.relu, compare.msb, _equal_to_one, _outside_16, _exp, _exp_nonpositive, _sigmoid, _dense_step],
)
def test_default_views_are_uniform_and_sign_independent(rng, fn):
    mags = rng.uniform(2.0**-10, 1000, size=N)
    views = {s: _run(fn, s * mags, "default") for s in (1, -1)}
    for s in (1, -1):
        helper = views[s][2]
        assert not any(_received(helper, p) for p in (0, 1))  # P2 receives nothing at all
    _check_openings(views[1], views[-1])
    # P1's offline messages from P2 (dealt shares minus P0's PRG values) are uniform too
    for s in (1, -1):
        dealt = _received(views[s][1], 2)
        ring = [a for a in dealt if a.dtype == np.uint64]
        packed = [np.unpackbits(a) for a in dealt if a.dtype == np.uint8]
        assert ring or packed
        if packed:  # dealt bits (none for a dense layer's products)
            assert abs(_coin_z(np.concatenate(packed))) < Z_MAX
        for r in ring:
            assert np.sqrt(r.size) * ks_uniform(ring_to_unit(r)) < KS_MAX


def _pc_vectors(helper):
    """P2's reconstruction of each PrivateCompare's vector d = d0 + d1 mod p, per call."""
    d0 = [a for a in _received(helper, 0) if a.dtype == np.uint8]
    d1 = [a for a in _received(helper, 1) if a.dtype == np.uint8]
    return [(a.astype(np.int64) + b) % P for a, b in zip(d0, d1)]


@pytest.mark.parametrize("fn", [compare.drelu, compare.relu])
def test_securenn_helper_view_is_sign_independent(rng, fn):
    mags = rng.uniform(2.0**-10, 1000, size=N // 2)
    views = {s: _run(fn, s * mags, "securenn") for s in (1, -1)}
    zero_rates = {}
    for s in (1, -1):
        helper = views[s][2]
        masked = [a + b for a, b in zip(
            [a for a in _received(helper, 0) if a.dtype == np.uint64],
            [a for a in _received(helper, 1) if a.dtype == np.uint64],
        )]
        assert len(masked) == 1  # ShareConvert's a + r
        assert np.sqrt(masked[0].size) * ks_uniform(ring_to_unit(masked[0])) < KS_MAX
        vectors = _pc_vectors(helper)
        assert len(vectors) == 2  # ShareConvert's and ComputeMSB's PrivateCompare
        rates = []
        for d in vectors:
            zero = d == 0
            has_zero = zero.any(axis=-1)
            assert zero.sum(axis=-1).max() <= 1  # at most one zero per vector
            rates.append(has_zero.mean())
            assert abs(_coin_z(has_zero.astype(np.uint8))) < Z_MAX  # beta hides the result
            assert chi2_uniform(np.argmax(zero[has_zero], axis=-1), 64) < CHI_MAX  # permuted
            assert chi2_uniform(d[~zero] - 1, P - 1) < CHI_MAX  # blinded by s_i
        zero_rates[s] = rates
    for a, b in zip(zero_rates[1], zero_rates[-1]):
        assert abs(a - b) * 2 * np.sqrt(mags.size / 2) < Z_MAX


def test_securenn_primaries_views_are_uniform(rng):
    mags = rng.uniform(2.0**-10, 1000, size=N // 2)
    views = {s: _run(compare.relu, s * mags, "securenn") for s in (1, -1)}
    for s in (1, -1):
        for party in (0, 1):
            dealt = _received(views[s][party], 2)
            zp = [a for a in dealt if a.dtype == np.uint8]  # Z_p shares of x's bits
            assert zp and all(chi2_uniform(a, P) < CHI_MAX for a in zp)
            for a in dealt:
                if a.dtype == np.uint64 and a.size >= 1000:
                    assert np.sqrt(a.size) * ks_uniform(ring_to_unit(a)) < KS_MAX
    _check_openings(views[1], views[-1])


def _leaky(ctx, x, variant):
    """A broken 'protocol' that opens the sign bit's shares without a mask."""
    from spp_runtime.protocols.boolean import exchange_bits

    t = inputs(ctx, x)
    if not ctx.is_helper:
        exchange_bits(ctx, [(t.share >> np.uint64(63)).astype(np.uint8)])


def test_the_checks_catch_an_unmasked_opening(rng):
    mags = rng.uniform(1, 1000, size=N)
    wrap_p, recs_p = recorder()
    wrap_n, recs_n = recorder()
    run_local(partial(_leaky, x=mags, variant=""), wrap_transport=wrap_p)
    run_local(partial(_leaky, x=-mags, variant=""), wrap_transport=wrap_n)
    with pytest.raises(AssertionError):
        _check_openings({r.party: r for r in recs_p}, {r.party: r for r in recs_n})
