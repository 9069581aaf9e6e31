"""SharedTensor: an additively shared fixed-point tensor, as one party sees it.

On P0 and P1, ``share`` holds that party's uint64 share; on the helper P2 it is ``None`` and
only the ``shape`` is known, because the helper takes part in protocols but holds no share.
Local operations (add, subtract, public scaling, reshape, indexing, sums) cost nothing; the
operators that need interaction call the protocol functions in ``spp_runtime.protocols``.
Every value is in the context's fixed-point format; products are truncated back to it.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, Callable, Sequence

import numpy as np

from .engine.context import PartyContext
from .ring import DTYPE, as_ring

PublicValue = np.ndarray | float | int


class SharedTensor:
    """A secret-shared fixed-point tensor held by the three parties."""

    __slots__ = ("ctx", "share", "shape")
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
    def like(cls, ctx: PartyContext, share: np.ndarray | None, shape: Sequence[int]) -> "SharedTensor":
        """A tensor of ``shape`` from a share (P0/P1) or nothing (P2)."""
        return cls(ctx, None if ctx.is_helper else share, shape)

    @classmethod
    def zeros(cls, ctx: PartyContext, shape: Sequence[int]) -> "SharedTensor":
        return cls.like(ctx, np.zeros(shape, dtype=DTYPE), shape)

    @classmethod
    def public(cls, ctx: PartyContext, value: PublicValue) -> "SharedTensor":
        """A trivial sharing of a public value: P0 holds the encoding, P1 holds zero."""
        enc = ctx.fxp.encode(value, name="public value")
        share = enc if ctx.party == 0 else np.zeros_like(enc)
        return cls.like(ctx, share, enc.shape)

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
    def _local(self, fn: Callable[[np.ndarray], np.ndarray]) -> "SharedTensor":
        """Apply a linear ring map to the share; on P2 only the shape is derived."""
        if self.share is None:
            dummy = np.broadcast_to(np.zeros((), dtype=DTYPE), self.shape)
            return SharedTensor(self.ctx, None, np.shape(fn(dummy)))
        return SharedTensor(self.ctx, fn(self.share))

    def _combine(self, other: "SharedTensor", fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> "SharedTensor":
        _same_ctx(self, other)
        if self.share is None:
            return SharedTensor(self.ctx, None, np.broadcast_shapes(self.shape, other.shape))
        return SharedTensor(self.ctx, fn(self.share, other.share))

    def __add__(self, other: Any) -> "SharedTensor":
        if isinstance(other, SharedTensor):
            return self._combine(other, np.add)
        return self._add_public(other)

    __radd__ = __add__

    def __sub__(self, other: Any) -> "SharedTensor":
        if isinstance(other, SharedTensor):
            return self._combine(other, np.subtract)
        return self._add_public(-np.asarray(other, dtype=np.float64))

    def __rsub__(self, other: Any) -> "SharedTensor":
        return (-self)._add_public(other)

    def __neg__(self) -> "SharedTensor":
        return self._local(np.negative)

    def _add_public(self, value: PublicValue) -> "SharedTensor":
        enc = self.ctx.fxp.encode(value, name="public operand")
        if self.ctx.party == 0:
            return self._local(lambda s: s + enc)
        return self._local(lambda s: s + np.zeros_like(enc))

    def add_ring(self, value: np.ndarray | int) -> "SharedTensor":
        """Add a public ring element (already encoded) without re-encoding it."""
        v = as_ring(value)
        if self.ctx.party == 0:
            return self._local(lambda s: s + v)
        return self._local(lambda s: s + np.zeros_like(v))

    def mul_int(self, k: np.ndarray | int) -> "SharedTensor":
        """Multiply by public integers (exact, no truncation)."""
        kr = as_ring(k)
        return self._local(lambda s: s * kr)

    def mul_public(self, value: PublicValue) -> "SharedTensor":
        """Multiply by public reals: encode, multiply locally, truncate locally."""
        enc = self.ctx.fxp.encode(value, name="public operand")
        return self._local(lambda s: s * enc).truncate()

    def __mul__(self, other: Any) -> "SharedTensor":
        if isinstance(other, SharedTensor):
            from .protocols.beaver import mul

            return mul(self, other)
        if _is_integer(other):
            return self.mul_int(other)
        return self.mul_public(other)

    __rmul__ = __mul__

    def __matmul__(self, other: Any) -> "SharedTensor":
        if isinstance(other, SharedTensor):
            from .protocols.beaver import matmul

            return matmul(self, other)
        enc = self.ctx.fxp.encode(other, name="public operand")
        return self._local(lambda s: s @ enc).truncate()

    def __rmatmul__(self, other: Any) -> "SharedTensor":
        enc = self.ctx.fxp.encode(other, name="public operand")
        return self._local(lambda s: enc @ s).truncate()

    def truncate(self, bits: int | None = None) -> "SharedTensor":
        """Divide by 2^bits (default: the fractional bits) with SecureNN's local truncation."""
        from .protocols.basic import truncate

        return truncate(self, self.ctx.fxp.frac_bits if bits is None else bits)

    def square(self) -> "SharedTensor":
        from .protocols.beaver import square

        return square(self)

    # -- nonlinear functions (protocols; ``variant`` picks ours or the paper's) ----------------
    def relu(self, variant: str = "default") -> "SharedTensor":
        from .protocols.compare import relu

        return relu(self, variant)

    def exp(self, variant: str = "default") -> "SharedTensor":
        from .protocols.exponential import exp

        return exp(self, variant)

    def sigmoid(self, variant: str = "default") -> "SharedTensor":
        from .protocols.activations import sigmoid

        return sigmoid(self, variant)

    def tanh(self, variant: str = "default") -> "SharedTensor":
        from .protocols.activations import tanh

        return tanh(self, variant)

    def softmax(self, axis: int = -1, variant: str = "default") -> "SharedTensor":
        from .protocols.softmax import softmax

        return softmax(self, axis, variant)

    def softmax_relu(self, axis: int = -1) -> "SharedTensor":
        from .protocols.softmax import softmax_relu

        return softmax_relu(self, axis)

    def reciprocal(self, variant: str = "default") -> "SharedTensor":
        from .protocols.division import reciprocal

        return reciprocal(self, variant)

    def __truediv__(self, other: Any) -> "SharedTensor":
        if isinstance(other, SharedTensor):
            from .protocols.division import divide

            return divide(self, other)
        return self.mul_public(1.0 / np.asarray(other, dtype=np.float64))

    # -- shape operations (local) -----------------------------------------------------------
    def reshape(self, *shape: Any) -> "SharedTensor":
        return self._local(lambda s: s.reshape(*shape))

    def transpose(self, *axes: int) -> "SharedTensor":
        return self._local(lambda s: s.transpose(*axes))

    @property
    def T(self) -> "SharedTensor":
        return self._local(lambda s: s.T)

    def __getitem__(self, index: Any) -> "SharedTensor":
        return self._local(lambda s: s[index])

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> "SharedTensor":
        return self._local(lambda s: s.sum(axis=axis, keepdims=keepdims, dtype=DTYPE))

    def broadcast_to(self, shape: Sequence[int]) -> "SharedTensor":
        return self._local(lambda s: np.broadcast_to(s, shape))

    def copy(self) -> "SharedTensor":
        return self._local(np.copy)

    @staticmethod
    def concatenate(parts: Sequence["SharedTensor"], axis: int = 0) -> "SharedTensor":
        first = parts[0]
        if first.share is None:
            dummies = [np.broadcast_to(np.zeros((), DTYPE), p.shape) for p in parts]
            return SharedTensor(first.ctx, None, np.concatenate(dummies, axis=axis).shape)
        return SharedTensor(first.ctx, np.concatenate([p.share for p in parts], axis=axis))

    @staticmethod
    def stack(parts: Sequence["SharedTensor"], axis: int = 0) -> "SharedTensor":
        return SharedTensor.concatenate([p._local(lambda s: np.expand_dims(s, axis)) for p in parts], axis)

    # -- opening --------------------------------------------------------------------------
    def reveal(self, to: int | None = None) -> np.ndarray | None:
        """Open the value (decoded to float64) to both primaries, or only to party ``to``."""
        from .protocols.basic import reveal

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
