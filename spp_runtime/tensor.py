"""SharedTensor: an additively shared fixed-point tensor, as one party sees it, and the linear
protocols on it.

On P0 and P1, ``share`` holds that party's uint64 share; on the helper P2 it is ``None`` and
only the ``shape`` is known, because the helper takes part in protocols but holds no share.
Local operations (add, subtract, public scaling, reshape, indexing, sums) cost nothing; the
linear protocols below (input sharing, opening, truncation, Beaver products) are this
module's functions, which the operators call. Nonlinear functions are protocols in
``spp_runtime.protocols``, called as plain functions on SharedTensors (``compare.relu(x)``).
Every value is in the context's fixed-point format; products are truncated back to it.

Costs (8-byte ring elements, n elements; |x| = number of elements of x):

========================  ======  =====================================================
protocol                  rounds  bytes
========================  ======  =====================================================
share_input (owner P0/P1) 0       none: the other primary's share comes from their PRG
share_input (owner P2)    1       p2->p1: 8n
reveal (to both)          1       p0->p1: 8n, p1->p0: 8n
reveal (to one)           1       8n from the other primary
truncate                  0       none (local)
========================  ======  =====================================================

Products of shared values with helper-dealt Beaver triples (SecureNN's MatMul). With a triple
``(a, b, c = op(a, b))`` the primaries open ``e = x - a`` and ``f = y - b`` in one exchange
and set ``z_i = op(e, b_i) + op(a_i, f) + c_i`` (+ ``op(e, f)`` on P0). ``e`` and ``f`` are
uniformly random to the party that sees them, so nothing about ``x, y`` leaks; the helper
sees nothing at all.

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

from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any, TypeVar

import numpy as np

from . import dealer, ring
from .engine.context import PartyContext, protocol
from .ring import DTYPE, as_ring

PublicValue = np.ndarray | float | int
T = TypeVar("T")


def held(array: T | None) -> T:
    """``array`` (a share, an opening, a mask, or a list of them) where this party holds it,
    else a clear error.

    Shares (and openings) exist on P0 and P1 only, masks on the helper P2 only; a protocol's
    branch for one kind of party reads them through this (or :attr:`SharedTensor.mine`).
    """
    if array is None:
        raise ValueError("this party holds no such array (P0 and P1 hold shares, only P2 holds masks)")
    return array


class SharedTensor:
    """A secret-shared fixed-point tensor held by the three parties."""

    __slots__ = ("ctx", "shape", "share")
    __array_priority__ = 1000  # make numpy defer to our reflected operators

    def __init__(self, ctx: PartyContext, share: np.ndarray | None, shape: Sequence[int] | None = None):
        if share is None:
            if shape is None:
                raise ValueError("a helper-side SharedTensor needs a shape")
            self.shape = tuple(int(d) for d in shape)
        else:
            share = np.asarray(share, dtype=DTYPE)
            self.shape = share.shape
        if (share is None) != ctx.is_helper:
            raise ValueError("P0 and P1 hold shares; the helper P2 holds none")
        self.ctx = ctx
        self.share = share

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def like(cls, ctx: PartyContext, share: np.ndarray | None, shape: Sequence[int]) -> SharedTensor:
        """A tensor of ``shape`` from a share (P0/P1) or nothing (P2)."""
        return cls(ctx, None if ctx.is_helper else share, shape)

    @classmethod
    def zeros(cls, ctx: PartyContext, shape: Sequence[int]) -> SharedTensor:
        return cls.like(ctx, np.zeros(shape, dtype=DTYPE), shape)

    @classmethod
    def public(cls, ctx: PartyContext, value: PublicValue) -> SharedTensor:
        """A trivial sharing of a public value: P0 holds the encoding, P1 holds zero."""
        enc = ctx.fxp.encode(value, name="public value")
        share = enc if ctx.party == 0 else np.zeros_like(enc)
        return cls.like(ctx, share, enc.shape)

    @property
    def mine(self) -> np.ndarray:
        """This primary's share; a ValueError on the helper P2, which holds none."""
        return held(self.share)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:  # never shows the share
        return f"SharedTensor(party={self.ctx.name}, shape={self.shape})"

    # -- local, communication-free operations ---------------------------------------------
    def _local(self, fn: Callable[[np.ndarray], np.ndarray]) -> SharedTensor:
        """Apply a linear ring map to the share; on P2 only the shape is derived."""
        if self.share is None:
            dummy = np.broadcast_to(np.zeros((), dtype=DTYPE), self.shape)
            return SharedTensor(self.ctx, None, np.shape(fn(dummy)))
        return SharedTensor(self.ctx, fn(self.share))

    def _combine(self, other: SharedTensor, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> SharedTensor:
        _same_ctx(self, other)
        if self.share is None:
            return SharedTensor(self.ctx, None, np.broadcast_shapes(self.shape, other.shape))
        return SharedTensor(self.ctx, fn(self.share, other.mine))

    def __add__(self, other: Any) -> SharedTensor:
        if isinstance(other, SharedTensor):
            return self._combine(other, np.add)
        return self._add_public(other)

    __radd__ = __add__

    def __sub__(self, other: Any) -> SharedTensor:
        if isinstance(other, SharedTensor):
            return self._combine(other, np.subtract)
        return self._add_public(-np.asarray(other, dtype=np.float64))

    def __rsub__(self, other: Any) -> SharedTensor:
        return (-self)._add_public(other)

    def __neg__(self) -> SharedTensor:
        return self._local(np.negative)

    def _add_public(self, value: PublicValue) -> SharedTensor:
        enc = self.ctx.fxp.encode(value, name="public operand")
        if self.ctx.party == 0:
            return self._local(lambda s: s + enc)
        return self._local(lambda s: s + np.zeros_like(enc))

    def add_ring(self, value: np.ndarray | np.integer | int) -> SharedTensor:
        """Add a public ring element (already encoded) without re-encoding it."""
        v = as_ring(value)
        if self.ctx.party == 0:
            return self._local(lambda s: s + v)
        return self._local(lambda s: s + np.zeros_like(v))

    def mul_int(self, k: np.ndarray | int) -> SharedTensor:
        """Multiply by public integers (exact, no truncation)."""
        kr = as_ring(k)
        return self._local(lambda s: s * kr)

    def mul_public(self, value: PublicValue) -> SharedTensor:
        """Multiply by public reals: encode, multiply locally, truncate locally."""
        enc = self.ctx.fxp.encode(value, name="public operand")
        return self._local(lambda s: s * enc).truncate()

    def __mul__(self, other: Any) -> SharedTensor:
        if isinstance(other, SharedTensor):
            return mul(self, other)
        if _is_integer(other):
            return self.mul_int(other)
        return self.mul_public(other)

    __rmul__ = __mul__

    def __matmul__(self, other: Any) -> SharedTensor:
        if isinstance(other, SharedTensor):
            return matmul(self, other)
        enc = self.ctx.fxp.encode(other, name="public operand")
        return self._local(lambda s: s @ enc).truncate()

    def __rmatmul__(self, other: Any) -> SharedTensor:
        enc = self.ctx.fxp.encode(other, name="public operand")
        return self._local(lambda s: enc @ s).truncate()

    def truncate(self, bits: int | None = None) -> SharedTensor:
        """Divide by 2^bits (default: the fractional bits) with SecureNN's local truncation."""
        return truncate(self, self.ctx.fxp.frac_bits if bits is None else bits)

    def square(self) -> SharedTensor:
        return square(self)

    def __truediv__(self, other: Any) -> SharedTensor:
        """Division by a public value (a local scaling); shared divisors need the division
        protocol, :func:`spp_runtime.protocols.division.divide`."""
        if isinstance(other, SharedTensor):
            raise TypeError("a shared divisor needs the division protocol (protocols.division.divide)")
        return self.mul_public(1.0 / np.asarray(other, dtype=np.float64))

    # -- shape operations (local) -----------------------------------------------------------
    def reshape(self, *shape: Any) -> SharedTensor:
        return self._local(lambda s: s.reshape(*shape))

    def transpose(self, *axes: int) -> SharedTensor:
        return self._local(lambda s: s.transpose(*axes))

    @property
    def T(self) -> SharedTensor:
        return self._local(lambda s: s.T)

    def __getitem__(self, index: Any) -> SharedTensor:
        return self._local(lambda s: s[index])

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> SharedTensor:
        return self._local(lambda s: s.sum(axis=axis, keepdims=keepdims, dtype=DTYPE))

    def broadcast_to(self, shape: Sequence[int]) -> SharedTensor:
        return self._local(lambda s: np.broadcast_to(s, shape))

    def copy(self) -> SharedTensor:
        return self._local(np.copy)

    @staticmethod
    def concatenate(parts: Sequence[SharedTensor], axis: int = 0) -> SharedTensor:
        first = parts[0]
        if first.share is None:
            dummies = [np.broadcast_to(np.zeros((), DTYPE), p.shape) for p in parts]
            return SharedTensor(first.ctx, None, np.concatenate(dummies, axis=axis).shape)
        return SharedTensor(first.ctx, np.concatenate([p.share for p in parts], axis=axis))

    @staticmethod
    def stack(parts: Sequence[SharedTensor], axis: int = 0) -> SharedTensor:
        return SharedTensor.concatenate([p._local(lambda s: np.expand_dims(s, axis)) for p in parts], axis)

    # -- opening --------------------------------------------------------------------------
    def reveal(self, to: int | None = None) -> np.ndarray | None:
        """Open the value (decoded to float64) to both primaries, or only to party ``to``."""
        ring = reveal(self, to=to)
        return None if ring is None else self.ctx.fxp.decode(ring)


def _same_ctx(a: SharedTensor, b: SharedTensor) -> None:
    if a.ctx is not b.ctx:
        raise ValueError("tensors belong to different party contexts")


def _is_integer(x: Any) -> bool:
    """Python/numpy integers and integer arrays multiply exactly; reals are fixed-point."""
    if isinstance(x, (Integral, np.integer)):
        return True
    return isinstance(x, np.ndarray) and x.dtype.kind in "iub"


# -- input sharing, opening, truncation ------------------------------------------------------
@protocol("share_input")
def share_input(
    ctx: PartyContext, value: np.ndarray | None, owner: int, shape: Sequence[int], *, encoded: bool = False
) -> SharedTensor:
    """Secret-share a plaintext array that party ``owner`` holds (others pass ``None``).

    For a primary owner, the other primary's share is drawn from the PRG the two share and the
    owner keeps ``x - r``; nothing is sent. For the helper as owner, P0's share comes from the
    P0-P2 PRG and P2 sends ``x - r`` to P1.
    """
    shape = tuple(shape)
    if ctx.party == owner:
        if value is None:
            raise ValueError("the owner must supply the value")
        x = np.asarray(value, dtype=DTYPE) if encoded else ctx.fxp.encode(value, name="input")
        if x.shape != shape:
            raise ValueError(f"input shape {x.shape} does not match declared shape {shape}")
    if owner in (0, 1):
        if ctx.party == owner:
            return SharedTensor(ctx, x - ctx.prg(1 - owner).uint64(shape))
        if ctx.party == 1 - owner:
            return SharedTensor(ctx, ctx.prg(owner).uint64(shape))
        return SharedTensor(ctx, None, shape)
    # owner is the helper
    if ctx.party == 2:
        ctx.send(1, x - ctx.prg(0).uint64(shape))
        return SharedTensor(ctx, None, shape)
    if ctx.party == 0:
        return SharedTensor(ctx, ctx.prg(2).uint64(shape))
    (s1,) = ctx.recv(2, expect=[(shape, DTYPE)])
    return SharedTensor(ctx, s1.copy())


@protocol("reveal")
def reveal(x: SharedTensor, to: int | None = None) -> np.ndarray | None:
    """Open ``x`` as ring elements to both primaries (``to=None``) or only to ``to`` (0 or 1).

    Returns the opened ring elements on the receiving parties and ``None`` elsewhere.
    """
    ctx = x.ctx
    if to not in (None, 0, 1):
        raise ValueError("values are opened only to P0 and/or P1")
    if ctx.is_helper:
        return None
    if to is None:
        (other,) = ctx.exchange(ctx.other, x.mine)
        return x.mine + other
    if ctx.party == to:
        (other,) = ctx.recv(ctx.other, expect=[(x.shape, DTYPE)])
        return x.mine + other
    ctx.send(to, x.mine)
    return None


def truncate(x: SharedTensor, bits: int) -> SharedTensor:
    """Divide by 2^bits locally (SecureNN / SecureML truncation); no communication.

    P0 shifts its share right; P1 negates, shifts and negates. The result equals
    ``floor(x / 2^bits)`` or one more, except with probability about ``2^(l+1-64)`` for a
    value of ``l`` significant bits (|x| < 2^l in ring units), when it is off by about
    ``2^(64-bits)``. With 16 fractional bits a product of two reals below 2^k in magnitude
    has l = 2k + 32, so products of values below 2^10 fail with probability below 2^-11;
    keep multiplied values small (NN activations and weights are).
    """
    if bits == 0 or x.share is None:
        return x
    s = np.uint64(bits)
    if x.ctx.party == 0:
        return SharedTensor(x.ctx, x.share >> s)
    return SharedTensor(x.ctx, -((-x.share) >> s))


_truncate = truncate  # the products' keyword ``truncate`` hides the function in their bodies


# -- Beaver products ---------------------------------------------------------------------------
def _product(x: SharedTensor, y: SharedTensor, op, out_shape, truncate: bool) -> SharedTensor:
    ctx = x.ctx
    if ctx is not y.ctx:
        raise ValueError("tensors belong to different party contexts")
    if ctx.is_helper:
        (a0, a1), (b0, b1) = dealer.masks(ctx, x.shape, y.shape)
        dealer.product_share(ctx, out_shape, lambda: op(a0 + a1, b0 + b1))
        return SharedTensor(ctx, None, out_shape)
    a, b = dealer.masks(ctx, x.shape, y.shape)
    e_mine, f_mine = x.mine - a, y.mine - b
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
    e_mine = x.mine - a
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
