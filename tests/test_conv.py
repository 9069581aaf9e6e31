"""Convolution protocols (forward, weight and input gradients) and average pooling against
float64 numpy, with exact cost checks, on both transports."""

import numpy as np
import pytest

from spp_runtime.protocols.conv import (
    ConvGeometry,
    avgpool,
    avgpool_grad,
    col2im,
    conv2d,
    conv2d_input_grad,
    conv2d_input_plain,
    conv2d_plain,
    conv2d_weight_grad,
    conv2d_weight_plain,
    im2col,
)
from spp_runtime.tensor import share_input

ULP = 2.0**-16


def _direct_conv(x: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """Textbook float64 convolution (cross-correlation) by the definition, for checking."""
    t, b, l, r = g.pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    out = np.zeros((x.shape[0], *g.out_shape))
    sh, sw = g.stride
    kh, kw = g.kernel
    for yy in range(g.out_h):
        for xx in range(g.out_w):
            patch = xp[:, :, yy * sh : yy * sh + kh, xx * sw : xx * sw + kw]
            out[:, :, yy, xx] = np.einsum("bcij,ocij->bo", patch, w)
    return out


GEOMS = [
    ConvGeometry(1, 3, 8, 8, (5, 5)),
    ConvGeometry(2, 4, 7, 9, (3, 3), (2, 2), "same"),
    ConvGeometry(3, 2, 6, 6, (3, 2), (1, 2), (1, 0, 2, 1)),
]


@pytest.mark.parametrize("g", GEOMS)
def test_plain_maps_are_the_convolution_and_its_adjoints(rng, g):
    x = rng.normal(size=(3, *g.in_shape))
    w = rng.normal(size=g.weight_shape)
    dy = rng.normal(size=(3, *g.out_shape))
    y = conv2d_plain(x, w, g)
    assert np.allclose(y, _direct_conv(x, w, g))
    # <conv(x, w), dy> = <x, dX(dy, w)> = <w, dW(x, dy)>: the gradients are the adjoints
    inner = np.sum(y * dy)
    assert np.isclose(inner, np.sum(x * conv2d_input_plain(dy, w, g)))
    assert np.isclose(inner, np.sum(w * conv2d_weight_plain(x, dy, g)))
    cols = rng.normal(size=im2col(x, g).shape)
    assert np.isclose(np.sum(im2col(x, g) * cols), np.sum(x * col2im(cols, g, 3)))


def test_same_padding_keeps_the_size_over_the_stride():
    g = ConvGeometry(1, 5, 28, 28, (5, 5), (2, 2), "same")
    assert g.out_shape == (5, 14, 14) and g.pads == (1, 2, 1, 2)
    assert ConvGeometry(1, 1, 28, 28, (5, 5), padding="same").out_shape == (1, 28, 28)
    with pytest.raises(ValueError, match="padding"):
        ConvGeometry(1, 1, 8, 8, (3, 3), padding="full")
    with pytest.raises(ValueError, match="does not fit"):
        ConvGeometry(1, 1, 4, 4, (5, 5))


def test_ring_maps_wrap_like_the_ring(rng):
    g = ConvGeometry(2, 4, 7, 9, (3, 3), (2, 2))  # unpadded: object arrays pad with numpy ints
    x = rng.integers(0, 2**63, size=(2, *g.in_shape), dtype=np.uint64) * np.uint64(3)
    w = rng.integers(0, 2**63, size=g.weight_shape, dtype=np.uint64)
    xi, wi = x.astype(object), w.astype(object)
    want = conv2d_plain(xi, wi, g)  # exact Python integers
    got = conv2d_plain(x, w, g)
    assert np.array_equal(got.astype(object), want % 2**64)


def _conv_all(ctx, x, w, dy, g):
    X, W, DY = (share_input(ctx, a if ctx.party == 0 else None, 0, a.shape) for a in (x, w, dy))
    return (conv2d(X, W, g).reveal(), conv2d_weight_grad(X, DY, g).reveal(), conv2d_input_grad(DY, W, g).reveal())


@pytest.mark.parametrize("g", GEOMS[:2])
def test_secure_conv_and_gradients_match_float64_and_state_costs(run_any, rng, g):
    b = 2
    x, w = rng.normal(size=(b, *g.in_shape)), rng.normal(size=g.weight_shape) * 0.5
    dy = rng.normal(size=(b, *g.out_shape))
    run = run_any(_conv_all, x, w, dy, g, timeout=60.0)
    y, dw, dx = run.outputs[0]
    assert run.outputs[2] is not None and run.outputs[2] == (None, None, None)
    # each output sums `terms` products of encoded values: encoding + one truncation error
    terms = g.patch_size
    assert np.max(np.abs(y - _direct_conv(x, w, g))) <= (terms * 6 + 2) * ULP
    assert np.max(np.abs(dw - conv2d_weight_plain(x, dy, g))) <= (b * g.out_h * g.out_w * 6 + 2) * ULP
    assert np.max(np.abs(dx - conv2d_input_plain(dy, w, g))) <= (terms * 6 + 2) * ULP
    nx, nw, ny = x.size, w.size, dy.size
    want = {
        "conv2d": (nx + nw, ny),
        "conv2d_weight_grad": (nx + ny, nw),
        "conv2d_input_grad": (ny + nw, nx),
    }
    for name, (opened, dealt) in want.items():
        (st,) = run.top(name)
        assert st.rounds == 1, name
        assert st.bytes_per_link == {"p0->p1": 8 * opened, "p1->p0": 8 * opened, "p2->p1": 8 * dealt}, name
        assert st.offline_bytes == 8 * dealt, name


def _pool(ctx, x):
    (X,) = (share_input(ctx, x if ctx.party == 0 else None, 0, x.shape),)
    y = avgpool(X, (2, 2))
    return y.reveal(), avgpool_grad(y, (2, 2)).reveal()


def test_avgpool_is_local_and_matches_float64(run_any, rng):
    x = rng.normal(size=(2, 3, 4, 6)) * 4
    run = run_any(_pool, x)
    y, dx = run.outputs[0]
    want = x.reshape(2, 3, 2, 2, 3, 2).mean(axis=(3, 5))
    assert np.max(np.abs(y - want)) <= 4 * ULP
    assert np.max(np.abs(dx - np.repeat(np.repeat(want / 4, 2, axis=2), 2, axis=3))) <= 4 * ULP
    for name in ("avgpool", "avgpool_grad"):
        (st,) = run.top(name)
        assert st.rounds == 0 and st.bytes_total == 0 and st.offline_bytes == 0
