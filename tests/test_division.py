"""Division and reciprocal: SecureNN's exact long division and our normalised Newton-Raphson,
against the exact quotient of the fixed-point inputs, with exact costs."""

from functools import partial

import numpy as np
import pytest

from helpers import ULP, inputs
from spp_runtime.encoding import FixedPoint
from spp_runtime.engine.local import run_local
from spp_runtime.protocols.division import divide, long_division, reciprocal, reciprocal_fine
from spp_runtime.tensor import reveal

FXP = FixedPoint()
LO, HI = -8, 15  # the default octaves: b in [2^-8, 2^16)


def q(x):
    return FXP.decode(FXP.encode(x))


def _near_powers(lo, hi):
    p = 2.0 ** np.arange(lo, hi + 2)
    v = np.concatenate([p - ULP, p, p + ULP, p * 1.5, p * 1.999])
    return v[(v >= 2.0**lo) & (v < 2.0 ** (hi + 1))]


def _recip(ctx, b, variant, lo, hi):
    return reciprocal(inputs(ctx, b), variant, lo, hi).reveal()


def test_default_reciprocal_over_its_range(run_any, rng):
    b = np.concatenate([_near_powers(LO, HI), np.exp(rng.uniform(np.log(2.0**LO), np.log(2.0 ** (HI + 1)), 3000))])
    got = run_any(partial(_recip, b=b, variant="default", lo=LO, hi=HI)).outputs[0]
    exact = 1 / q(b)
    assert np.all(np.abs(got - exact) <= ULP + 1e-4 * exact)


def test_default_reciprocal_with_narrow_octaves(run3, rng):
    b = np.concatenate([_near_powers(-1, 3), rng.uniform(0.5, 16, 500)])
    got = run3(partial(_recip, b=b, variant="default", lo=-1, hi=3)).outputs[0]
    exact = 1 / q(b)
    assert np.all(np.abs(got - exact) <= ULP + 1e-4 * exact)


def _fine(ctx, b, bits):
    return reveal(reciprocal_fine(inputs(ctx, b), bits, 0, 10))


def test_reciprocal_fine_keeps_more_bits(run3, rng):
    b = np.concatenate([_near_powers(0, 10), rng.uniform(1, 2048, 500)])
    raw = run3(partial(_fine, b=b, bits=24)).outputs[0]
    got = raw.view(np.int64) / 2.0**24
    exact = 1 / q(b)
    assert np.all(np.abs(got - exact) <= 2.0**-24 + 1e-4 * exact)


def _div(ctx, a, b, variant):
    x, y = inputs(ctx, a, b)
    return divide(x, y, variant).reveal()


def test_default_divide_any_sign_numerator(run_any, rng):
    b = np.concatenate([_near_powers(LO, HI), np.exp(rng.uniform(np.log(2.0**LO), np.log(2.0 ** (HI + 1)), 2000))])
    a = rng.uniform(-100, 100, b.size)
    a[:8] = [0, ULP, -ULP, 1, -1, 2.0**20, -(2.0**20), 100]
    b[:8] = [1, 1, 3, 2.0**-8, 2.0**15, 2.0**15, 2.0**14, 2.0**-8 + ULP]
    got = run_any(partial(_div, a=a, b=b, variant="default")).outputs[0]
    exact = q(a) / q(b)
    assert np.all(np.abs(got - exact) <= 3 * ULP + 1e-4 * np.abs(exact))


def _long(ctx, a, b, int_bits, drelu_variant):
    x, y = inputs(ctx, a, b)
    return reveal(long_division(x, y, int_bits, drelu_variant))


