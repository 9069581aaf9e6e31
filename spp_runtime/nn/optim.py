"""SGD with momentum on any :class:`~.ops.Ops` back end.

With summed batch gradients G (the layers do not average), the update is::

    v <- momentum * v + G
    W <- W - (lr / batch) * v

which is plain momentum SGD on the mean gradient (v is batch times the usual velocity).
Each scaling by a public constant is a local multiplication and truncation (no traffic),
with the constant held to 14 significant bits so small factors such as lr / batch keep
their precision (:func:`.ops.scale_factor`).
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

    def init_state(self, ops: Ops, params: dict[str, Any]) -> dict[str, Any]:
        """Zero velocities (none without momentum); zero is a public constant."""
        if not self.momentum:
            return {}
        return {k: ops.constant(np.zeros(v.shape)) for k, v in params.items()}

    def step(self, ops: Ops, params: dict[str, Any], grads: dict[str, Any], state: dict[str, Any], batch: int) -> None:
        """Update ``params`` (and ``state``) in place from summed gradients of ``batch`` rows."""
        step = self.lr / batch
        for k, g in grads.items():
            if self.momentum:
                state[k] = ops.scale(state[k], self.momentum) + g
                g = state[k]
            params[k] = params[k] - ops.scale(g, step)
