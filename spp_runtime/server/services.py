"""The servers' job services: progress to the client from P0, checkpoints in the primaries' stores.

:class:`ServerServices` implements :class:`~spp_runtime.jobs.services.JobServices` for one
party and one job; the server builds one per party for every job and passes it to the program.
``progress`` is sent by P0 only (P1 and P2 do nothing), at most every ``min_interval_s``
except the final call. ``save_checkpoint`` is local on each primary (no traffic; the helper
does nothing). ``load_checkpoint`` is SPMD: P0 and P1 exchange which steps they hold (32
bytes each way, then 8 bytes P0 -> P2: 2 rounds, recorded as ``checkpoint.load``), all three
agree on the newest step both hold, and the primaries read their shares of it; only steps
saved with the job's ``binding`` (program and stored uploads read) count. ``save_model``
stores the primaries' shares of a trained model in their model stores (``storage.models``),
then P0 and P1 confirm to each other (8 bytes each way, 1 round, recorded as ``model.save``);
a primary whose peer did not confirm deletes its copy. Tests of programs in process
(``run_local``) build one per party themselves.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.context import PartyContext
from ..errors import SppError
from ..jobs.services import Resumed, StoredModel, no_checkpoint_id, no_model_name
from ..storage.checkpoints import CheckpointStore
from ..storage.models import ModelStore, Source
from ..tensor import SharedTensor

Reporter = Callable[[int, int, dict], None]


@dataclass
class ServerServices:
    """One party's services for one job (the server's :class:`~spp_runtime.jobs.JobServices`)."""

    ctx: PartyContext
    job: str = "local"
    reporter: Reporter | None = None  # set on P0 only
    checkpoints: CheckpointStore | None = None  # set on P0 and P1 when the job has an id
    checkpoint_id: str | None = None
    binding: str = ""  # what checkpoints of this job are computed from (program, stored uploads)
    save_as: str | None = None  # the job keeps its model on the servers under this name
    models: ModelStore | None = None  # set on P0 and P1 when the job has save_as
    client: str = "local"  # the submitting client: the owner of a model the job stores
    sources: tuple[Source, ...] = ()  # the stored dataset parts the job reads
    stored_model: StoredModel | None = None  # the stored model the job runs (job field model)
    min_interval_s: float = 0.1
    _last: float = 0.0

    def progress(self, done: int, total: int, info: Mapping[str, Any] | None = None) -> None:
        """Report progress to the submitting client (P0 sends it; others ignore the call).

        ``info`` must hold only public values (str, int, float, bool). Calls closer than
        ``min_interval_s`` are dropped, except the final one (``done == total``).
        """
        if self.reporter is None:
            return
        now = time.monotonic()
        if done != total and now - self._last < self.min_interval_s:
            return
        self._last = now
        clean = {str(k): v for k, v in (info or {}).items() if isinstance(v, (str, int, float, bool))}
        self.reporter(int(done), int(total), clean)

    def save_checkpoint(self, tensors: Mapping[str, SharedTensor], *, step: int,
                        info: Mapping[str, Any] | None = None) -> None:
        """Save the primaries' shares of ``tensors`` as ``step`` (atomic; keeps the newest 2)."""
        if self.checkpoint_id is None:
            raise no_checkpoint_id()
        if self.checkpoints is None:
            return  # the helper holds no shares
        frac_bits = self.ctx.fxp.frac_bits
        shares = {name: t.share for name, t in tensors.items()}
        self.checkpoints.save(self.checkpoint_id, step, _tag(self.job), frac_bits, shares, info,  # type: ignore[arg-type]
                              binding=self.binding)

    def load_checkpoint(self, shapes: Mapping[str, tuple[int, ...]]) -> Resumed | None:
        """The newest step that both P0 and P1 hold, as SharedTensors of ``shapes``; None if
        there is none (or the job has no checkpoint id). All three parties must call it."""
        ctx = self.ctx
        if self.checkpoint_id is None:
            return None
        with ctx.record("checkpoint.load"):
            step, info, frac_bits = _agree(ctx, self)
            if step is None:
                return None
            if frac_bits is not None and frac_bits != ctx.fxp.frac_bits:
                raise SppError(f"checkpoint {self.checkpoint_id} step {step} was saved with {frac_bits} "
                               f"fractional bits; this job uses {ctx.fxp.frac_bits}")
            tensors = {}
            shares = self.checkpoints.load(self.checkpoint_id, step) if self.checkpoints is not None else {}
            for name, shape in shapes.items():
                share = shares.get(name) if not ctx.is_helper else None
                if not ctx.is_helper and (share is None or share.shape != tuple(shape)):
                    got = None if share is None else list(share.shape)
                    raise SppError(f"checkpoint {self.checkpoint_id} step {step}: {name} is {got}, "
                                   f"expected {list(shape)}")
                tensors[name] = SharedTensor.like(ctx, share, shape)
        return Resumed(step, tensors, info)


    def save_model(self, tensors: Mapping[str, SharedTensor], *, config: Mapping[str, Any],
                   info: Mapping[str, Any] | None = None) -> None:
        """Keep the primaries' shares of ``tensors`` as model ``save_as`` (owned by the client,
        recording the job's stored sources); P0 and P1 confirm to each other, and a primary
        whose peer failed deletes its copy. Every party calls it; the helper stores nothing."""
        if self.save_as is None:
            raise no_model_name()
        ctx = self.ctx
        with ctx.record("model.save"):
            if ctx.is_helper:
                return
            if self.models is None:
                raise SppError(f"{ctx.name} has no model store")
            self.models.save(self.save_as, owner=self.client, model_id=self.job, frac_bits=ctx.fxp.frac_bits,
                             shares={k: t.share for k, t in tensors.items()},  # type: ignore[misc]
                             config=config, sources=self.sources, info=info)
            try:
                ctx.exchange(ctx.other, np.ones(1, dtype=np.uint64))
            except BaseException:
                self.models.delete(self.save_as)  # the other primary does not hold it
                raise


def _tag(job: str) -> int:
    return int.from_bytes(hashlib.sha256(job.encode()).digest()[:7], "big")


def _agree(ctx: PartyContext, svc: ServerServices) -> tuple[int | None, dict, int | None]:
    """P0 and P1 swap their (step, tag) lists; P0 tells P2 the newest common step."""
    n = 2 * (svc.checkpoints.keep if svc.checkpoints is not None else 2)
    if ctx.is_helper:
        (told,) = ctx.recv(0, expect=[((1,), np.uint64)])
        step = int(told[0]) - 1
        return (step if step >= 0 else None), {}, None
    assert svc.checkpoints is not None and svc.checkpoint_id is not None
    stored = [s for s in svc.checkpoints.steps(svc.checkpoint_id) if s.binding == svc.binding][-(n // 2):]
    mine = np.zeros(n, dtype=np.uint64)
    for i, s in enumerate(stored):
        mine[2 * i], mine[2 * i + 1] = s.step + 1, s.tag
    (theirs,) = ctx.exchange(ctx.other, mine)
    pairs = {(int(a), int(b)) for a, b in theirs.reshape(-1, 2) if a}
    common = [s for s in stored if (s.step + 1, s.tag) in pairs]
    best = common[-1] if common else None
    if ctx.party == 0:
        ctx.send(2, np.array([0 if best is None else best.step + 1], dtype=np.uint64))
    return (None, {}, None) if best is None else (best.step, best.info, best.frac_bits)
