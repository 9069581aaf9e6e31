"""Masked operands: a shared matrix opened once under a one-time mask and reused by every
product it takes part in (one opening per matrix per training step).

A Beaver product ``z = x @ y`` opens ``e = x - a`` and ``f = y - b`` and combines them with
helper-dealt shares of ``c = a @ b`` (see :mod:`spp_runtime.tensor`). In a dense layer's
training step the same matrices meet again: the forward product ``X @ W`` opens X and W,
the input gradient ``dY @ W^T`` would open dY and W again, the weight gradient ``X^T @ dY``
X and dY again. Here each matrix is opened **once**: :func:`open_operands` masks and opens it
(``E = x - A``, A from the PRG seeds as in :func:`.dealer.masks`) and returns a
:class:`MaskedOperand` holding the public E and each party's share of A (the helper holds
both shares). :func:`masked_matmul` multiplies two such operands with no online traffic:
the helper deals shares of ``C = op(A, B)`` for exactly the product being computed
(``A @ B``, ``A^T @ B``, ``B @ A^T``...; transposition is a view of the operand, applied to E
and to A alike), and the primaries set ``z_i = op(E, B_i) + op(A_i, F) + C_i`` (+
``op(E, F)`` on P0). :func:`masked_rescale` turns the opening of ``x`` into one of
``trunc(k x / 2^s)`` (the scaled output gradient of :meth:`.nn.ops.Ops.weight_grad`)
without opening anything.

Costs (8-byte ring elements; |x| = number of elements of x):

=================  ======  ================================  ======================
protocol           rounds  p0->p1 and p1->p0 (each, online)  p2->p1 (offline)
=================  ======  ================================  ======================
open_operands      1       8 * sum |x_i|                     none
masked_matmul      0       none                              8|z|
masked_rescale     0       none                              8|x|
=================  ======  ================================  ======================

So ``open_operands(x, y)`` followed by ``masked_matmul`` costs exactly what
:func:`.tensor.matmul` does, and every further product of the same operands costs only the
helper's 8 bytes per output element, offline.

Dealing ahead. The helper's part of every protocol here (masks from the PRGs, the dealt
products) depends on no input and it receives nothing, so it never waits for P0 or P1: in a
training job it computes and sends the next steps' product shares while the primaries work on
this one, bounded only by the transport's flow-control window (docs/NETWORK.md);
``tests/test_bench_training.py`` checks that P2 receives no message during training.

Security. Each call to :func:`open_operands` draws fresh masks from the PRGs the helper
shares with P0 and with P1, so ``A = A0 + A1`` is uniform and unknown to either primary (P1
never sees A0, P0 never sees A1) and the opened ``E = x - A`` is uniform to each of them:
**each mask hides exactly one value**, the one it was opened with. A mask is never used to
open a second value: a value that changes (a weight matrix after its update) is opened again
under a fresh mask, and a derived operand (a transpose, :func:`masked_rescale`) is a public
function of the one opening E, so it opens nothing new. The further products reveal nothing
either: every dealt share ``C_1 = C - C_0`` that P1 receives carries a fresh PRG value C_0 of
P0 and P2 (uniform to P1), P0 draws its share from that PRG, and the products are otherwise
local. The helper receives nothing at all. The only difference from one Beaver triple per
product is that several products share the masks A, B; since each dealt C is one-time padded
by its own fresh C_0, the joint view of a primary is (uniform E's, uniform C_1's, its own
PRG draws), independent of the data, exactly as for independent triples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np

from . import dealer
from .engine.context import PartyContext, protocol
from .ring import matmul
from .tensor import SharedTensor, _matmul_shape, held

RingMap = Callable[[np.ndarray], np.ndarray]


class MaskedOperand:
    """A shared value ``x`` opened under a one-time mask, as one party sees it.

    On P0 and P1: ``opened`` is the public ``E = x - A`` and ``mask`` this party's share of A.
    On the helper P2: both are None and ``pair`` holds ``(A0, A1)``, both primaries' mask
    shares, from which it deals the products' shares. Nobody holds x in the clear.
    """

    __slots__ = ("ctx", "mask", "opened", "pair", "shape")

    def __init__(
        self,
        ctx: PartyContext,
        shape: tuple[int, ...],
        opened: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        pair: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        if ctx.is_helper != (pair is not None) or ctx.is_helper != (opened is None) or ctx.is_helper != (mask is None):
            raise ValueError("P0 and P1 hold an opening and a mask share; the helper P2 holds both mask shares")
        self.ctx = ctx
        self.shape = tuple(int(d) for d in shape)
        self.opened = opened
        self.mask = mask
        self.pair = pair

    def __repr__(self) -> str:  # never shows an opening or a mask
        return f"MaskedOperand(party={self.ctx.name}, shape={self.shape})"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def _map(self, fn: RingMap) -> MaskedOperand:
        """A linear ring map (transpose, reshape) applied to x: to E and to A alike, so the
        result is x' = fn(x) opened as fn(E) under the mask fn(A). Nothing is opened."""
        if self.pair is not None:
            a0, a1 = fn(self.pair[0]), fn(self.pair[1])
            return MaskedOperand(self.ctx, a0.shape, pair=(a0, a1))
        e = fn(held(self.opened))
        return MaskedOperand(self.ctx, e.shape, opened=e, mask=fn(held(self.mask)))

    @property
    def T(self) -> MaskedOperand:
        """The transpose of the last two axes (of a vector: itself)."""
        return self._map(lambda a: np.swapaxes(a, -1, -2) if a.ndim >= 2 else a)

    def reshape(self, *shape: int) -> MaskedOperand:
        return self._map(lambda a: a.reshape(*shape))

    def value(self) -> SharedTensor:
        """x itself as a SharedTensor (P0: E + A0, P1: A1); local, nothing is sent."""
        if self.pair is not None:
            return SharedTensor(self.ctx, None, self.shape)
        e, a = held(self.opened), held(self.mask)
        return SharedTensor(self.ctx, e + a if self.ctx.party == 0 else a.copy())

    def full_mask(self) -> np.ndarray:
        """The helper's A = A0 + A1 (a ValueError on P0 and P1, which hold one share)."""
        a0, a1 = held(self.pair)
        return a0 + a1


