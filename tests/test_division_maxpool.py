"""Division (SecureNN long division and our Newton-Raphson), maxpool and row max."""

import numpy as np
import pytest

from helpers import ULP, inputs
from spp_runtime.encoding import FixedPoint
from spp_runtime.engine.local import run_local
from spp_runtime.protocols.division import divide, long_division, reciprocal
from spp_runtime.protocols.maxpool import argmax_onehot, maxpool, maxpool_grad, onehot_to_ring, rowmax

FXP = FixedPoint()


def q(x):
    """What the parties actually hold: x rounded to the fixed-point grid."""
    return FXP.decode(FXP.encode(x))


def test_reciprocal_relative_error_over_its_range(rng):
    b = np.concatenate([2.0 ** np.arange(-8, 16), 2.0 ** np.arange(-8, 16) * 1.999,
                        np.exp(rng.uniform(np.log(2**-8), np.log(2**16), 2000))])
    bq = q(b)

    def prog(ctx):
        return reciprocal(inputs(ctx, b)).reveal()

    r = run_local(prog).outputs[0]
    exact = 1 / bq
    assert np.all(np.abs(r - exact) <= ULP + 1e-4 * exact)


def test_divide_default_any_sign_numerator(rng):
    b = np.exp(rng.uniform(np.log(2**-4), np.log(2**12), 2000))
    a = rng.uniform(-100, 100, 2000)

    def prog(ctx):
        x, y = inputs(ctx, a, b)
        return divide(x, y).reveal()

    got = run_local(prog).outputs[0]
    exact = q(a) / q(b)
    assert np.all(np.abs(got - exact) <= 2 * ULP + 1e-4 * np.abs(exact))


def test_securenn_long_division_in_its_range(rng):
    b = rng.uniform(1, 100, 40)
    a = b * rng.uniform(0, 0.999, 40)

    def prog(ctx):
        x, y = inputs(ctx, a, b)
        return divide(x, y, "securenn").reveal(), long_division(x, y, int_bits=3, drelu_variant="default").reveal()

    got, got_default_drelu = run_local(prog).outputs[0]
    exact = q(a) / q(b)
    assert np.max(np.abs(got - exact)) <= 2 * ULP + 16 * ULP / 2
    assert np.max(np.abs(got_default_drelu - exact)) <= 2 * ULP + 16 * ULP / 2


def test_division_costs(rng):
    n = 16
    a, b = rng.uniform(0, 1, n), rng.uniform(1, 2, n)

    def prog(ctx):
        x, y = inputs(ctx, a, b)
        divide(x, y, "securenn")
        divide(x, y)

    runs = {s.name + str(i): s for i, s in enumerate(run_local(prog).top())}
    securenn, ours = runs["divide2"], runs["divide3"]
    assert securenn.rounds == 16 * 9 and securenn.bytes_total == 16 * (664 + 80) * n
    assert ours.rounds == 13 and ours.bytes_total < securenn.bytes_total / 5


def test_unknown_variant_is_a_clear_error(rng):
    def prog(ctx):
        divide(*inputs(ctx, np.ones(2), np.ones(2)), variant="magic")

    with pytest.raises(ValueError, match="unknown division variant 'magic'; known: default, securenn"):
        run_local(prog)


@pytest.mark.parametrize("n", [2, 3, 10, 17])
def test_rowmax_and_argmax(rng, n):
    x = rng.normal(size=(12, n)) * 10
    x[0] = 5.0  # all equal: ties go to the first

    def prog(ctx):
        t = inputs(ctx, x)
        m, oh = argmax_onehot(t)
        from spp_runtime.protocols.basic import reveal

        return rowmax(t).reveal(), rowmax(t, axis=0, keepdims=True).reveal(), m.reveal(), reveal(onehot_to_ring(oh))

    r, r0, m, oh = run_local(prog).outputs[0]
    xq = q(x)
    assert np.array_equal(r, xq.max(axis=1)) and np.array_equal(m, xq.max(axis=1))
    assert np.array_equal(r0, xq.max(axis=0, keepdims=True))
    assert np.array_equal(oh.astype(int), np.eye(n, dtype=int)[np.argmax(xq, axis=1)])


def test_rowmax_cost(rng):
    x = rng.normal(size=(8, 10))

    def prog(ctx):
        rowmax(inputs(ctx, x))

    (s,) = run_local(prog).top("rowmax")
    assert s.rounds == 4 * 7  # ceil(log2 10) levels of comparison (6) + select (1)


def test_maxpool_and_gradient(rng):
    img = rng.normal(size=(2, 3, 8, 6))
    g = rng.normal(size=(2, 3, 4, 3))

    def prog(ctx):
        x, gr = inputs(ctx, img, g)
        pooled, oh = maxpool(x, (2, 2))
        return pooled.reveal(), maxpool_grad(gr, oh, (2, 2)).reveal()

    pooled, gin = run_local(prog).outputs[0]
    iq = q(img)
    want = iq.reshape(2, 3, 4, 2, 3, 2).max(axis=(3, 5))
    assert np.array_equal(pooled, want)
    up = np.repeat(np.repeat(want, 2, -2), 2, -1)
    gq = np.repeat(np.repeat(q(g), 2, -2), 2, -1)
    assert np.array_equal(gin, np.where(iq == up, gq, 0.0))
    with pytest.raises(ValueError, match="not divisible by the window"):
        run_local(lambda ctx: maxpool(inputs(ctx, img[..., :5]), (2, 2)))
