"""Convolutional layers: Conv2d, AvgPool, Flatten (MaxPool is in :mod:`.layers`).

Layout NCHW. Like :class:`~.layers.MaxPool`, these layers take and return *flat rows*
``(B, C*H*W)`` (C-major, then rows, then columns: the NCHW order flattened), so they sit
between dense layers without reshaping anything outside; each layer knows its input shape
(the model config derives it from ``inputs = [C, H, W]``). ``Flatten`` is therefore the
identity on values; it marks where the config leaves the image layout. All three satisfy the
:class:`~.layers.Layer` protocol; Conv2d is :class:`~.layers.Trainable` (``param_shapes``
gives the weight sizes without allocating) and Conv2d/AvgPool are :class:`~.layers.Shaped`.

Secure costs per batch of B images (8-byte ring elements; see :mod:`spp_runtime.protocols.conv`):
Conv2d forward is one Beaver product over the im2col view (1 round, 8(|X| + |W|) bytes each
way between the primaries, 8|Y| offline); backward is two (weight gradient: 8(|X| + |dY|)
each way, 8|W| offline; input gradient: 8(|dY| + |W|) each way, 8|X| offline), the input
gradient only when a layer below needs it. AvgPool costs nothing (local sums and a public
scaling), Flatten nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..protocols.conv import ConvGeometry
from .ops import Ops

Grads = dict[str, Any]


@dataclass(frozen=True)
class Conv2d:
    """``y = conv(x, W) + b`` with W (O, C, kh, kw), b (O,), over flat NCHW rows."""

    geom: ConvGeometry
    bias: bool = True

    @property
    def n_in(self) -> int:
        return int(np.prod(self.geom.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.geom.out_shape))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return self.geom.out_shape

    def init(self, rng: np.random.Generator, activation: str) -> dict[str, np.ndarray]:
        """He-uniform weights before ReLU (fan-in C kh kw), Glorot-uniform otherwise; zero bias."""
        g = self.geom
        fan_in = g.patch_size
        fan_out = g.out_channels * g.kernel[0] * g.kernel[1]
        fan = 6.0 / fan_in if activation == "relu" else 6.0 / (fan_in + fan_out)
        limit = float(np.sqrt(fan))
        p = {"W": rng.uniform(-limit, limit, g.weight_shape)}
        if self.bias:
            p["b"] = np.zeros(g.out_channels)
        return p

    def param_keys(self) -> tuple[str, ...]:
        return ("W", "b") if self.bias else ("W",)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes :meth:`init` makes (nothing allocated)."""
        g = self.geom
        return {"W": g.weight_shape, "b": (g.out_channels,)} if self.bias else {"W": g.weight_shape}

    def inner_width(self) -> int:
        """Elements per image of the widest tensor a pass computes inside the layer: the
        im2col view of the input (one C*kh*kw patch per output position)."""
        g = self.geom
        return g.out_h * g.out_w * g.patch_size

    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        b = x.shape[0]
        x4 = x.reshape(b, *self.geom.in_shape)
        y = ops.conv2d(x4, p["W"], self.geom)
        if self.bias:
            y = y + p["b"].reshape(self.geom.out_channels, 1, 1)
        return y.reshape(b, self.n_out), x4

    def backward(self, ops: Ops, p: dict[str, Any], x4: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        b = dy.shape[0]
        dy4 = dy.reshape(b, *self.geom.out_shape)
        gw, gb = ops.conv2d_weight_grad(x4, dy4, self.geom, step)
        grads = {"W": gw, "b": gb} if self.bias else {"W": gw}
        dx = ops.conv2d_input_grad(dy4, p["W"], self.geom).reshape(b, self.n_in) if need_dx else None
        return dx, grads


@dataclass(frozen=True)
class AvgPool:
    """Non-overlapping average pooling over (H, W) of flat NCHW rows: a local window sum and
    a public scaling by 1/window^2."""

    channels: int
    height: int
    width: int
    window: int = 2

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height // self.window, self.width // self.window)

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        b = x.shape[0]
        y = ops.avgpool(x.reshape(b, self.channels, self.height, self.width), self.window)
        return y.reshape(b, self.n_out), None

    def backward(self, ops: Ops, p: dict[str, Any], cache: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        b = dy.shape[0]
        dx = ops.avgpool_grad(dy.reshape(b, *self.out_shape), self.window)
        return dx.reshape(b, self.channels * self.height * self.width), {}


@dataclass(frozen=True)
class Flatten:
    """Leave the (C, H, W) layout: the identity on flat rows."""

    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        return x, None

    def backward(self, ops: Ops, p: dict[str, Any], cache: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        return dy, {}