@pytest.mark.parametrize("drelu_variant", ["securenn", "default"])
def test_long_division_is_exact(run_any, rng, drelu_variant):
    b = np.concatenate([rng.uniform(2.0**-8, 2.0**20, 40), [ULP * 3, 1.0, 2.0**20]])
    a = b * rng.uniform(0, 1, b.size)
    a[:4] = [0.0, ULP, b[2] - ULP, b[3] * 0.5]
    a[-3:] = [ULP * 2, 1.0 - ULP, 2.0**20 - ULP]
    got = run_any(partial(_long, a=a, b=b, int_bits=0, drelu_variant=drelu_variant)).outputs[0]
    a_raw, b_raw = FXP.encode(a).astype(object), FXP.encode(b).astype(object)
    want = np.array([(x << 16) // y for x, y in zip(a_raw, b_raw)], dtype=np.uint64)
    assert np.array_equal(got, want)


def test_long_division_costs_per_quotient_bit(run3):
    n, f = 8, 16
    run = run3(partial(_long, a=np.full(n, 0.5), b=np.ones(n), int_bits=0, drelu_variant="default"))
    (st,) = run.top("long_division")
    assert st.rounds == 4 * f
    each = f * n * 35 // 8 + 24 * f * n  # msb_bits (8 B + 34 bits) + select of two values (1 bit + 16 B)
    assert st.bytes_per_link == {"p0->p1": each, "p1->p0": each, "p2->p1": f * n * 317 // 8 + 24 * f * n}


def test_securenn_reciprocal_is_exact_with_integer_bits(run3, rng):
    b = np.concatenate([_near_powers(LO, 10), rng.uniform(2.0**-8, 2.0**10, 30)])
    got = run3(partial(_recip, b=b, variant="securenn", lo=LO, hi=HI)).outputs[0]
    b_raw = FXP.encode(b).astype(object)
    want = np.array([(1 << 32) // y for y in b_raw], dtype=np.float64) / 2**16
    assert np.array_equal(got, want)


def _costs(ctx, a, b):
    x, y = inputs(ctx, a, b)
    reciprocal(y)
    divide(x, y)
    divide(x, y, "securenn")
    reciprocal(y, "securenn")


def test_costs_match_the_docstring(run3, rng):
    n = 8
    b = rng.uniform(1, 2, n)
    run = run3(partial(_costs, a=b * 0.5, b=b))
    rec, div, div_s, rec_s = run.top()[2:]
    J = HI - LO + 1
    each_bits = 55 * (J - 1) + J  # J - 1 thresholds on one opening, then J one-hot bits injected
    dealt_bits = 148 + 35 * (J - 1)
    assert rec.rounds == 11
    assert rec.bytes_per_link == {
        "p0->p1": n * each_bits // 8 + 80 * n, "p1->p0": n * each_bits // 8 + 80 * n,
        "p2->p1": n * dealt_bits // 8 + (24 * J + 32) * n,
    }
    assert rec.bytes_total == 1209.375 * n
    assert div.rounds == 10
    assert div.bytes_per_link == {
        "p0->p1": n * each_bits // 8 + 88 * n, "p1->p0": n * each_bits // 8 + 88 * n,
        "p2->p1": n * dealt_bits // 8 + (24 * J + 40) * n,
    }
    assert div.bytes_total == 1233.375 * n
    f = 16
    assert div_s.rounds == 9 * f and div_s.bytes_total == 704 * f * n
    assert rec_s.rounds == 9 * (f + 9) and rec_s.bytes_total == 704 * (f + 9) * n


def _bad(ctx, variant, lo, hi):
    x = inputs(ctx, np.ones(2))
    reciprocal(x, variant, lo, hi)


@pytest.mark.parametrize(
    "variant, lo, hi, match",
    [
        ("magic", LO, HI, "unknown division variant 'magic'; known: default, securenn"),
        ("default", 3, 2, "octaves must satisfy"),
        ("default", -20, 2, "octaves must satisfy"),
    ],
)
def test_bad_arguments_are_clear_errors(run3, variant, lo, hi, match):
    with pytest.raises(ValueError, match=match):
        run3(partial(_bad, variant=variant, lo=lo, hi=hi))


def _pairs(rng, n, lo_log2, hi_log2):
    """n pairs with |a/b| in [2^lo_log2, 2^hi_log2), b anywhere in the default octaves."""
    quotient = 2.0 ** rng.uniform(lo_log2, hi_log2, n) * rng.choice([-1.0, 1.0], n)
    b = q(2.0 ** rng.uniform(LO, HI + 1, n))
    a = q(quotient * b)
    return a, b


def test_default_divide_at_the_edge_of_its_stated_range_and_beyond(rng):
    # stated: |a/b| < 2^15, bound held except with probability ~|a/b| 2^-32 per element
    a, b = _pairs(rng, 4000, 14, 15)
    got = run_local_div(a, b)
    exact = a / b
    bad = np.abs(got - exact) > 3 * ULP + 1e-4 * np.abs(exact)
    assert bad.sum() <= 3  # expected 4000 * 2^-17.5 = 0.02
    # just outside and far outside: gross failures at the documented rate, not silence
    a, b = _pairs(rng, 4000, 25, 26)
    got = run_local_div(a, b)
    exact = a / b
    bad = np.abs(got - exact) > 3 * ULP + 1e-4 * np.abs(exact)
    assert 1 <= bad.sum() <= 4000 * 2.0 ** (26 - 32) * 2  # ~|a/b| 2^-32: ~47 expected
    assert np.all(np.abs(got - exact)[bad] > 1.0)  # a failure is gross, not a rounding


def run_local_div(a, b):
    return run_local(lambda ctx: _div(ctx, a, b, "default")).outputs[0]
