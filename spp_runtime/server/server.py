"""One party's server process: connect to the other two, then run jobs from clients.

Job flow. A client sends ``{"type": "job", ...}`` to all three servers (P0 and P1 with their
input shares, P2 with the shapes only). P0 fixes the order: when idle it takes its oldest
pending job and announces ``{"type": "run", "job": id}`` to P1 and P2, which run jobs in the
announced order. Every job gets a fresh session (new pairwise seeds) and ends with a result
(the party's output shares and its protocol records) or an error sent to the client. A
failing party tells its peers (``abort``) so they stop at once; the servers keep serving.
Logs carry job ids, program names, shapes and timings only.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import PARTY_NAMES
from ..config import ClusterConfig
from ..engine.context import PartyContext
from ..errors import SppError
from ..ring import DTYPE
from ..tensor import SharedTensor
from ..transport.zmq_transport import ControlMessage, ZmqTransport
from .programs import JobContext, get_program

log = logging.getLogger("spp.server")
MAX_INPUTS = 64


@dataclass
class PendingJob:
    job_id: bytes
    body: dict
    arrays: list
    route: bytes
    client: str
    received: float


class JobRejected(SppError):
    """A job request that cannot run (bad fields, unknown program, mismatched inputs)."""


class Server:
    def __init__(self, config: ClusterConfig, party: int, store: Any = None) -> None:
        self.config = config
        self.party = party
        self.name = PARTY_NAMES[party]
        self.store = store
        keys = config.load_keypair(self.name)
        self.transport = ZmqTransport(
            party, config.endpoints, keys, config.party_publics(), config.client_publics(),
            max_message_bytes=config.max_message_bytes,
        )
        self.pending: dict[bytes, PendingJob] = {}
        self.queue: deque[bytes] = deque()  # P0: jobs to announce; P1/P2: announced order
        self.jobs_done = 0
        self._stop = False

    # -- lifecycle --------------------------------------------------------------------------
    def stop(self, *_: object) -> None:
        self._stop = True

    def serve_forever(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.transport.connect()
        log.info("%s listening on %s; connecting to peers", self.name, self.config.endpoints[self.party].bind_url)
        self.transport.wait_ready(self.config.timeout_s)
        log.info("%s connected to both peers; serving", self.name)
        try:
            while not self._stop:
                msg = self.transport.recv_control(0.2)
                if msg is not None:
                    self._handle(msg)
                self._maybe_run()
        finally:
            self.transport.close()
            log.info("%s stopped after %d jobs", self.name, self.jobs_done)

    # -- control messages -------------------------------------------------------------------
    def _handle(self, msg: ControlMessage) -> None:
        kind = msg.body.get("type")
        if msg.sender in PARTY_NAMES:
            if kind == "run" and msg.sender == "p0" and self.party != 0:
                self.queue.append(bytes(msg.body["job"]))
            return
        if kind == "job":
            self._accept(msg)
        elif kind == "status":
            self.transport.reply(msg.route, {"type": "status", "party": self.name, "jobs_done": self.jobs_done,
                                             "pending": len(self.pending)})
        else:
            self.transport.reply(msg.route, {"type": "error", "party": self.name,
                                             "error": f"unknown request type {kind!r}"})

    def _accept(self, msg: ControlMessage) -> None:
        body = msg.body
        job_id = body.get("job")
        if not isinstance(job_id, bytes) or not 1 <= len(job_id) <= 32:
            self.transport.reply(msg.route, {"type": "error", "party": self.name, "error": "job request lacks a valid job id"})
            return
        if job_id in self.pending:
            self._reply_error(msg.route, job_id, "a job with this id is already pending")
            return
        self.pending[job_id] = PendingJob(job_id, body, msg.arrays, msg.route, msg.sender, time.monotonic())
        if self.party == 0:
            self.queue.append(job_id)
        log.info("job %s (%s) from %s queued", job_id.hex(), body.get("program"), msg.sender)

    def _maybe_run(self) -> None:
        if not self.queue:
            self._expire()
            return
        job_id = self.queue[0]
        job = self.pending.get(job_id)
        if job is None:
            return  # P1/P2: announced but the client's request has not arrived yet
        self.queue.popleft()
        del self.pending[job_id]
        if self.party == 0:
            for peer in (1, 2):
                self.transport.send_control_to_party(peer, {"type": "run", "job": job_id})
        self._execute(job)

    def _expire(self) -> None:
        """Drop requests never scheduled (P0 never announced them) after the timeout."""
        now = time.monotonic()
        for job_id, job in list(self.pending.items()):
            if now - job.received > 4 * self.config.timeout_s:
                del self.pending[job_id]
                self._reply_error(job.route, job_id, "the job was never scheduled by p0 (did the client reach every server?)")

    # -- running a job ----------------------------------------------------------------------
    def _execute(self, job: PendingJob) -> None:
        t0 = time.perf_counter()
        program_name = str(job.body.get("program"))
        self.transport.begin_session(job.job_id)
        try:
            program = get_program(program_name)
            ctx = PartyContext(self.party, self.transport, fxp=self.config.fxp, session=job.job_id,
                               timeout=self.config.timeout_s, max_message_bytes=self.config.max_message_bytes)
            ctx.setup()
            ctx.start_epoch()
            inputs = self._inputs(ctx, job)
            progress = lambda info: self.transport.reply(job.route, {"type": "progress", "job": job.job_id, "party": self.name, **info})  # noqa: E731
            jc = JobContext(ctx, dict(job.body.get("params") or {}), inputs, self.store, progress)
            outputs = program.run(jc)
            self._reply_result(job, outputs, ctx)
            log.info("job %s (%s) done in %.3f s", job.job_id.hex(), program_name, time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - reported to the client, the server carries on
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("job %s (%s) failed: %s", job.job_id.hex(), program_name, reason)
            self.transport.abort_session(reason[:300])
            self._reply_error(job.route, job.job_id, reason)
        finally:
            self.transport.end_session()
            self.jobs_done += 1

    def _inputs(self, ctx: PartyContext, job: PendingJob) -> dict[str, SharedTensor]:
        specs = job.body.get("inputs") or []
        if not isinstance(specs, list) or len(specs) > MAX_INPUTS:
            raise JobRejected("malformed inputs list")
        arrays = job.arrays
        if not ctx.is_helper and len(arrays) != len(specs):
            raise JobRejected(f"the request declares {len(specs)} inputs but carries {len(arrays)} arrays")
        out = {}
        for i, spec in enumerate(specs):
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise JobRejected(f"input {i} is malformed")
            shape = spec.get("shape")
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise JobRejected(f"input {spec['name']!r} has a malformed shape")
            if ctx.is_helper:
                out[spec["name"]] = SharedTensor(ctx, None, tuple(shape))
                continue
            buf = arrays[i].buffer if hasattr(arrays[i], "buffer") else arrays[i]
            n = int(np.prod(shape, dtype=np.int64))
            if len(buf) != 8 * n:
                raise JobRejected(f"input {spec['name']!r}: {len(buf)} bytes do not match shape {shape}")
            out[spec["name"]] = SharedTensor(ctx, np.frombuffer(buf, dtype=DTYPE).reshape(shape).copy())
        return out

    def _reply_result(self, job: PendingJob, outputs: dict[str, SharedTensor], ctx: PartyContext) -> None:
        specs, arrays = [], []
        for name, t in outputs.items():
            specs.append({"name": name, "shape": list(t.shape)})
            if t.share is not None:
                arrays.append(np.ascontiguousarray(t.share))
        self.transport.reply(job.route, {
            "type": "result", "job": job.job_id, "party": self.name, "ok": True,
            "outputs": specs, "records": [c.to_dict() for c in ctx.calls],
        }, arrays)

    def _reply_error(self, route: bytes, job_id: bytes, error: str) -> None:
        self.transport.reply(route, {"type": "result", "job": job_id, "party": self.name, "ok": False, "error": error})


def run_server(config: ClusterConfig, party: int) -> None:
    """Entry point of `spp server`."""
    Server(config, party).serve_forever()
