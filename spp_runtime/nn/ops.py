"""The arithmetic a network runs on, in three interchangeable back ends.

Layers, losses and the optimiser are written once against :class:`Ops`; the back end decides
what a value is:

- :class:`SecureOps`: :class:`~spp_runtime.tensor.SharedTensor` on the three parties; every
  product is a Beaver protocol, every nonlinearity one of the runtime's protocols. Nothing
  is opened except what the caller reveals.
- :class:`FloatOps`: float64 numpy with exact functions: the plaintext reference.
- :class:`FixedOps`: an emulation of exactly what :class:`SecureOps` computes, in plaintext:
  int64 ring values with the same fractional bits, products truncated by a floor shift, and
  the nonlinearities through the same approximations (:mod:`spp_runtime.reference.emulate`).
  The secure result differs from it only by the local truncation's +-1 unit in the last place
  per product, so the gap between secure and float64 training is explained by this emulation.

Masks (the derivative of ReLU) are opaque values that only :meth:`Ops.select` consumes.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from ..encoding import FixedPoint
from ..masked import MaskedOperand, masked_matmul, masked_rescale, open_operands
from ..protocols import activations, conv, softmax
from ..protocols.boolean import InjectedBits, b2a, bits_mul, select_bits
from ..protocols.compare import less_than_bits, sign_and_product
from ..protocols.maxpool import maxpool, maxpool_grad, rowmax
from ..protocols.variants import DEFAULT
from ..reference import emulate
from ..tensor import SharedTensor, matmul, reveal

Value = Any
Mask = Any

SCALE_BITS = 14  # significant bits of the integer that multiplies a value by a public constant
GRAD_EXTRA_BITS = 8  # extra fractional bits of the scaled output gradient in weight_grad


class Ops(Protocol):
    """What layers, losses and optimisers need from a back end."""

    def constant(self, value: np.ndarray | float) -> Value: ...  # public, e.g. initial zeros
    def operands(self, *values: Value) -> list[Value]: ...  # for several products (secure: opened once)
    def matmul(self, a: Value, b: Value) -> Value: ...  # values or operands (``.T`` of an operand too)
    def mul(self, a: Value, b: Value) -> Value: ...
    def scale(self, a: Value, c: float) -> Value: ...  # multiply by a public real
    def weight_grad(self, x: Value, dy: Value, c: float) -> tuple[Value, Value]: ...  # c x^T dy, c sum(dy)
    def relu(self, x: Value) -> tuple[Value, Mask]: ...  # (max(x, 0), [x >= 0])
    def select(self, mask: Mask, x: Value) -> Value: ...  # mask ? x : 0
    def sigmoid(self, x: Value) -> Value: ...
    def tanh(self, x: Value) -> Value: ...
    def one_minus_square(self, t: Value) -> Value: ...  # 1 - t^2 (tanh')
    def minus_square(self, s: Value) -> Value: ...  # s - s^2 (sigmoid')
    def softmax(self, x: Value) -> Value: ...  # along the last axis
    def softmax_relu(self, x: Value) -> Value: ...
    def maxpool(self, x: Value, window: int) -> tuple[Value, Mask]: ...  # last two axes
    def maxpool_grad(self, dy: Value, argmax: Mask, window: int) -> Value: ...
    def count_wrong(self, scores: Value, onehot: Value) -> Value: ...  # unopened; counts add with +
    def open_count(self, count: Value) -> int | None: ...  # the one opening of a (summed) count
    def concat(self, parts: list[Value], axis: int) -> Value: ...  # local (no traffic)
    def square(self, x: Value) -> Value: ...  # x^2, one product
    def clip(self, x: Value, c: float) -> Value: ...  # min(max(x, -c), c), elementwise
    # convolutional layers (NCHW; see nn/conv_layers.py and protocols/conv.py)
    def conv2d(self, x: Value, w: Value, g: conv.ConvGeometry) -> Value: ...
    def conv2d_weight_grad(self, x: Value, dy: Value, g: conv.ConvGeometry, c: float) -> tuple[Value, Value]: ...
    def conv2d_input_grad(self, dy: Value, w: Value, g: conv.ConvGeometry) -> Value: ...
    def avgpool(self, x: Value, window: int) -> Value: ...  # last two axes
    def avgpool_grad(self, dy: Value, window: int) -> Value: ...


def _pool_windows(x: np.ndarray, k: int) -> np.ndarray:
    """(..., H, W) -> (..., H/k, W/k, k*k) non-overlapping windows."""
    *lead, h, w = x.shape
    n = len(lead)
    xr = x.reshape(*lead, h // k, k, w // k, k).transpose(*range(n), n, n + 2, n + 1, n + 3)
    return xr.reshape(*lead, h // k, w // k, k * k)


def _plain_maxpool(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    win = _pool_windows(x, k)
    arg = win.argmax(axis=-1)
    return np.take_along_axis(win, arg[..., None], -1)[..., 0], arg


def _plain_maxpool_grad(dy: np.ndarray, arg: np.ndarray, k: int) -> np.ndarray:
    routed = np.where(np.arange(k * k) == arg[..., None], dy[..., None], 0)
    *lead, hp, wp, _ = routed.shape
    n = len(lead)
    routed = routed.reshape(*lead, hp, wp, k, k).transpose(*range(n), n, n + 2, n + 1, n + 3)
    return routed.reshape(*lead, hp * k, wp * k)


def scale_factor(c: float, frac_bits: int) -> tuple[int, int]:
    """(k, s) with k / 2^s ~= c and k holding SCALE_BITS significant bits, for a product
    x * k truncated by s bits. Small constants such as lr / batch keep their precision."""
    if c == 0:
        return 0, 0
    s = max(0, SCALE_BITS - 1 - math.floor(math.log2(abs(c))))
    return int(round(c * 2**s)), s  # noqa: RUF046 (numpy < 2 scalars round to floats)


def grad_scaling(c: float, frac_bits: int) -> tuple[int, int, int]:
    """(k, s1, s2) for weight gradients ``c * x^T dy``: dy is multiplied by k and truncated by
    s1 to ``frac_bits + e`` fractional bits (e = s - s1 <= GRAD_EXTRA_BITS), and the product
    x^T dy' (at 2 frac_bits + e) is truncated by s2 = frac_bits + e.

    Scaling dy by the small step c = lr / batch *before* the product keeps every truncated
    value small: a local truncation fails with probability about |value| / 2^63 (ring units),
    so truncating the summed gradient x^T dy (up to ~2^39 units) would fail about once per
    few epochs of network A, while the pre-scaled product (~2^30 units) fails about 2^9 times
    less often. The e extra bits keep the precision of the small scaled gradient."""
    k, s = scale_factor(c, frac_bits)
    e = min(GRAD_EXTRA_BITS, s)
    return k, s - e, frac_bits + e


class FloatOps:
    """float64 numpy, exact functions: the plaintext reference."""

    def constant(self, value: np.ndarray | float) -> np.ndarray:
        return np.array(value, dtype=np.float64)

    def operands(self, *values: np.ndarray) -> list[np.ndarray]:
        return list(values)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a @ b

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a * b

    def scale(self, a: np.ndarray, c: float) -> np.ndarray:
        return a * c

    def weight_grad(self, x: np.ndarray, dy: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
        return c * (x.T @ dy), c * dy.sum(axis=0)

    def relu(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = x >= 0
        return np.where(mask, x, 0.0), mask

    def select(self, mask: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.where(mask, x, 0.0)

    def sigmoid(self, x: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(0.5 * x))

    def tanh(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def one_minus_square(self, t: np.ndarray) -> np.ndarray:
        return 1.0 - t * t

    def minus_square(self, s: np.ndarray) -> np.ndarray:
        return s - s * s

    def softmax(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def softmax_relu(self, x: np.ndarray) -> np.ndarray:
        return emulate.softmax_relu(x, axis=-1)

    def maxpool(self, x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
        return _plain_maxpool(x, window)

    def maxpool_grad(self, dy: np.ndarray, argmax: np.ndarray, window: int) -> np.ndarray:
        return _plain_maxpool_grad(dy, argmax, window)

    def count_wrong(self, scores: np.ndarray, onehot: np.ndarray) -> int:
        return int(np.sum(scores.argmax(-1) != onehot.argmax(-1)))

    def open_count(self, count: int) -> int:
        return int(count)

    def concat(self, parts: list[np.ndarray], axis: int) -> np.ndarray:
        return np.concatenate(parts, axis=axis)

    def square(self, x: np.ndarray) -> np.ndarray:
        return x * x

    def clip(self, x: np.ndarray, c: float) -> np.ndarray:
        return np.clip(x, -c, c)

    def conv2d(self, x: np.ndarray, w: np.ndarray, g: conv.ConvGeometry) -> np.ndarray:
        return conv.conv2d_plain(x, w, g)

    def conv2d_weight_grad(self, x: np.ndarray, dy: np.ndarray, g: conv.ConvGeometry, c: float) -> tuple[np.ndarray, np.ndarray]:
        return c * conv.conv2d_weight_plain(x, dy, g), c * dy.sum(axis=(0, 2, 3))

    def conv2d_input_grad(self, dy: np.ndarray, w: np.ndarray, g: conv.ConvGeometry) -> np.ndarray:
        return conv.conv2d_input_plain(dy, w, g)

    def avgpool(self, x: np.ndarray, window: int) -> np.ndarray:
        return conv.pool_sum(x, (window, window)) / (window * window)

    def avgpool_grad(self, dy: np.ndarray, window: int) -> np.ndarray:
        return conv.pool_spread(dy / (window * window), (window, window))


class FixedOps:
    """Plaintext emulation of :class:`SecureOps`: int64 ring values with ``frac_bits``
    fractional bits, wrap-around arithmetic, floor truncation after each product, and the
    protocols' approximations for the nonlinear functions."""

    def __init__(self, fxp: FixedPoint | None = None) -> None:
        self.fxp = fxp or FixedPoint()
        self.f = self.fxp.frac_bits

    def encode(self, value: np.ndarray | float) -> np.ndarray:
        return self.fxp.encode(value).view(np.int64)

    def decode(self, value: np.ndarray) -> np.ndarray:
        return value.astype(np.float64) / self.fxp.scale

    constant = encode

    def operands(self, *values: np.ndarray) -> list[np.ndarray]:
        return list(values)

    def _through(self, fn, x: np.ndarray) -> np.ndarray:
        return self.encode(fn(self.decode(x)))

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a @ b) >> self.f

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a * b) >> self.f

    def scale(self, a: np.ndarray, c: float) -> np.ndarray:
        k, s = scale_factor(c, self.f)
        return (a * k) >> s

    def weight_grad(self, x: np.ndarray, dy: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
        k, s1, s2 = grad_scaling(c, self.f)
        dys = (dy * k) >> s1
        return (x.T @ dys) >> s2, dys.sum(axis=0) >> (s2 - self.f)

    def relu(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = x >= 0
        return np.where(mask, x, 0), mask

    def select(self, mask: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.where(mask, x, 0)

    def sigmoid(self, x: np.ndarray) -> np.ndarray:
        return self._through(emulate.sigmoid, x)

    def tanh(self, x: np.ndarray) -> np.ndarray:
        return self._through(emulate.tanh, x)

    def one_minus_square(self, t: np.ndarray) -> np.ndarray:
        return self.fxp.scale - ((t * t) >> self.f)

    def minus_square(self, s: np.ndarray) -> np.ndarray:
        return s - ((s * s) >> self.f)

    def softmax(self, x: np.ndarray) -> np.ndarray:
        return self._through(lambda v: emulate.softmax(v, axis=-1), x)

    def softmax_relu(self, x: np.ndarray) -> np.ndarray:
        return self._through(lambda v: emulate.softmax_relu(v, axis=-1), x)

    def maxpool(self, x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
        return _plain_maxpool(x, window)

    def maxpool_grad(self, dy: np.ndarray, argmax: np.ndarray, window: int) -> np.ndarray:
        return _plain_maxpool_grad(dy, argmax, window)

    def count_wrong(self, scores: np.ndarray, onehot: np.ndarray) -> int:
        return int(np.sum(scores.argmax(-1) != onehot.argmax(-1)))

    def open_count(self, count: int) -> int:
        return int(count)

    def concat(self, parts: list[np.ndarray], axis: int) -> np.ndarray:
        return np.concatenate(parts, axis=axis)

    def square(self, x: np.ndarray) -> np.ndarray:
        return (x * x) >> self.f

    def clip(self, x: np.ndarray, c: float) -> np.ndarray:
        k = int(self.encode(c))
        return np.clip(x, -k, k)

    def conv2d(self, x: np.ndarray, w: np.ndarray, g: conv.ConvGeometry) -> np.ndarray:
        return conv.conv2d_plain(x, w, g) >> self.f

    def conv2d_weight_grad(self, x: np.ndarray, dy: np.ndarray, g: conv.ConvGeometry, c: float) -> tuple[np.ndarray, np.ndarray]:
        k, s1, s2 = grad_scaling(c, self.f)
        dys = (dy * k) >> s1
        return conv.conv2d_weight_plain(x, dys, g) >> s2, dys.sum(axis=(0, 2, 3)) >> (s2 - self.f)

    def conv2d_input_grad(self, dy: np.ndarray, w: np.ndarray, g: conv.ConvGeometry) -> np.ndarray:
        return conv.conv2d_input_plain(dy, w, g) >> self.f

    def _times_public(self, a: np.ndarray, c: float) -> np.ndarray:
        return (a * self.encode(c)) >> self.f  # SharedTensor.mul_public: encode, multiply, truncate

    def avgpool(self, x: np.ndarray, window: int) -> np.ndarray:
        return self._times_public(conv.pool_sum(x, (window, window)), 1.0 / (window * window))

    def avgpool_grad(self, dy: np.ndarray, window: int) -> np.ndarray:
        return conv.pool_spread(self._times_public(dy, 1.0 / (window * window)), (window, window))


class SecureOps:
    """The secure back end: values are SharedTensors of one party context.

    ``activation_variant`` picks the sigmoid/tanh/softmax protocols (``"default"`` or the
    paper's ``"spp"``); ReLU uses the default sign-bit protocol and keeps its XOR-shared bit
    as the mask, so the backward pass costs one select (1 round, ~32 B per element).

    ``reuse_openings`` (default): :meth:`operands` masks and opens a matrix once for all its
    products (:mod:`spp_runtime.masked`); ``False`` passes values through, so every product
    is a Beaver product opening both its operands (the cost before masked operands, kept
    for comparison).
    """

    def __init__(self, ctx, activation_variant: str = DEFAULT, reuse_openings: bool = True) -> None:
        self.ctx = ctx
        self.variant = activation_variant
        self.reuse_openings = reuse_openings

    def constant(self, value: np.ndarray | float):
        return SharedTensor.public(self.ctx, np.asarray(value, dtype=np.float64))

    def operands(self, *values):
        """Each value masked and opened once, all in one round (:func:`.masked.open_operands`),
        for any number of products: a dense layer opens X and W for its forward product and
        reuses them, with the output gradient opened once, for both backward products.
        Operands already opened are passed through; without ``reuse_openings`` everything is."""
        if not self.reuse_openings:
            return list(values)
        todo = [v for v in values if not isinstance(v, MaskedOperand)]
        opened = iter(open_operands(*todo) if todo else [])
        return [v if isinstance(v, MaskedOperand) else next(opened) for v in values]

    def matmul(self, a, b):
        """A Beaver product of shared values, or, when either is an operand, a product of
        operands: 0 rounds and the helper's 8 B per output element if both are (the other is
        opened first if not)."""
        if isinstance(a, MaskedOperand) or isinstance(b, MaskedOperand):
            a, b = self.operands(a, b)
            return masked_matmul(a, b)
        return a @ b

    def mul(self, a, b):
        return a * b

    def scale(self, a, c: float):
        k, s = scale_factor(c, self.ctx.fxp.frac_bits)
        return a.mul_int(k).truncate(s)

    def weight_grad(self, x, dy, c: float):
        """For operands (a dense layer's opened input and output gradient) no opening at all:
        the scaled gradient is derived from dy's opening (:func:`.masked.masked_rescale`) and
        the product of the openings costs the helper's dealing only. For shared values one
        Beaver product."""
        f = self.ctx.fxp.frac_bits
        k, s1, s2 = grad_scaling(c, f)
        if isinstance(x, MaskedOperand) or isinstance(dy, MaskedOperand):
            xo, dyo = self.operands(x, dy)
            dyso = masked_rescale(dyo, k, s1)
            gw = masked_matmul(xo.T, dyso, truncate=False).truncate(s2)
            return gw, dyso.value().sum(axis=0).truncate(s2 - f)
        dys = dy.mul_int(k).truncate(s1)
        return matmul(x.T, dys, truncate=False).truncate(s2), dys.sum(axis=0).truncate(s2 - f)

    def relu(self, x):
        """The sign bit (3 rounds) and the select on the comparison's own opening (1 round):
        80.375 B per element. The mask is the sign bit already in the ring (its z opened), so
        the backward select is one product: 8 B each way and 8 B offline per element."""
        _, injected, out, _ = sign_and_product(x, negate=True)
        return out, injected

    def select(self, mask, x):
        if isinstance(mask, InjectedBits):
            (out,) = bits_mul(mask, x)
            return out
        return select_bits(mask, x)

    def sigmoid(self, x):
        return activations.sigmoid(x, self.variant)

    def tanh(self, x):
        return activations.tanh(x, self.variant)

    def one_minus_square(self, t):
        return 1.0 - t.square()

    def minus_square(self, s):
        return s - s.square()

    def softmax(self, x):
        return softmax.softmax(x, axis=-1, variant=self.variant)

    def softmax_relu(self, x):
        return softmax.softmax_relu(x, axis=-1)

    def maxpool(self, x, window: int):
        return maxpool(x, (window, window))

    def maxpool_grad(self, dy, argmax, window: int):
        return maxpool_grad(dy, argmax, (window, window))

    def count_wrong(self, scores, onehot):
        """Rows whose labelled score is below the row max (ties count as correct), as a
        shared integer (not opened; add batches' counts with ``+``, open the total once with
        :meth:`open_count`): a row max (comparison tree), one product and one comparison per
        row."""
        m = rowmax(scores, axis=-1)
        labelled = (scores * onehot).sum(axis=-1)
        return b2a(less_than_bits(labelled, m)).sum()

    def open_count(self, count) -> int | None:
        """Open a shared count to P0 and P1 (P2 gets None): 8 bytes each way, 1 round."""
        opened = reveal(count)
        return None if opened is None else int(np.asarray(opened).view(np.int64))

    def count_correct(self, scores, onehot) -> int | None:
        """Correct rows of one batch, opened as a count only (P2 gets None)."""
        wrong = self.open_count(self.count_wrong(scores, onehot))
        return None if wrong is None else scores.shape[0] - wrong

    def concat(self, parts, axis: int):
        return SharedTensor.concatenate(parts, axis=axis)

    def square(self, x):
        return x.square()

    def clip(self, x, c: float):
        """``x - relu(x - c) + relu(-c - x)``: both ReLUs in one batched sign-bit test and one
        select on the comparison's opening (3 + 1 rounds, 2 x 80.375 B per element)."""
        d = SharedTensor.stack([x - c, -x - c])
        r = sign_and_product(d, negate=True)[2]
        return x - r[0] + r[1]

    def conv2d(self, x, w, g: conv.ConvGeometry):
        return conv.conv2d(x, w, g)

    def conv2d_weight_grad(self, x, dy, g: conv.ConvGeometry, c: float):
        """Like :meth:`weight_grad`: dY scaled by c before the product (:func:`grad_scaling`)."""
        f = self.ctx.fxp.frac_bits
        k, s1, s2 = grad_scaling(c, f)
        dys = dy.mul_int(k).truncate(s1)
        gw = conv.conv2d_weight_grad(x, dys, g, truncate=False).truncate(s2)
        return gw, dys.sum(axis=(0, 2, 3)).truncate(s2 - f)

    def conv2d_input_grad(self, dy, w, g: conv.ConvGeometry):
        return conv.conv2d_input_grad(dy, w, g)

    def avgpool(self, x, window: int):
        return conv.avgpool(x, (window, window))

    def avgpool_grad(self, dy, window: int):
        return conv.avgpool_grad(dy, (window, window))
