"""Maximum over a row or a pooling window by a tree of comparisons, with the argmax one-hot.

Each tree level compares pairs (``lo < hi`` with :func:`~.compare.less_than_bits`), keeps the
winner with one select, and (optionally) updates the winners' one-hot position vectors as
XOR-shared bits: ``onehot = oh_lo ^ (bit & (oh_lo ^ oh_hi))``, one AND per position, batched
into the same round as the select. Ties go to the earlier element.

Cost for a row of n: ceil(log2 n) levels of 7 rounds each (6 for the comparison, 1 for the
select); n - 1 comparisons and selects per row, ~104 B each; with the one-hot, in addition
~0.6 B per position per comparison. SecureNN's maxpool uses a ReLU-based comparison per
pair (9(n-1) rounds and (8 l log p + 29 l) bits per pair).

Security: only the comparison, select and AND protocols are used, composed on shares.
"""

from __future__ import annotations

import numpy as np

from ..engine.context import protocol
from ..tensor import SharedTensor
from .boolean import BitTensor, band_fanout, b2a, select_bits
from .compare import less_than_bits


def _tree_max(x: SharedTensor, with_onehot: bool) -> tuple[SharedTensor, BitTensor | None]:
    """Max over the last axis; optionally the XOR-shared one-hot argmax."""
    ctx = x.ctx
    n = x.shape[-1]
    onehot = None
    if with_onehot:
        eye = np.broadcast_to(np.eye(n, dtype=np.uint8), x.shape + (n,))
        onehot = BitTensor.public(ctx, eye) if not ctx.is_helper else BitTensor(ctx, None, x.shape + (n,))
    m = n
    while m > 1:
        k = m // 2
        lo, hi = x[..., 0 : 2 * k : 2], x[..., 1 : 2 * k : 2]
        bit = less_than_bits(lo, hi)  # 1 where hi wins
        new_x = select_bits(bit, hi, lo)
        if onehot is not None:
            oh_lo, oh_hi = onehot[..., 0 : 2 * k : 2, :], onehot[..., 1 : 2 * k : 2, :]
            (flip,) = band_fanout(bit, [((Ellipsis, None), oh_lo ^ oh_hi)])
            new_oh = oh_lo ^ flip
            if m % 2:
                new_oh = BitTensor.concatenate([new_oh, onehot[..., m - 1 : m, :]], axis=-2)
            onehot = new_oh
        if m % 2:
            new_x = SharedTensor.concatenate([new_x, x[..., m - 1 : m]], axis=-1)
        x, m = new_x, k + m % 2
    return x[..., 0], (onehot[..., 0, :] if onehot is not None else None)


@protocol("rowmax")
def rowmax(x: SharedTensor, axis: int = -1, keepdims: bool = False) -> SharedTensor:
    """Maximum along ``axis``."""
    xt = _move_last(x, axis)
    m, _ = _tree_max(xt, with_onehot=False)
    if keepdims:
        m = m.reshape(*m.shape, 1)
        return _move_back(m, axis, x.ndim)
    return m


@protocol("argmax_onehot")
def argmax_onehot(x: SharedTensor, axis: int = -1) -> tuple[SharedTensor, BitTensor]:
    """(max along axis, XOR-shared one-hot of the argmax along that axis, last axis)."""
    m, oh = _tree_max(_move_last(x, axis), with_onehot=True)
    return m, oh


def _windows(x: SharedTensor, window: tuple[int, int]) -> SharedTensor:
    *lead, h, w = x.shape
    kh, kw = window
    if h % kh or w % kw:
        raise ValueError(f"input {h}x{w} is not divisible by the window {kh}x{kw}")
    xr = x.reshape(*lead, h // kh, kh, w // kw, kw)
    nl = len(lead)
    xr = xr.transpose(*range(nl), nl, nl + 2, nl + 1, nl + 3)
    return xr.reshape(*lead, h // kh, w // kw, kh * kw)


@protocol("maxpool")
def maxpool(x: SharedTensor, window: tuple[int, int] = (2, 2)) -> tuple[SharedTensor, BitTensor]:
    """Non-overlapping max pooling over the last two axes; returns (pooled, argmax one-hot),
    the one-hot (XOR-shared bits, last axis = window position) feeding :func:`maxpool_grad`."""
    return _tree_max(_windows(x, window), with_onehot=True)


@protocol("maxpool_grad")
def maxpool_grad(grad_out: SharedTensor, onehot: BitTensor, window: tuple[int, int] = (2, 2)) -> SharedTensor:
    """Route each pooled gradient to its window's argmax: one select per input element
    (1 round, ~32 B per input element)."""
    kh, kw = window
    g = select_bits(onehot, grad_out.reshape(*grad_out.shape, 1))  # (..., H', W', kh*kw)
    *lead, hp, wp, _ = g.shape
    nl = len(lead)
    g = g.reshape(*lead, hp, wp, kh, kw).transpose(*range(nl), nl, nl + 2, nl + 1, nl + 3)
    return g.reshape(*lead, hp * kh, wp * kw)


def onehot_to_ring(onehot: BitTensor) -> SharedTensor:
    """The one-hot as ring 0/1 shares (b2a, 1 round, ~8 B per position)."""
    return b2a(onehot)


def _move_last(x: SharedTensor, axis: int) -> SharedTensor:
    axis = axis % x.ndim
    if axis == x.ndim - 1:
        return x
    order = [i for i in range(x.ndim) if i != axis] + [axis]
    return x.transpose(*order)


def _move_back(x: SharedTensor, axis: int, ndim: int) -> SharedTensor:
    axis = axis % ndim
    if axis == ndim - 1:
        return x
    order = list(range(ndim - 1))
    order.insert(axis, ndim - 1)
    return x.transpose(*np.argsort(order))
