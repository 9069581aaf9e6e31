"""Two-dimensional convolution on shares, its two gradients, and average pooling.

Layout: **NCHW** everywhere: inputs ``(B, C, H, W)``, weights ``(O, C, kh, kw)`` (the ONNX and
PyTorch layout), outputs ``(B, O, Ho, Wo)``. ``padding`` is ``"valid"`` (none), ``"same"``
(``Ho = ceil(H / stride)``, the total padding split with the extra row/column at the bottom
and right, as TensorFlow and ONNX ``SAME_UPPER`` do) or explicit ``(top, bottom, left, right)``.
Padding adds zeros, which are linear, so both shares are padded alike.

A convolution is bilinear in (input, weights), and so are its two gradients:

* forward ``Y = conv(X, W)``: ``im2col(X) @ W_mat`` (patches ``(B Ho Wo, C kh kw)``);
* weight gradient ``dW = im2col(X)^T @ dY_mat`` (summed over batch and positions);
* input gradient ``dX = col2im(dY_mat @ W_mat^T)`` (the transposed convolution).

Each is one Beaver product (SecureNN's MatMul generalised to a bilinear map ``op``): the helper
deals masks ``A`` (shaped like the first operand, **input-sized, not patch-sized**) and ``B``
from the pairwise PRGs and ``C = op(A, B)`` (P1's share sent offline); the primaries open
``E = X - A`` and ``F = W - B`` in one exchange and set ``Z_i = op(E, B_i) + op(A_i, F) + C_i``,
P0 adding ``op(E, F)`` (``op(E, B_0 + F)``, as :func:`spp_runtime.tensor.matmul` does).
Opening ``E`` rather than the patch matrix keeps the traffic at the input's size, not
``kh kw / stride^2`` times it. The patches of one batch are built locally, in chunks of at
most :data:`CHUNK_ELEMENTS` patch entries, and only ever for the batch at hand.

Costs (8-byte ring elements; |T| = number of elements of T):

==================  ======  ===============================  ================
protocol            rounds  p0->p1 and p1->p0 (each)         p2->p1 (offline)
==================  ======  ===============================  ================
conv2d              1       8(|X| + |W|)                     8|Y|
conv2d_weight_grad  1       8(|X| + |dY|)                    8|W|
conv2d_input_grad   1       8(|dY| + |W|)                    8|X|
avgpool             0       none (window sums, public scale) none
avgpool_grad        0       none                             none
==================  ======  ===============================  ================

Results are truncated back to the fixed-point format locally (like ``matmul``) unless
``truncate=False``. Security: ``E`` and ``F`` are the secrets plus fresh uniform masks only the
helper knows, so each primary sees uniform values; the helper sees nothing. Average pooling
is local: a window sum and a multiplication by the public ``1 / (kh kw)`` with local truncation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np

from .. import dealer, ring
from ..engine.context import protocol
from ..ring import DTYPE
from ..tensor import SharedTensor
from ..tensor import truncate as _truncate

CHUNK_ELEMENTS = 1 << 22  # patch entries built at once (32 MiB of uint64)

Padding = str | tuple[int, int, int, int]


@dataclass(frozen=True)
class ConvGeometry:
    """The shape of a 2-D convolution: channels, input size, kernel, stride, padding."""

    in_channels: int
    out_channels: int
    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: Padding = "valid"

    def __post_init__(self) -> None:
        kh, kw = self.kernel
        sh, sw = self.stride
        if min(self.in_channels, self.out_channels, self.height, self.width, kh, kw, sh, sw) < 1:
            raise ValueError(f"convolution sizes must be positive: {self}")
        if isinstance(self.padding, str):
            if self.padding not in ("valid", "same"):
                raise ValueError(f"padding {self.padding!r} is not 'valid', 'same' or (top, bottom, left, right)")
        elif len(self.padding) != 4 or min(self.padding) < 0:
            raise ValueError(f"explicit padding must be four non-negative ints, got {self.padding}")
        if self.out_h < 1 or self.out_w < 1:
            raise ValueError(f"kernel {kh}x{kw} does not fit the {self.height}x{self.width} input")

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zero rows/columns."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            out = []
            for n, k, s in ((self.height, self.kernel[0], self.stride[0]), (self.width, self.kernel[1], self.stride[1])):
                total = max((-(-n // s) - 1) * s + k - n, 0)
                out += [total // 2, total - total // 2]
            return (out[0], out[1], out[2], out[3])
        return tuple(int(p) for p in self.padding)  # type: ignore[return-value]

    @property
    def out_h(self) -> int:
        t, b, _, _ = self.pads
        return (self.height + t + b - self.kernel[0]) // self.stride[0] + 1

    @property
    def out_w(self) -> int:
        _, _, l, r = self.pads
        return (self.width + l + r - self.kernel[1]) // self.stride[1] + 1

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.height, self.width)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.out_channels, self.out_h, self.out_w)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels, *self.kernel)

    @property
    def patch_size(self) -> int:
        return self.in_channels * self.kernel[0] * self.kernel[1]


# -- local maps (any dtype: uint64 ring, int64 fixed-point emulation, float64) ------------------
def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product in the operands' arithmetic: the ring's for uint64/int64, BLAS for floats."""
    if a.dtype == DTYPE:
        return ring.matmul(a, b)
    if a.dtype == np.int64:
        return ring.matmul(a.view(DTYPE), b.view(DTYPE)).view(np.int64)
    return np.matmul(a, b)


