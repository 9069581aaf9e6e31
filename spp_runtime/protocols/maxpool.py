"""Maximum over a row or a pooling window, with the argmax for the derivative, by name.

Default (ours): a tree of comparisons. Each level compares pairs (``[lo < hi]`` =
msb(lo - hi) with :func:`~.wide_compare.msb_wide`, one batched call for the whole level) and
keeps the winner ``lo - [lo < hi] (lo - hi)``, the product taken on the comparison's own
opening of lo - hi (:func:`~.wide_compare.mul_opened`: only the bit is opened again). When
the argmax is wanted it updates the winners' one-hot position vectors as XOR-shared bits,
``oh = oh_lo ^ (bit & (oh_lo ^ oh_hi))``, in the same round and message (the select's
opened bit doubles as the ANDs' mask). Ties go to the earlier element. A row of n takes
L = ceil(log2 n) levels of 4 rounds (3 compare + 1 select) and n - 1 comparisons. Per
comparison, in bytes (exact when the number of comparisons of each level is a multiple of
8):

=====================  ===============================  ==========================
part                   P0->P1 and P1->P0, each          P2->P1 (offline)
=====================  ===============================  ==========================
compare + select       8 + 35/8                         317/8 + 16
one-hot (n positions)  n/8                              n/8
=====================  ===============================  ==========================

i.e. 80.375 B per comparison for the max (84.875 B in 7 rounds before: a 6-round
comparison and a select that opened lo - hi again), 80.375 + 3n/8 B with the argmax
(2x2 pooling: 3 comparisons and 245.625 B per window, 8 rounds). ``maxpool_grad`` routes
each pooled gradient to its argmax with one :func:`~.boolean.select_bits` per window: 1
round, n/8 + 8 B each way, 16 n B offline per window.

``"securenn"`` (faithful, SecureNN's Maxpool): a linear scan, max_k = SelectShare(beta_k,
x_k, max_(k-1)) and ind_k = SelectShare(beta_k, k, ind_(k-1)) with beta_k =
DReLU(x_k - max_(k-1)) (ties go to the later element): per comparison 8 l log p + 29 l bits
= 744 B and 9 measured rounds (the paper's 9 (n-1)); the argmax is the ring integer index
ind. Its derivative expands ind into a one-hot with n - 1 SecureNN DReLUs
(``[ind >= k] - [ind >= k+1]``) and n SelectShares.

Security: only the comparison, select, AND and DReLU protocols are used, composed on shares;
nothing is opened.
"""

from __future__ import annotations

import numpy as np

from ..engine.context import protocol
from ..ring import DTYPE
from ..tensor import SharedTensor, held
from .baselines import securenn
from .boolean import BitTensor, b2a, select_bits
from .compare import sign_and_product
from .variants import DEFAULT, SECURENN, check_variant


def _tree_max(x: SharedTensor, with_onehot: bool) -> tuple[SharedTensor, BitTensor | None]:
    """Max over the last axis; optionally the XOR-shared one-hot argmax."""
    ctx = x.ctx
    n = x.shape[-1]
    onehot = None
    if with_onehot:
        shape = x.shape + (n,)
        eye = np.broadcast_to(np.eye(n, dtype=np.uint8), shape)
        onehot = BitTensor(ctx, None, shape) if ctx.is_helper else BitTensor.public(ctx, eye)
    m = n
    while m > 1:
        k = m // 2
        lo, hi = x[..., 0 : 2 * k : 2], x[..., 1 : 2 * k : 2]
        # bit = [lo < hi] = msb(lo - hi) (1 where hi wins); max = lo - bit (lo - hi), the
        # product taken on the comparison's own opening of lo - hi
        if onehot is None:
            _, _, step, _ = sign_and_product(lo - hi, negate=False)
            new_x = lo - step
        else:
            oh_lo, oh_hi = onehot[..., 0 : 2 * k : 2, :], onehot[..., 1 : 2 * k : 2, :]
            _, _, step, (flip,) = sign_and_product(lo - hi, negate=False, ands=[((Ellipsis, None), oh_lo ^ oh_hi)])
            new_x = lo - step
            new_oh = oh_lo ^ flip
            if m % 2:
                new_oh = BitTensor.concatenate([new_oh, onehot[..., m - 1 : m, :]], axis=-2)
            onehot = new_oh
        if m % 2:
            new_x = SharedTensor.concatenate([new_x, x[..., m - 1 : m]], axis=-1)
        x, m = new_x, k + m % 2
    return x[..., 0], (onehot[..., 0, :] if onehot is not None else None)


def _scan_max(x: SharedTensor) -> tuple[SharedTensor, SharedTensor]:
    """SecureNN's linear scan over the last axis: (max, ring integer index of the argmax)."""
    ctx = x.ctx
    best = x[..., 0]
    lead = best.shape
    index = SharedTensor.zeros(ctx, lead)
    for k in range(1, x.shape[-1]):
        xk = x[..., k]
        beta = securenn.drelu(xk - best)
        k_int = SharedTensor.like(ctx, np.full(lead, k, DTYPE) if ctx.party == 0 else np.zeros(lead, DTYPE), lead)
        bits = SharedTensor.stack([beta, beta])
        picked = securenn.select_share(bits, SharedTensor.stack([xk, k_int]), SharedTensor.stack([best, index]))
        best, index = picked[0], picked[1]
    return best, index


