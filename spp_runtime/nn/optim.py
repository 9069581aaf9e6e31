"""SGD with momentum on any :class:`~.ops.Ops` back end.

The layers return ``U = (lr / batch) * G`` for the batch-summed gradient G (the step is
applied inside the weight-gradient product, see :meth:`.ops.Ops.weight_grad`), and the update
is::

    u <- momentum * u + U
    W <- W - u

which is momentum SGD on the mean gradient with learning rate lr (u is lr times the usual
velocity). The momentum scaling is a local multiplication and truncation (no traffic), with
the constant held to 14 significant bits (:func:`.ops.scale_factor`); u stays small, so
that truncation is safe.

``clip`` > 0 clips every entry of the mean gradient to [-clip, clip] before the momentum
(gradient clipping by value): on the update that is a clip of U to lr * clip, for all
parameters in one call (:meth:`.ops.Ops.clip`; securely one batched comparison and select,
7 rounds, ~170 B per parameter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .ops import Ops


@dataclass(frozen=True)
class SGD:
    lr: float
    momentum: float = 0.0
    clip: float = 0.0

    def init_state(self, ops: Ops, params: dict[str, Any]) -> dict[str, Any]:
        """Zero velocities (none without momentum); zero is a public constant."""
        if not self.momentum:
            return {}
        return {k: ops.constant(np.zeros(v.shape)) for k, v in params.items()}

    def step_size(self, batch: int) -> float:
        """The factor the layers apply to batch-summed gradients."""
        return self.lr / batch

    def step(self, ops: Ops, params: dict[str, Any], updates: dict[str, Any], state: dict[str, Any]) -> None:
        """Update ``params`` (and ``state``) in place from the layers' scaled gradients."""
        if self.clip:
            updates = self.clipped(ops, updates)
        for k, u in updates.items():
            if self.momentum:
                state[k] = ops.scale(state[k], self.momentum) + u
                u = state[k]
            params[k] = params[k] - u

    def clipped(self, ops: Ops, updates: dict[str, Any]) -> dict[str, Any]:
        """Every update entry clipped to [-lr clip, lr clip], all tensors in one call."""
        keys = list(updates)
        flat = ops.clip(ops.concat([updates[k].reshape(-1) for k in keys], 0), self.lr * self.clip)
        out, start = {}, 0
        for k in keys:
            n = int(np.prod(updates[k].shape))
            out[k] = flat[start : start + n].reshape(updates[k].shape)
            start += n
        return out