def _mm_tn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a^T @ b for tall a (n, k) and b (n, o) with n >> k, o (the weight gradient's shape).

    Integer matmul without BLAS walks a^T with a stride; einsum's sum-of-products loop is
    10-20x faster on these shapes (measured: (73728, 25)^T (73728, 20) 0.11 s against 2.4 s)
    and wraps modulo 2^64 the same way."""
    if a.dtype.kind in "ui":
        return np.einsum("nk,no->ko", a, b)
    return a.T @ b


def _chunks(batch: int, g: ConvGeometry) -> list[slice]:
    per_row = g.out_h * g.out_w * g.patch_size
    step = max(1, CHUNK_ELEMENTS // per_row)
    return [slice(i, min(i + step, batch)) for i in range(0, batch, step)]


def im2col(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """(B, C, H, W) -> patches (B Ho Wo, C kh kw), rows in (b, y, x) order, columns (c, i, j)."""
    t, bo, l, r = g.pads
    if t or bo or l or r:
        x = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    kh, kw = g.kernel
    sh, sw = g.stride
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))  # (B, C, H', W', kh, kw)
    win = win[:, :, : (g.out_h - 1) * sh + 1 : sh, : (g.out_w - 1) * sw + 1 : sw]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(x.shape[0] * g.out_h * g.out_w, g.patch_size)


def col2im(cols: np.ndarray, g: ConvGeometry, batch: int) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each patch entry back to its input position."""
    t, bo, l, r = g.pads
    kh, kw = g.kernel
    sh, sw = g.stride
    c = g.in_channels
    patches = cols.reshape(batch, g.out_h, g.out_w, c, kh, kw)
    out = np.zeros((batch, c, g.height + t + bo, g.width + l + r), dtype=cols.dtype)
    for i in range(kh):  # kh * kw vectorised slice additions
        for j in range(kw):
            out[:, :, i : i + (g.out_h - 1) * sh + 1 : sh, j : j + (g.out_w - 1) * sw + 1 : sw] += (
                patches[:, :, :, :, i, j].transpose(0, 3, 1, 2)
            )
    return out[:, :, t : t + g.height, l : l + g.width]


def _w_mat(w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    return w.reshape(g.out_channels, g.patch_size).T  # (C kh kw, O)


def _dy_mat(dy: np.ndarray) -> np.ndarray:
    return dy.transpose(0, 2, 3, 1).reshape(-1, dy.shape[1])  # (B Ho Wo, O)


def conv2d_plain(x: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """Y = conv(X, W), (B, O, Ho, Wo), batch chunk by batch chunk."""
    b = x.shape[0]
    wm = _w_mat(w, g)
    out = np.empty((b, g.out_h, g.out_w, g.out_channels), dtype=np.result_type(x, w))
    for s in _chunks(b, g):
        n = s.stop - s.start
        out[s] = _mm(im2col(x[s], g), wm).reshape(n, g.out_h, g.out_w, g.out_channels)
    return out.transpose(0, 3, 1, 2)


def conv2d_weight_plain(x: np.ndarray, dy: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """dW = im2col(X)^T @ dY_mat, shaped like the weights (O, C, kh, kw)."""
    acc = np.zeros((g.patch_size, g.out_channels), dtype=np.result_type(x, dy))
    for s in _chunks(x.shape[0], g):
        acc += _mm_tn(im2col(x[s], g), _dy_mat(dy[s]))
    return acc.T.reshape(g.weight_shape)


def conv2d_input_plain(dy: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """dX = col2im(dY_mat @ W_mat^T), (B, C, H, W): the transposed convolution."""
    b = dy.shape[0]
    wt = _w_mat(w, g).T
    out = np.empty((b, *g.in_shape), dtype=np.result_type(dy, w))
    for s in _chunks(b, g):
        out[s] = col2im(_mm(_dy_mat(dy[s]), wt), g, s.stop - s.start)
    return out


def pool_sum(x: np.ndarray, k: tuple[int, int]) -> np.ndarray:
    *lead, h, w = x.shape
    if h % k[0] or w % k[1]:
        raise ValueError(f"input {h}x{w} is not divisible by the window {k[0]}x{k[1]}")
    n = len(lead)
    return x.reshape(*lead, h // k[0], k[0], w // k[1], k[1]).sum(axis=(n + 1, n + 3), dtype=x.dtype)


def pool_spread(dy: np.ndarray, k: tuple[int, int]) -> np.ndarray:
    return np.repeat(np.repeat(dy, k[0], axis=-2), k[1], axis=-1)


# -- protocols --------------------------------------------------------------------------------
BilinearOp = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _bilinear(x: SharedTensor, y: SharedTensor, op: BilinearOp, out_shape: tuple[int, ...], truncate: bool) -> SharedTensor:
    """One Beaver product for a bilinear map ``op`` with a helper-dealt (A, B, op(A, B))."""
    ctx = x.ctx
    if ctx is not y.ctx:
        raise ValueError("tensors belong to different party contexts")
    if ctx.is_helper:
        (a0, a1), (b0, b1) = dealer.masks(ctx, x.shape, y.shape)
        dealer.product_share(ctx, out_shape, lambda: op(a0 + a1, b0 + b1))
        return SharedTensor(ctx, None, out_shape)
    a, b = cast("list[np.ndarray]", dealer.masks(ctx, x.shape, y.shape))
    assert x.share is not None and y.share is not None  # a primary holds shares
    e_mine, f_mine = x.share - a, y.share - b
    e_other, f_other = ctx.exchange(ctx.other, e_mine, f_mine)
    e, f = e_mine + e_other, f_mine + f_other
    c = dealer.product_share(ctx, out_shape)
    assert c is not None
    z = op(e, b + f if ctx.party == 0 else b) + op(a, f) + c
    out = SharedTensor(ctx, z)
    return _truncate(out, ctx.fxp.frac_bits) if truncate else out


def _check(name: str, t: SharedTensor, shape: tuple[int, ...]) -> None:
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {t.shape}, the convolution expects {shape}")


@protocol("conv2d")
def conv2d(x: SharedTensor, w: SharedTensor, g: ConvGeometry, *, truncate: bool = True) -> SharedTensor:
    """Y = conv(X, W) for X (B, C, H, W), W (O, C, kh, kw): 1 round, 8(|X| + |W|) B each way,
    8|Y| B offline."""
    b = x.shape[0]
    _check("input", x, (b, *g.in_shape))
    _check("weights", w, g.weight_shape)
    return _bilinear(x, w, lambda p, q: conv2d_plain(p, q, g), (b, *g.out_shape), truncate)


@protocol("conv2d_weight_grad")
def conv2d_weight_grad(x: SharedTensor, dy: SharedTensor, g: ConvGeometry, *, truncate: bool = True) -> SharedTensor:
    """dW = im2col(X)^T dY (O, C, kh, kw): 1 round, 8(|X| + |dY|) B each way, 8|W| B offline."""
    b = x.shape[0]
    _check("input", x, (b, *g.in_shape))
    _check("output gradient", dy, (b, *g.out_shape))
    return _bilinear(x, dy, lambda p, q: conv2d_weight_plain(p, q, g), g.weight_shape, truncate)


@protocol("conv2d_input_grad")
def conv2d_input_grad(dy: SharedTensor, w: SharedTensor, g: ConvGeometry, *, truncate: bool = True) -> SharedTensor:
    """dX = col2im(dY W_mat^T) (B, C, H, W): 1 round, 8(|dY| + |W|) B each way, 8|X| B offline."""
    b = dy.shape[0]
    _check("output gradient", dy, (b, *g.out_shape))
    _check("weights", w, g.weight_shape)
    return _bilinear(dy, w, lambda p, q: conv2d_input_plain(p, q, g), (b, *g.in_shape), truncate)


@protocol("avgpool")
def avgpool(x: SharedTensor, window: tuple[int, int] = (2, 2)) -> SharedTensor:
    """Non-overlapping average pooling over the last two axes: local window sums times the
    public 1/(kh kw), truncated locally. No traffic."""
    *lead, h, w = x.shape
    kh, kw = window
    if h % kh or w % kw:
        raise ValueError(f"input {h}x{w} is not divisible by the window {kh}x{kw}")
    n = len(lead)
    sums = x.reshape(*lead, h // kh, kh, w // kw, kw).sum(axis=(n + 1, n + 3))
    return sums.mul_public(1.0 / (kh * kw))


@protocol("avgpool_grad")
def avgpool_grad(dy: SharedTensor, window: tuple[int, int] = (2, 2)) -> SharedTensor:
    """Spread each pooled gradient times 1/(kh kw) over its window. No traffic."""
    *lead, hp, wp = dy.shape
    kh, kw = window
    scaled = dy.mul_public(1.0 / (kh * kw)).reshape(*lead, hp, 1, wp, 1)
    return scaled.broadcast_to((*lead, hp, kh, wp, kw)).reshape(*lead, hp * kh, wp * kw)
