"""Layers: stateless descriptions with a forward and a backward pass over any :class:`~.ops.Ops`.

A layer's parameters live in the model's parameter dict under ``"<index>.<name>"``; forward
returns the output and a cache, backward takes the cache and the output gradient and returns
the input gradient and the parameter gradients (summed over the batch, not averaged: the
optimiser divides by the batch size with one public scaling).

Secure costs per batch of B rows (8-byte ring elements; see the protocols for details):
Dense d->k forward opens x and W once (1 round, 16(Bd + dk) bytes) and multiplies them (the
helper's 8Bk bytes, offline); backward opens dy once (1 round, 16Bk) and reuses the forward
openings for both products (weights and input gradient: the helper's 8(dk + Bk + Bd)
bytes offline, the Bk for the scaled gradient), instead of three Beaver products that open
each matrix twice (16(Bd + dk + Bd + Bk + Bk + dk) bytes, 3 rounds). ReLU forward 4 rounds, 80.375 B per element (a 3-round sign
bit and a select on the comparison's own opening); backward 1 round, 24 B per element (one
product with the kept sign bit, already in the ring). Sigmoid and
tanh forward cost what their protocols do (223 and 239 B per element); backward one square
and one product (~64 B per element).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .ops import Ops

Grads = dict[str, Any]


@dataclass(frozen=True)
class Dense:
    """Fully connected layer ``x @ W + b`` with W of shape (n_in, n_out)."""

    n_in: int
    n_out: int

    def init(self, rng: np.random.Generator, activation: str) -> dict[str, np.ndarray]:
        """He-uniform weights before ReLU, Glorot-uniform otherwise; zero bias."""
        fan = 6.0 / self.n_in if activation == "relu" else 6.0 / (self.n_in + self.n_out)
        limit = float(np.sqrt(fan))
        return {"W": rng.uniform(-limit, limit, (self.n_in, self.n_out)), "b": np.zeros(self.n_out)}

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes :meth:`init` makes (nothing allocated)."""
        return {"W": (self.n_in, self.n_out), "b": (self.n_out,)}

    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        """``x @ W + b``; x and W are opened once (secure: one round) and kept as the cache."""
        xo, wo = ops.operands(x, p["W"])
        return ops.matmul(xo, wo) + p["b"], (xo, wo)

    def backward(self, ops: Ops, p: dict[str, Any], cache: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        """dy is opened once (secure: one round) and both products reuse the forward pass's
        openings of x and W (W has not changed yet: the update follows the backward pass)."""
        xo, wo = cache
        (dyo,) = ops.operands(dy)
        gw, gb = ops.weight_grad(xo, dyo, step)
        return (ops.matmul(dyo, wo.T) if need_dx else None), {"W": gw, "b": gb}


@dataclass(frozen=True)
class ReLU:
    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        return ops.relu(x)

    def backward(self, ops: Ops, p: dict[str, Any], mask: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        return ops.select(mask, dy), {}


@dataclass(frozen=True)
class Sigmoid:
    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        y = ops.sigmoid(x)
        return y, y

    def backward(self, ops: Ops, p: dict[str, Any], y: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        return ops.mul(dy, ops.minus_square(y)), {}  # sigma' = s - s^2 from the output


@dataclass(frozen=True)
class Tanh:
    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        y = ops.tanh(x)
        return y, y

    def backward(self, ops: Ops, p: dict[str, Any], y: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        return ops.mul(dy, ops.one_minus_square(y)), {}  # tanh' = 1 - t^2 from the output


@dataclass(frozen=True)
class MaxPool:
    """Non-overlapping max pooling over the last two axes of (B, C, H, W) inputs given as
    flat rows of C*H*W; the argmax one-hot routes the gradient back."""

    channels: int
    height: int
    width: int
    window: int = 2

    @property
    def n_out(self) -> int:
        return self.channels * (self.height // self.window) * (self.width // self.window)

    def forward(self, ops: Ops, p: dict[str, Any], x: Any) -> tuple[Any, Any]:
        b = x.shape[0]
        y, arg = ops.maxpool(x.reshape(b, self.channels, self.height, self.width), self.window)
        return y.reshape(b, self.n_out), arg

    def backward(self, ops: Ops, p: dict[str, Any], arg: Any, dy: Any, need_dx: bool, step: float = 1.0) -> tuple[Any, Grads]:
        b = dy.shape[0]
        h, w = self.height // self.window, self.width // self.window
        dx = ops.maxpool_grad(dy.reshape(b, self.channels, h, w), arg, self.window)
        return dx.reshape(b, self.channels * self.height * self.width), {}


class Layer(Protocol):
    """What the training loop needs of a layer: a forward pass returning (output, cache) and a
    backward pass returning (input gradient or None, parameter gradients)."""

    def forward(self, ops: Ops, p: dict[str, Any], x: Any, /) -> tuple[Any, Any]: ...

    def backward(self, ops: Ops, p: dict[str, Any], cache: Any, dy: Any, /, need_dx: bool,
                 step: float = 1.0) -> tuple[Any, Grads]: ...


@runtime_checkable
class Trainable(Layer, Protocol):
    """A layer with parameters: its width and its seeded initial weights."""

    @property
    def n_out(self) -> int: ...

    def init(self, rng: np.random.Generator, activation: str) -> dict[str, np.ndarray]: ...

    def param_shapes(self) -> dict[str, tuple[int, ...]]: ...


@runtime_checkable
class Shaped(Protocol):
    """A layer that changes the width of what flows through it."""

    @property
    def n_out(self) -> int: ...


ACTIVATIONS: dict[str, type[ReLU | Sigmoid | Tanh]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
