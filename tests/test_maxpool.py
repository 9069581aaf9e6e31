"""Row maximum, max pooling (ours and SecureNN's) and the pooling derivative: exact results
against numpy on random, tied and edge values, and exact costs."""

from functools import partial

import numpy as np
import pytest

from helpers import ULP, inputs
from spp_runtime.encoding import FixedPoint
from spp_runtime.protocols.maxpool import argmax_onehot, maxpool, maxpool_grad, onehot_to_ring, rowmax
from spp_runtime.tensor import reveal

FXP = FixedPoint()
EDGE = 2.0**46 - 1  # rows may span [-EDGE, EDGE]: differences stay below 2^63 ring units


def q(x):
    return FXP.decode(FXP.encode(x))


def _rowmax(ctx, x):
    t = inputs(ctx, x)
    m, oh = argmax_onehot(t)
    return (rowmax(t).reveal(), rowmax(t, axis=0, keepdims=True).reveal(), rowmax(t, 0).reveal(),
            m.reveal(), reveal(onehot_to_ring(oh)))


@pytest.mark.parametrize("n", [1, 2, 3, 10, 17])
def test_rowmax_and_argmax_on_random_tied_and_edge_rows(run_any, rng, n):
    x = rng.normal(size=(12, n)) * 10
    x[0] = 5.0  # all equal: the argmax is the first
    x[1, :] = -EDGE
    x[1, -1] = EDGE
    x[2] = np.linspace(-EDGE, EDGE, n)[::-1]
    x[3] = 1.0
    x[3, n // 2] = 1.0 + ULP  # one ulp above the rest
    x[4] = -ULP
    x[4, 0] = 0.0
    r, r0, r0c, m, oh = run_any(partial(_rowmax, x=x)).outputs[0]
    xq = q(x)
    assert np.array_equal(r, xq.max(axis=1)) and np.array_equal(m, r)
    assert np.array_equal(r0, xq.max(axis=0, keepdims=True)) and np.array_equal(r0c, xq.max(axis=0))
    assert np.array_equal(oh.astype(int), np.eye(n, dtype=int)[np.argmax(xq, axis=1)])


def _rowmax_cost(ctx, x):
    t = inputs(ctx, x)
    rowmax(t)
    argmax_onehot(t)


@pytest.mark.parametrize("n", [2, 8, 10])
def test_rowmax_costs(run3, rng, n):
    rows = 8  # every level's comparison count is a multiple of 8: exact packed bytes
    run = run3(partial(_rowmax_cost, x=rng.normal(size=(rows, n))))
    levels = int(np.ceil(np.log2(n)))
    (st,) = run.top("rowmax")
    assert st.rounds == 4 * levels
    cmp = rows * (n - 1)
    assert st.bytes_per_link == {"p0->p1": cmp * 35 // 8 + 8 * cmp, "p1->p0": cmp * 35 // 8 + 8 * cmp,
                                 "p2->p1": cmp * 317 // 8 + 16 * cmp}
    assert st.bytes_total == 80.375 * cmp
    (st,) = run.top("argmax_onehot")
    assert st.rounds == 4 * levels
    assert st.bytes_total == 80.375 * cmp + cmp * 3 * n / 8


def _pool(ctx, img, g, variant, window):
    x, gr = inputs(ctx, img, g)
    pooled, arg = maxpool(x, window, variant)
    return pooled.reveal(), maxpool_grad(gr, arg, window).reveal()


@pytest.mark.parametrize("variant", ["default", "securenn"])
@pytest.mark.parametrize("window", [(2, 2), (1, 3)])
def test_maxpool_and_gradient(run_any, rng, variant, window):
    kh, kw = window
    img = rng.normal(size=(2, 3, 4 * kh, 2 * kw)) * 10
    img[0, 0, :kh, :kw] = 1.5  # a tied window
    g = rng.normal(size=(2, 3, 4, 2))
    pooled, gin = run_any(partial(_pool, img=img, g=g, variant=variant, window=window)).outputs[0]
    iq = q(img)
    windows = iq.reshape(2, 3, 4, kh, 2, kw).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 4, 2, kh * kw)
    assert np.array_equal(pooled, windows.max(-1))
    # ties: the tree keeps the first maximum, SecureNN's scan (>=) the last
    first = np.argmax(windows, axis=-1)
    last = kh * kw - 1 - np.argmax(windows[..., ::-1], axis=-1)
    pick = first if variant == "default" else last
    routed = np.eye(kh * kw)[pick] * q(g)[..., None]
    want = routed.reshape(2, 3, 4, 2, kh, kw).transpose(0, 1, 2, 4, 3, 5).reshape(img.shape)
    assert np.array_equal(gin, want)


def _pool_cost(ctx, img, g, variant):
    x, gr = inputs(ctx, img, g)
    _, arg = maxpool(x, (2, 2), variant)
    maxpool_grad(gr, arg, (2, 2))


def test_maxpool_costs(run3, rng):
    img = rng.normal(size=(8, 4, 4))  # 32 windows of 2x2
    g = rng.normal(size=(8, 2, 2))
    w = 32
    run = run3(partial(_pool_cost, img=img, g=g, variant="default"))
    (st,) = run.top("maxpool")
    assert st.rounds == 8 and st.bytes_total == 245.625 * w  # 3 comparisons + selects, argmax bits
    (st,) = run.top("maxpool_grad")
    assert st.rounds == 1
    each = 4 * w // 8 + 8 * w  # the one-hot bits, and the gradient opened once per window
    assert st.bytes_per_link == {"p0->p1": each, "p1->p0": each, "p2->p1": 16 * 4 * w}
    run = run3(partial(_pool_cost, img=img, g=g, variant="securenn"))
    (st,) = run.top("maxpool")
    assert st.rounds == 9 * 3  # SecureNN's 9 (n - 1)
    assert st.bytes_total * 8 == (8 * 64 * 8 + 29 * 64) * 3 * w  # (8 l log p + 29 l)(n - 1)


def _bad_pool(ctx, shape, window):
    maxpool(inputs(ctx, np.zeros(shape)), window)


@pytest.mark.parametrize("shape, window, match", [((4, 5), (2, 2), "not divisible by the window"),
                                                  ((4,), (2, 2), "at least two axes")])
def test_maxpool_rejects_bad_shapes(run3, shape, window, match):
    with pytest.raises(ValueError, match=match):
        run3(partial(_bad_pool, shape=shape, window=window))