@protocol("rowmax")
def rowmax(x: SharedTensor, axis: int = -1, keepdims: bool = False) -> SharedTensor:
    """Maximum along ``axis`` by the comparison tree (exact; any values with |x - y| < 2^63
    ring units between entries of a row)."""
    m, _ = _tree_max(_move_last(x, axis), with_onehot=False)
    if keepdims:
        return _move_back(m.reshape(*m.shape, 1), axis, x.ndim)
    return m


@protocol("argmax_onehot")
def argmax_onehot(x: SharedTensor, axis: int = -1) -> tuple[SharedTensor, BitTensor]:
    """(max along axis, XOR-shared one-hot of the argmax along that axis, as the last axis)."""
    m, onehot = _tree_max(_move_last(x, axis), with_onehot=True)
    return m, held(onehot)


def _windows(x: SharedTensor, window: tuple[int, int]) -> SharedTensor:
    if x.ndim < 2:
        raise ValueError("maxpool needs at least two axes (height, width)")
    *lead, h, w = x.shape
    kh, kw = window
    if kh < 1 or kw < 1 or h % kh or w % kw:
        raise ValueError(f"input {h}x{w} is not divisible by the window {kh}x{kw}")
    xr = x.reshape(*lead, h // kh, kh, w // kw, kw)
    nl = len(lead)
    xr = xr.transpose(*range(nl), nl, nl + 2, nl + 1, nl + 3)
    return xr.reshape(*lead, h // kh, w // kw, kh * kw)


@protocol("maxpool")
def maxpool(
    x: SharedTensor, window: tuple[int, int] = (2, 2), variant: str = DEFAULT
) -> tuple[SharedTensor, BitTensor | SharedTensor]:
    """Non-overlapping max pooling over the last two axes: (pooled, argmax).

    The argmax is, per window, an XOR-shared one-hot BitTensor (default) or SecureNN's ring
    integer index (``"securenn"``); either feeds :func:`maxpool_grad`.
    """
    check_variant("maxpool", variant)
    xw = _windows(x, window)
    if variant == SECURENN:
        return _scan_max(xw)
    m, onehot = _tree_max(xw, with_onehot=True)
    return m, held(onehot)


@protocol("maxpool_grad")
def maxpool_grad(
    grad_out: SharedTensor, argmax: BitTensor | SharedTensor, window: tuple[int, int] = (2, 2)
) -> SharedTensor:
    """Route each pooled gradient to its window's argmax (zero elsewhere), shaped like the
    pooled input. ``argmax`` is what :func:`maxpool` returned (its variant decides the way)."""
    kh, kw = window
    n = kh * kw
    g = grad_out.reshape(*grad_out.shape, 1)
    if isinstance(argmax, BitTensor):
        if argmax.shape != grad_out.shape + (n,):
            raise ValueError(f"argmax one-hot of shape {argmax.shape} does not match {grad_out.shape} x {n}")
        routed = select_bits(argmax, g)  # (..., H', W', kh*kw)
    else:
        if argmax.shape != grad_out.shape:
            raise ValueError(f"argmax index of shape {argmax.shape} does not match {grad_out.shape}")
        routed = securenn.select_share(_index_onehot(argmax, n), g)
    *lead, hp, wp, _ = routed.shape
    nl = len(lead)
    routed = routed.reshape(*lead, hp, wp, kh, kw).transpose(*range(nl), nl, nl + 2, nl + 1, nl + 3)
    return routed.reshape(*lead, hp * kh, wp * kw)


def _index_onehot(index: SharedTensor, n: int) -> SharedTensor:
    """Ring 0/1 one-hot of a shared integer index in [0, n): [i >= k] - [i >= k+1], with the
    n - 1 comparisons in one SecureNN DReLU call."""
    ctx = index.ctx
    lead = index.shape
    if n == 1:
        return SharedTensor.like(ctx, np.full(lead + (1,), 1 if ctx.party == 0 else 0, DTYPE), lead + (1,))
    ks = np.arange(1, n, dtype=DTYPE)
    shifted = index.reshape(*lead, 1).broadcast_to(lead + (n - 1,)).add_ring(-ks.view(np.int64))
    ge = securenn.drelu(shifted)  # [index >= k], k = 1..n-1
    one = SharedTensor.like(ctx, np.full(lead + (1,), 1 if ctx.party == 0 else 0, DTYPE), lead + (1,))
    zero = SharedTensor.zeros(ctx, lead + (1,))
    ext = SharedTensor.concatenate([one, ge, zero], axis=-1)
    return ext[..., :-1] - ext[..., 1:]


def onehot_to_ring(onehot: BitTensor) -> SharedTensor:
    """The one-hot as ring 0/1 shares (b2a: 1 round, 1 bit each way and 8 B offline per position)."""
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