@protocol("open_operands")
def open_operands(x: SharedTensor, *more: SharedTensor) -> list[MaskedOperand]:
    """Mask each ``x`` with a fresh helper-derived mask A and open ``E = x - A`` to P0 and P1,
    all in one exchange.

    1 round; p0->p1 and p1->p0 each 8 bytes per element of all the x's; the helper sends and
    receives nothing (its mask shares come from the PRGs, :func:`.dealer.masks`). Security:
    A is fresh and uniform to each primary, so each E is uniform and hides its x; A is never
    used to open anything else (see the module docstring).
    """
    xs = (x, *more)
    ctx = x.ctx
    if any(t.ctx is not ctx for t in more):
        raise ValueError("tensors belong to different party contexts")
    shapes = [t.shape for t in xs]
    if ctx.is_helper:
        pairs = cast(list[list[np.ndarray]], dealer.masks(ctx, *shapes))
        return [MaskedOperand(ctx, s, pair=(p[0], p[1])) for s, p in zip(shapes, pairs)]
    masks = cast(list[np.ndarray], dealer.masks(ctx, *shapes))
    mine = [t.mine - a for t, a in zip(xs, masks)]
    theirs = ctx.exchange(ctx.other, *mine)
    return [
        MaskedOperand(ctx, s, opened=m + t, mask=a)
        for s, m, t, a in zip(shapes, mine, theirs, masks)
    ]


@protocol("masked_matmul")
def masked_matmul(x: MaskedOperand, y: MaskedOperand, *, truncate: bool = True) -> SharedTensor:
    """``x @ y`` (numpy matmul semantics) from two opened operands: no online traffic.

    The helper deals shares of ``C = A @ B`` for these operands' masks (as transposed or
    reshaped here): 0 rounds, p2->p1 8|z| bytes offline. P0 sets
    ``z_0 = E @ (F + B_0) + A_0 @ F + C_0`` and P1 ``z_1 = E @ B_1 + A_1 @ F + C_1``, which
    sum to ``(E + A) @ (F + B) = x @ y``; the product is truncated locally unless
    ``truncate=False``. Security: nothing is opened; P1's dealt share carries a fresh PRG
    value of P0 and P2 (see the module docstring).
    """
    ctx = x.ctx
    if ctx is not y.ctx:
        raise ValueError("operands belong to different party contexts")
    shape = _matmul_shape(x.shape, y.shape)
    if ctx.is_helper:
        ax, ay = np.ascontiguousarray(x.full_mask()), y.full_mask()
        dealer.product_share(ctx, shape, lambda: matmul(ax, ay))
        return SharedTensor(ctx, None, shape)
    # a transposed left operand is copied to row order, as a Beaver product's fresh e = x - a is
    e, a = np.ascontiguousarray(held(x.opened)), np.ascontiguousarray(held(x.mask))
    f, b = held(y.opened), held(y.mask)
    c = held(dealer.product_share(ctx, shape))
    if ctx.party == 0:
        z = matmul(e, f + b) + matmul(a, f) + c
    else:
        z = matmul(e, b) + matmul(a, f) + c
    out = SharedTensor(ctx, z)
    return out.truncate(ctx.fxp.frac_bits) if truncate else out


@protocol("masked_rescale")
def masked_rescale(x: MaskedOperand, k: int, bits: int) -> MaskedOperand:
    """The operand ``x' = trunc(k x / 2^bits)`` for a public integer ``k``, from x's opening.

    ``k x = k E + k A``; truncating the two addends the way the local truncation truncates
    two shares (:func:`.tensor.truncate`: the first shifted, the second negated, shifted and
    negated) gives ``E' = (k E) >> bits`` (public, computed by both primaries) and
    ``A' = -((-k A) >> bits)``, whose sum is ``floor(k x / 2^bits)`` or one more, except with
    probability about ``|k x| / 2^63`` (ring units), exactly as a local truncation of shares.
    The helper, who knows A, deals shares of A': 0 rounds, p2->p1 8|x| bytes offline.
    Security: E' is a function of the public E, so nothing new is opened; A' is only ever
    shared, never used to open a value.
    """
    ctx = x.ctx
    kk = np.uint64(int(k) % (1 << 64))
    s = np.uint64(bits)
    if x.pair is not None:
        a = x.full_mask()
        a_new = -((-(a * kk)) >> s)
        return MaskedOperand(ctx, x.shape, pair=dealer.deal_pair(ctx, x.shape, a_new))
    e = (held(x.opened) * kk) >> s
    share = held(dealer.product_share(ctx, x.shape))
    return MaskedOperand(ctx, x.shape, opened=e, mask=share)
