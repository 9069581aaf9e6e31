"""What a running program can use besides its inputs: progress reports and checkpoints.

A program gets them as its ``services`` argument (every party gets its own)::

    def train(ctx, inputs, params, services):
        resumed = services.load_checkpoint({"w1": (784, 128), "b1": (128,)})  # None if nothing saved
        start = 0 if resumed is None else resumed.step + 1
        for epoch in range(start, epochs):
            ...
            services.progress(epoch + 1, epochs, {"epoch": epoch})          # P0 tells the client
            services.save_checkpoint({"w1": w1, "b1": b1}, step=epoch)      # P0/P1 write shares

``progress`` reaches the client from P0 only and carries only what the program passes in
``info``: public values. ``save_checkpoint`` is local on each primary (no traffic; the helper
does nothing). ``load_checkpoint`` is SPMD: all three parties call it. Checkpoints are keyed
by the id the client chose (``Client.run(..., checkpoint="run-1")``); without one,
``save_checkpoint`` raises and ``load_checkpoint`` returns None.

``save_model`` keeps a trained model on the servers (P0 and P1 each store their shares, then
confirm to each other) under the name the client chose (``Client.run(..., save_as="m1")``,
``services.save_as``); the model is owned by the submitting client and records the stored
datasets it was trained on. Without a name it raises.

``stored_model`` is the model kept on the servers that the job runs (``Client.run(...,
model="m1")``, programs with ``takes_model``): its public config and tensor shapes on every
party, and on P0 and P1 access to this primary's shares and to its stored weight opening
(``nn.masked_weights``); None for jobs without one.

:class:`JobServices` is the protocol; the servers' implementation is
``server.services.ServerServices``. :class:`NullServices` is the inert default for programs
run outside a server (``run_local``): no progress, no checkpoint id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..errors import SppError
from ..tensor import SharedTensor


@dataclass(frozen=True)
class Resumed:
    """A loaded checkpoint: its step, the program's info saved with it, and the tensors."""

    step: int
    tensors: dict[str, SharedTensor]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredModel:
    """A stored model a job runs, as one party sees it. ``load_shares(names)`` gives this
    primary's shares of the named tensors; ``load_opening()`` its stored opening of the
    weights as ``(mask_id, seed, {tensor: F})`` or None; ``save_opening`` replaces it. On the
    helper the three raise (it holds nothing)."""

    name: str
    model_id: str
    config: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    load_shares: Callable[[Sequence[str]], dict[str, np.ndarray]]
    load_opening: Callable[[], tuple[str, bytes, dict[str, np.ndarray]] | None]
    save_opening: Callable[[str, bytes, Mapping[str, np.ndarray]], None]

    def __repr__(self) -> str:
        return f"StoredModel({self.name!r}, model_id={self.model_id})"


def helper_holds_nothing(*_: object) -> Any:
    """What a helper's StoredModel does when asked for shares or openings."""
    raise SppError("the helper holds no share and no opening of a stored model")


class JobServices(Protocol):
    """One party's services for one job."""

    @property
    def checkpoint_id(self) -> str | None:
        """The client-chosen checkpoint id of the job; None when it has none."""
        ...

    def progress(self, done: int, total: int, info: Mapping[str, Any] | None = None) -> None:
        """Report progress to the submitting client (P0 sends it; others ignore the call).

        ``info`` must hold only public values (str, int, float, bool); anything else is dropped.
        """
        ...

    def save_checkpoint(self, tensors: Mapping[str, SharedTensor], *, step: int,
                        info: Mapping[str, Any] | None = None) -> None:
        """Save the primaries' shares of ``tensors`` as ``step`` (raises without a checkpoint id)."""
        ...

    def load_checkpoint(self, shapes: Mapping[str, tuple[int, ...]]) -> Resumed | None:
        """The newest step that both P0 and P1 hold, as SharedTensors of ``shapes``; None if
        there is none (or the job has no checkpoint id). All three parties must call it."""
        ...

    @property
    def save_as(self) -> str | None:
        """The name under which the job keeps its model on the servers; None: it returns it."""
        ...

    def save_model(self, tensors: Mapping[str, SharedTensor], *, config: Mapping[str, Any],
                   info: Mapping[str, Any] | None = None) -> None:
        """Keep ``tensors`` (the model's weights) on P0 and P1 as model ``save_as``, with its
        public ``config`` and ``info``. All three parties must call it (raises without a name)."""
        ...

    @property
    def stored_model(self) -> StoredModel | None:
        """The stored model the job runs (job field ``model``); None without one."""
        ...


def no_checkpoint_id() -> SppError:
    """The error of ``save_checkpoint`` in a job submitted without a checkpoint id."""
    return SppError("this job has no checkpoint id; pass checkpoint=... when submitting it")


def no_model_name() -> SppError:
    """The error of ``save_model`` in a job submitted without ``save_as``."""
    return SppError("this job has no model name; pass save_as=... when submitting it")


@dataclass(frozen=True)
class NullServices:
    """Inert services: progress goes nowhere, there is no checkpoint id and no model name."""

    @property
    def checkpoint_id(self) -> str | None:
        return None

    @property
    def save_as(self) -> str | None:
        return None

    @property
    def stored_model(self) -> StoredModel | None:
        return None

    def save_model(self, tensors: Mapping[str, SharedTensor], *, config: Mapping[str, Any],
                   info: Mapping[str, Any] | None = None) -> None:
        raise no_model_name()

    def progress(self, done: int, total: int, info: Mapping[str, Any] | None = None) -> None:
        return None

    def save_checkpoint(self, tensors: Mapping[str, SharedTensor], *, step: int,
                        info: Mapping[str, Any] | None = None) -> None:
        raise no_checkpoint_id()

    def load_checkpoint(self, shapes: Mapping[str, tuple[int, ...]]) -> Resumed | None:
        return None
