"""Products of shared values with helper-dealt Beaver triples (SecureNN's MatMul).

With a triple ``(a, b, c = op(a, b))`` the primaries open ``e = x - a`` and ``f = y - b`` in one
exchange and set ``z_i = op(e, b_i) + op(a_i, f) + c_i`` (+ ``op(e, f)`` on P0). ``e`` and ``f``
are uniformly random to the party that sees them, so nothing about ``x, y`` leaks; the helper
sees nothing at all.

Costs (8-byte ring elements; |x| = number of elements of x):

==========  ======  ===================================  =======================
protocol    rounds  p0->p1 and p1->p0 (each, online)     p2->p1 (offline)
==========  ======  ===================================  =======================
mul         1       8(|x| + |y|)                         8|z|
square      1       8|x|                                 8|x|
matmul      1       8(|x| + |y|)                         8|z|
==========  ======  ===================================  =======================

So an elementwise product costs 40 bytes per element in all, a square 24. Results are
fixed-point products truncated back locally unless ``truncate=False``.
"""

from __future__ import annotations

import numpy as np

from .. import ring
from ..engine.context import protocol
from ..tensor import SharedTensor
from . import dealer
from .basic import truncate as _truncate


def _product(x: SharedTensor, y: SharedTensor, op, out_shape, truncate: bool) -> SharedTensor:
    ctx = x.ctx
    if ctx is not y.ctx:
        raise ValueError("tensors belong to different party contexts")
    if ctx.is_helper:
        (a0, a1), (b0, b1) = dealer.masks(ctx, x.shape, y.shape)
        dealer.product_share(ctx, out_shape, lambda: op(a0 + a1, b0 + b1))
        return SharedTensor(ctx, None, out_shape)
    a, b = dealer.masks(ctx, x.shape, y.shape)
    e_mine, f_mine = x.share - a, y.share - b
    e_other, f_other = ctx.exchange(ctx.other, e_mine, f_mine)
    e, f = e_mine + e_other, f_mine + f_other
    c = dealer.product_share(ctx, out_shape)
    if ctx.party == 0:
        z = op(e, b + f) + op(a, f) + c
    else:
        z = op(e, b) + op(a, f) + c
    out = SharedTensor(ctx, z)
    return _truncate(out, ctx.fxp.frac_bits) if truncate else out


@protocol("mul")
def mul(x: SharedTensor, y: SharedTensor, *, truncate: bool = True) -> SharedTensor:
    """Elementwise product (numpy broadcasting). 1 round; 40 B per element when |x|=|y|."""
    shape = np.broadcast_shapes(x.shape, y.shape)
    return _product(x, y, np.multiply, shape, truncate)


@protocol("matmul")
def matmul(x: SharedTensor, y: SharedTensor, *, truncate: bool = True) -> SharedTensor:
    """Matrix product (numpy matmul semantics). 1 round; 16(|x|+|y|) + 8|z| bytes."""
    shape = _matmul_shape(x.shape, y.shape)
    return _product(x, y, ring.matmul, shape, truncate)


@protocol("square")
def square(x: SharedTensor, *, truncate: bool = True) -> SharedTensor:
    """Elementwise square with a triple (a, a^2): 1 round, 24 B per element."""
    ctx = x.ctx
    if ctx.is_helper:
        ((a0, a1),) = dealer.masks(ctx, x.shape)
        dealer.product_share(ctx, x.shape, lambda: (a0 + a1) * (a0 + a1))
        return SharedTensor(ctx, None, x.shape)
    (a,) = dealer.masks(ctx, x.shape)
    e_mine = x.share - a
    (e_other,) = ctx.exchange(ctx.other, e_mine)
    e = e_mine + e_other
    c = dealer.product_share(ctx, x.shape)
    # (e + a)^2 = e^2 + 2ea + a^2
    z = (e * (a + a) + c) + (e * e if ctx.party == 0 else np.uint64(0))
    out = SharedTensor(ctx, z)
    return _truncate(out, ctx.fxp.frac_bits) if truncate else out


def _matmul_shape(sx: tuple[int, ...], sy: tuple[int, ...]) -> tuple[int, ...]:
    """The shape np.matmul would give, without computing anything."""
    inner_y = sy[-2] if len(sy) > 1 else sy[0] if sy else None
    if not sx or not sy or sx[-1] != inner_y:
        raise ValueError(f"matmul shapes {sx} and {sy} do not align")
    batch = np.broadcast_shapes(sx[:-2], sy[:-2])
    return batch + sx[-2:-1] + sy[-1:] if len(sy) > 1 else batch + sx[-2:-1]
