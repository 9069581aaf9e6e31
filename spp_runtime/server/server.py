"""One party's server: connect to the two peers, then serve jobs from clients until stopped.

A client sends the same job (id, program, parameters, input shapes) to all three servers,
with P0's and P1's input shares. Servers run up to ``limits.max_concurrent_jobs`` jobs side by
side, started in the order P0 sets: P0 validates a job, announces its id, digest and client to
P1 and P2, and runs it when a slot is free (telling the client its place in the queue
meanwhile); P1 and P2 run a job once they hold both P0's announcement and the client's
request, and refuse to run it if the two disagree (or came from different clients). Every job
runs in its own session (fresh seeds, fresh counters) on its own thread (:mod:`.scheduler`),
while the serving loop goes on answering requests. A job that fails anywhere fails everywhere
at once (the failing party tells the others), every server answers the client with its
outputs or a clear error, and serving goes on.

Access: the client is the identity the ZAP handler bound to its CURVE key, never a field of
the request. Before a job reads a stored dataset, P0 and P1 each check, from their own grant
store, that the client owns it or holds every right the program declares for that input
(``Program.access``); either refusing stops the job on all three. Checkpoints are kept per
client (``checkpoints/<client>/<id>``), so a client can resume or overwrite only its own.

Logs carry job ids, program names, shapes, byte counts and timings, never shares or seeds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import PARTY_NAMES
from ..api import messages
from ..api.envelope import BadRequest
from ..api.storage_messages import STORAGE_KINDS
from ..config import ClusterConfig
from ..engine.context import PartyContext
from ..engine.session import describe, run_in_session
from ..errors import PeerFailed, SppError
from ..jobs import Program, StoredModel
from ..jobs.services import helper_holds_nothing
from ..keys import load_pair, load_public
from ..storage import openings
from ..storage.checkpoints import CheckpointStore
from ..storage.errors import AccessDenied, StorageError
from ..storage.meta import Manifest, UploadMeta
from ..storage.models import Source
from ..tensor import SharedTensor
from ..transport import wire
from ..transport.zmq_transport import ClientRequest, PeerAddress, PeerControl, ZmqTransport
from . import limits
from .scheduler import JobScheduler, Queued
from .services import ServerServices
from .storage_service import NotStoring, StorageService

log = logging.getLogger(__name__)


def status_file(cfg: ClusterConfig, party: int) -> Path:
    """Where a running server keeps its liveness record: ``<data_dir>/status/<pN>.json``."""
    return cfg.data_dir / "status" / f"{PARTY_NAMES[party]}.json"


class JobRejected(SppError):
    """A job cannot run (bad request, unknown program, disagreement between servers)."""


def build_transport(cfg: ClusterConfig, party: int) -> ZmqTransport:
    """The party's ZeroMQ endpoint as the config describes it (keys loaded and checked)."""
    me = cfg.parties[party]
    peers = {
        q: PeerAddress(q, cfg.parties[q].connect_url, load_public(cfg.parties[q].public_key))
        for q in range(3)
        if q != party
    }
    clients = {load_public(cfg.client_public_key(n)): n for n in cfg.allowed_clients}
    return ZmqTransport(party, load_pair(me.secret_key), me.bind_url, peers, clients,
                        limits.transport_options(cfg), limits.refusal_hook(PARTY_NAMES[party], cfg))


class PartyServer:
    """The serving loop of one party, running the programs of ``programs`` (by name)."""

    def __init__(self, cfg: ClusterConfig, party: int, *, programs: Mapping[str, Program]) -> None:
        self.cfg = cfg
        self.party = party
        self.name = PARTY_NAMES[party]
        self.programs = programs
        self.transport = build_transport(cfg, party)
        self.started = time.time()
        self.served = 0
        self.failed = 0
        self._announced: deque[tuple[str, dict, float]] = deque()  # (job, announcement, when) from P0
        self._pending: dict[str, _Pending] = {}
        self._rejected: dict[str, tuple[str, float]] = {}
        self._refused: dict[str, tuple[str, float]] = {}  # jobs p0 refused: (reason, when)
        self._was_ready = False
        self._other_primary_up = False  # P0/P1: the link to the other primary, as last seen
        self._lock = threading.Lock()  # counters and the checkpoint stores, shared with job threads
        self.jobs = JobScheduler(cfg.limits.max_concurrent_jobs, self._run, release=self._release,
                                 on_wait=self._tell_position if party == 0 else None)
        self._checkpoints: dict[str, CheckpointStore] = {}  # per client
        self.storage: StorageService | None = None
        if party != 2:
            try:
                self.storage = StorageService(cfg, party, self.transport.send_control)
            except BaseException:
                self.transport.close()
                raise

    # -- the loop --------------------------------------------------------------------------
    def serve(self, should_stop: Callable[[], bool]) -> None:
        """Serve until ``should_stop()`` (checked at least every half second)."""
        me = self.cfg.parties[self.party]
        log.info("%s listening on %s (pid %d)", self.name, me.bind_url, os.getpid())
        stop_status = threading.Event()
        threading.Thread(target=self._status_loop, args=(stop_status,), daemon=True,
                         name="status-record").start()
        try:
            while not should_stop():
                try:
                    self._serve_once()
                except Exception:  # no request or command may stop the server
                    log.exception("%s: unexpected error in the serving loop; serving on", self.name)
        finally:
            self._finish_jobs()
            log.info("%s stopping after %d jobs (%d failed)", self.name, self.served, self.failed)
            stop_status.set()
            status_file(self.cfg, self.party).unlink(missing_ok=True)
            self.transport.close()

    def _finish_jobs(self, grace_s: float = 5.0) -> None:
        """Stopping: running jobs fail at once (their clients and peers are told), queued ones
        are refused; the loop keeps pumping while they answer."""
        if not self.jobs.busy():
            return
        for item in self.jobs.waiting():
            self.transport.reply(item.route, messages.encode_error(item.job.job, self.name,
                                                                   JobRejected(f"{self.name} is stopping")))
        self.transport.cancel_sessions(f"{self.name} is stopping")
        deadline = time.monotonic() + grace_s
        while self.jobs.running() and time.monotonic() < deadline:
            self.transport.next_event(0.1)  # delivers the jobs' aborts and answers
        self.transport.next_event(0.1)

    def _serve_once(self) -> None:
        self.jobs.start_ready()
        event = self.transport.next_event(0.5)
        if isinstance(event, ClientRequest):
            self._on_request(event)
        elif isinstance(event, PeerControl):
            self._on_control(event)
        self._note_readiness()
        if self.storage is not None:
            other_up = self.transport.connected(1 - self.party)
            if self._other_primary_up and not other_up:
                self.storage.on_peer_lost()
            self._other_primary_up = other_up
            self.storage.tick(self.transport.connected(0) if self.party == 1 else True)
        if self.party != 0:
            self._run_announced()
        self._expire()

    def _status_loop(self, stop: threading.Event, every_s: float = 1.0) -> None:
        """Refresh the local status record that ``spp status`` reads (health checks), from a
        thread, so that it stays fresh while a long job runs. Reads link flags only."""
        path = status_file(self.cfg, self.party)
        while not stop.is_set():
            peers = {PARTY_NAMES[q]: "connected" if self.transport.connected(q) else "connecting"
                     for q in range(3) if q != self.party}
            record = {"party": self.name, "pid": os.getpid(), "time": time.time(),
                      "ready": all(v == "connected" for v in peers.values()), "peers": peers,
                      "job": ", ".join(i.job.job for i in self.jobs.running()) or None}
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_text(json.dumps(record))
                os.replace(tmp, path)
            except OSError as exc:
                log.debug("%s: cannot write %s: %s", self.name, path, exc)
            stop.wait(every_s)

    def ready(self) -> bool:
        return all(self.transport.connected(q) for q in range(3) if q != self.party)

    def status(self) -> dict:
        return {
            "ready": self.ready(),
            "peers": self.transport.peer_status(),
            "jobs": self.served,
            "failed": self.failed,
            "running": [i.job.job for i in self.jobs.running()],
            "waiting": [i.job.job for i in self.jobs.waiting()],
            "slots": self.jobs.slots,
            "pid": os.getpid(),
            "frac_bits": self.cfg.frac_bits,
            "listen": self.cfg.parties[self.party].bind_url,
            "programs": sorted(self.programs),
            "uptime_s": round(time.time() - self.started, 3),
        }

    # -- requests and commands -------------------------------------------------------------
    def _on_request(self, req: ClientRequest) -> None:
        job_id = None
        try:
            kind, header = messages.request_kind(req.frames, max_header_bytes=self.cfg.limits.max_header_bytes)
            if kind == "status":
                self.transport.reply(req.route, messages.encode_status(self.name, self.status()))
                return
            if kind in STORAGE_KINDS:
                self._on_storage(req, kind, header)
                return
            job_id = header.get("job") if isinstance(header.get("job"), str) else None
            job = messages.decode_job(
                req.frames, header, with_shares=self.party != 2,
                max_bytes=self.cfg.max_message_bytes,
            )
            if job.job not in self._refused:
                self._check_pending(req.client)
            if self.party == 0:
                self._check_in_use(job, req.client)
            stored, model = self._validate(job, req.client)
        except Exception as exc:  # every request gets an answer (MemoryError too)
            if not isinstance(exc, (BadRequest, JobRejected, ValueError)):
                log.exception("%s: unexpected error on a request from client %s", self.name, req.client)
                exc = JobRejected(f"{self.name} could not handle the request ({type(exc).__name__}); "
                                  "see the server log")
            log.warning("%s: rejected a request from client %s: %s", self.name, req.client, exc)
            self._count(ok=False)
            if job_id is not None and self.party != 0 and self._refused.pop(job_id, None) is None:
                self._rejected[job_id] = (describe(exc), time.monotonic())
            if job_id is not None and self.party == 0:
                for q in (1, 2):  # so that p1 and p2 answer with the reason at once
                    self.transport.send_control(q, {"cmd": "run", "job": job_id, "error": str(exc)})
            self.transport.reply(req.route, messages.encode_error(job_id, self.name, exc))
            return
        log.info(
            "%s: job %s from client %s: %s, inputs %s, stored %s",
            self.name, job.job, req.client, job.program,
            {k: list(v) for k, v in job.input_shapes.items()}, job.datasets or "none",
        )
        if self.party == 0:
            self._announce_and_run(Queued(job, req.route, stored, req.client, model))
        elif job.job in self._refused:
            self._refuse(job.job, req.route)
        else:
            self._pending[job.job] = _Pending(job, req.route, time.monotonic(), req.client)

    def _check_pending(self, client: str) -> None:
        """Jobs waiting here (for P0's announcement, or for a slot): at most the pending limit
        per client."""
        limit = self.cfg.limits.max_pending_requests
        held = sum(1 for entry in self._pending.values() if entry.client == client)
        if held + sum(1 for i in self.jobs.waiting() if i.client == client) >= limit:
            raise JobRejected(f"{self.name} is busy: client {client} already has {limit} requests waiting "
                              "(limits.max_pending_requests); retry when they are answered")

    def _check_in_use(self, job: messages.JobRequest, client: str) -> None:
        """P0: a job may not share the client's checkpoint id, or the name it keeps a model
        under (``save_as``), with a job running or waiting."""
        if job.checkpoint is not None:
            other = self.jobs.uses_checkpoint(job.checkpoint, client)
            if other is not None:
                raise JobRejected(f"job {job.job}: checkpoint {job.checkpoint!r} is in use by job "
                                  f"{other} (running or waiting)")
        if job.save_as is not None:
            other = self.jobs.saves_model(job.save_as)
            if other is not None:
                raise JobRejected(f"job {job.job}: job {other} (running or waiting) keeps its model "
                                  f"as {job.save_as!r}")

    def _validate(self, job: messages.JobRequest, client: str, stored: dict | None = None,
                  model: dict | None = None) -> tuple[dict[str, list], dict | None]:
        """Check a job from ``client``; returns its stored inputs ``{input: [shape, upload_id]}``
        and the public record of the stored model it runs (``name, model_id, tensors,
        config``; None without one).

        P0 reads them from its store; P1 and P2 check them against P0's announcement
        (``stored``, ``model``) once it arrives (before that, they check what they can). P0 and
        P1 check that ``client`` may use each stored dataset for this program and may query
        the model (own grant store), and charge the query's rows against the client's budget
        on the model (P0 on the request, P1 on the announcement)."""
        if job.frac_bits != self.cfg.frac_bits:
            raise JobRejected(
                f"job {job.job}: client uses {job.frac_bits} fractional bits, servers use "
                f"{self.cfg.frac_bits}"
            )
        if job.program not in self.programs:
            raise JobRejected(
                f"job {job.job}: unknown program {job.program!r}; known: {', '.join(sorted(self.programs))}"
            )
        if job.checkpoint is not None and self.party != 2 and self.storage is None:
            raise JobRejected(f"job {job.job}: {self.name} has no store for checkpoints")
        if job.save_as is not None:
            if not self.programs[job.program].stores_model:
                raise JobRejected(f"job {job.job}: program {job.program!r} does not store models (save_as)")
            if self.storage is not None:
                try:
                    self.storage.models.check_free(job.save_as)
                except SppError as exc:
                    raise JobRejected(f"job {job.job}: {exc}") from None
        announced = stored is not None
        model = self._model_record(job, client, announced, model)
        if job.datasets and stored is None:
            if self.party == 2:
                return {}, model
            stored = {k: self._stored_input(job, client, k, ref) for k, ref in job.datasets.items()}
            if self.party == 1:
                return stored, model
        elif job.datasets and self.party == 1:
            mine = {k: self._stored_input(job, client, k, ref) for k, ref in job.datasets.items()}
            if mine != stored:
                raise JobRejected(f"job {job.job}: p1 holds a different version of the stored inputs "
                                  f"than p0 ({', '.join(sorted(set(job.datasets.values())))})")
        stored = stored or {}
        shapes = {**job.input_shapes, **{k: tuple(v[0]) for k, v in stored.items()}}
        program = self.programs[job.program]
        try:
            rows = program.validate(job.params, shapes, model)
            limits.check_job(self.cfg, program, job.params, shapes, job.input_shapes, model)
            if self.storage is not None and job.datasets:
                limits.check_labels(program, job.params, self._manifests(job))
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise JobRejected(f"job {job.job}: {exc}") from None
        if job.model is not None and self.storage is not None:
            try:  # the query's rows against the client's budget: counted once per primary
                self.storage.models.charge(job.model, client, rows, commit=self.party == 0 or announced)
            except SppError as exc:
                raise JobRejected(f"job {job.job}: {exc}") from None
        return stored, model

    def _manifests(self, job: messages.JobRequest) -> dict[str, tuple[Manifest, str]]:
        """(manifest, part) of each stored input of ``job`` (a primary, after _stored_input)."""
        assert self.storage is not None
        out = {}
        for name, ref in job.datasets.items():
            dataset, part = ref.split(":")
            out[name] = (self.storage.store.show(dataset), part)
        return out

    def _model_record(self, job: messages.JobRequest, client: str, announced: bool, model: dict | None) -> dict | None:
        """The public record of the stored model ``job`` runs, if ``client`` may query it: P0
        and P1 from their own stores (P1 also checks it is the version P0 announced), the
        helper from P0's announcement. JobRejected otherwise."""
        if job.model is None:
            if model is not None:
                raise JobRejected(f"job {job.job}: p0 announced a model the request does not name")
            return None
        if self.programs[job.program].takes_model is None:
            raise JobRejected(f"job {job.job}: program {job.program!r} does not run a stored model")
        if announced and not (isinstance(model, dict) and model.get("name") == job.model):
            raise JobRejected(f"job {job.job}: p0 announced no stored model {job.model!r}")
        if self.storage is None:
            return model
        try:
            m = self.storage.authorize_model(client, job.model)
        except AccessDenied as exc:
            raise JobRejected(f"job {job.job}: {exc}") from None
        except SppError:
            raise JobRejected(f"job {job.job}: no model {job.model!r} on {self.name}") from None
        if m.frac_bits != self.cfg.frac_bits:
            raise JobRejected(f"job {job.job}: model {job.model!r} was stored with {m.frac_bits} fractional bits; "
                              f"the servers use {self.cfg.frac_bits}")
        mine = {"name": m.name, "model_id": m.model_id, "config": m.config,
                "tensors": {k: list(v) for k, v in m.tensors.items()}}
        if announced and model is not None and (model.get("model_id"), model.get("tensors")) != \
                (mine["model_id"], mine["tensors"]):
            raise JobRejected(f"job {job.job}: {self.name} holds another version of model {job.model!r} than p0 "
                              f"(its owner can delete it and store it again)")
        return mine

    def _stored_input(self, job: messages.JobRequest, client: str, name: str, ref: str) -> list:
        """``[shape, upload_id]`` of a stored input on this primary; JobRejected if unusable
        or if ``client`` may not use it for this program."""
        dataset, part = ref.split(":")
        if self.storage is None:
            raise JobRejected(f"job {job.job}: {self.name} has no share store")
        try:
            needed = self.programs[job.program].required_rights(job.params, name,
                                                                 keeps_model=job.save_as is not None)
        except ValueError as exc:
            raise JobRejected(f"job {job.job}: {exc}") from None
        try:
            m = self.storage.authorize(client, dataset, needed, job.program)
        except AccessDenied as exc:
            raise JobRejected(f"job {job.job}: input {name!r}: {exc}") from None
        except SppError:
            raise JobRejected(f"job {job.job}: input {name!r}: no dataset {dataset!r} on {self.name}") from None
        if m.frac_bits != self.cfg.frac_bits:
            raise JobRejected(f"job {job.job}: input {name!r}: dataset {dataset!r} was uploaded with "
                              f"{m.frac_bits} fractional bits; the servers use {self.cfg.frac_bits}")
        if part not in m.parts:
            raise JobRejected(f"job {job.job}: input {name!r}: dataset {dataset!r} has no part {part!r} "
                              f"(parts: {', '.join(m.parts)})")
        return [list(m.shape(part)), m.upload_id]

    def _on_storage(self, req: ClientRequest, kind: str, header: dict) -> None:
        rid = header.get("rid")
        try:
            if self.storage is None:
                raise NotStoring(f"{self.name} is the helper and stores no data; send {kind} to p0 and p1")
            if kind == "upload.begin":
                self._admit_upload(header, req.client)
            body = self.storage.handle(kind, header, req.frames[1:], req.client)
        except Exception as exc:
            if not isinstance(exc, (SppError, ValueError, KeyError, TypeError, OSError)):
                log.exception("%s: unexpected error on %s from client %s", self.name, kind, req.client)
                exc = SppError(f"{self.name} could not handle {kind} ({type(exc).__name__}); see the server log")
            log.warning("%s: refused %s from client %s: %s", self.name, kind, req.client, exc)
            self.transport.reply(req.route, messages.encode_answer(rid, self.name, exc=exc))
            return
        self.transport.reply(req.route, messages.encode_answer(rid, self.name, body))

    def _admit_upload(self, header: dict, client: str) -> None:
        """An upload starts only with both primaries up and within the owner's quota."""
        assert self.storage is not None
        other = PARTY_NAMES[1 - self.party]
        if not self.transport.connected(1 - self.party):
            raise StorageError(f"{self.name} cannot start an upload: {other} is not connected to it "
                               f"(an upload needs both primaries); {self.transport.peer_status()[other]}")
        meta = UploadMeta.from_dict(header.get("meta"))
        held = [(who, n) for uid, who, n in self.storage.store.usage() if uid != meta.upload_id]
        limits.check_owner_quota(self.cfg, self.name, meta, client, held)

    def _on_control(self, ctl: PeerControl) -> None:
        body = ctl.message
        if self.storage is not None and str(body.get("cmd", "")).startswith("upload."):
            try:
                self.storage.on_control(ctl.peer, body)
            except Exception as exc:  # noqa: BLE001 - a bad command never stops the server
                log.warning("%s: storage command from %s failed: %s", self.name, PARTY_NAMES[ctl.peer], exc)
            return
        if ctl.peer != 0 or body.get("cmd") != "run" or not isinstance(body.get("job"), str):
            log.warning("%s: ignored an unexpected command from %s", self.name, PARTY_NAMES[ctl.peer])
            return
        if "error" in body:  # p0 refused it: answer its client now or when its request comes
            self._refused[body["job"]] = (str(body["error"]), time.monotonic())
            if body["job"] in self._pending:
                pending = self._pending.pop(body["job"])
                self._refuse(pending.job.job, pending.route)
            return
        self._announced.append((body["job"], body, time.monotonic()))

    def _refuse(self, job_id: str, route: bytes) -> None:
        reason, _ = self._refused.pop(job_id)
        self._count(ok=False)
        self.transport.reply(route, messages.encode_error(job_id, self.name, JobRejected(f"{reason} (reported by p0)")))

    def _announce_and_run(self, item: Queued) -> None:
        """P0: fix the job's place in the order (the announcement), run it when a slot is free."""
        job = item.job
        for q in (1, 2):
            self.transport.send_control(q, {"cmd": "run", "job": job.job, "digest": job.digest(),
                                            "stored": item.stored, "client": item.client, "model": item.model})
        self.jobs.submit(item)

    def _tell_position(self, item: Queued, position: int) -> None:
        """P0: a job waiting for a slot tells its client where it stands (1: next to start)."""
        self.transport.reply(item.route, messages.encode_progress(
            item.job.job, self.name, 0, 0, {"queued": position, "running": len(self.jobs.running())}))

    def _run_announced(self) -> None:
        """P1/P2: run announced jobs in P0's order once their requests are here."""
        timeout = self.cfg.timeouts.recv_s
        while self._announced:
            job_id, body, when = self._announced[0]
            session = job_id.encode()
            if job_id in self._pending:
                self._announced.popleft()
                pending = self._pending.pop(job_id)
                job, route, client = pending.job, pending.route, pending.client
                try:
                    if body.get("client") != client:
                        raise JobRejected(f"job {job_id}: {self.name} received it from another client than p0 did")
                    if job.digest() != body.get("digest"):
                        raise JobRejected(
                            f"job {job_id}: the request {self.name} received differs from p0's "
                            "(program, parameters, fractional bits, inputs or checkpoint)"
                        )
                    stored = body.get("stored") or {}
                    if not isinstance(stored, dict) or set(stored) != set(job.datasets):
                        raise JobRejected(f"job {job_id}: p0 announced different stored inputs")
                    model = body.get("model")
                    stored, model = self._validate(job, client, stored, model if isinstance(model, dict) else None)
                except Exception as exc:  # the job fails, the server serves on
                    if not isinstance(exc, (JobRejected, ValueError, TypeError)):
                        log.exception("%s: unexpected error checking job %s", self.name, job_id)
                    log.warning("%s: job %s refused: %s", self.name, job_id, describe(exc))
                    self.transport.abort_session(describe(exc), session=session)
                    self._count(ok=False)
                    self.transport.reply(route, messages.encode_error(job_id, self.name, exc))
                    continue
                self.jobs.submit(Queued(job, route, stored, client, model))
            elif job_id in self._rejected:
                self._announced.popleft()
                self.transport.abort_session(self._rejected.pop(job_id)[0], session=session)
            elif time.monotonic() - when > timeout:
                self._announced.popleft()
                reason = f"no request for job {job_id} reached {self.name} within {timeout:g} s"
                log.warning("%s: %s", self.name, reason)
                self.transport.abort_session(reason, session=session)
            else:
                return

    def _expire(self) -> None:
        """Drop requests P0 never started, telling their clients."""
        now, timeout = time.monotonic(), self.cfg.timeouts.recv_s
        for job_id, pending in list(self._pending.items()):
            if now - pending.when > timeout:
                del self._pending[job_id]
                exc = JobRejected(f"job {job_id}: p0 did not start it within {timeout:g} s")
                self._count(ok=False)
                self.transport.reply(pending.route, messages.encode_error(job_id, self.name, exc))
        for job_id, (_, when) in list(self._rejected.items()):
            if now - when > timeout:
                del self._rejected[job_id]
        for job_id, (_, when) in list(self._refused.items()):
            if now - when > timeout:
                del self._refused[job_id]

    def _note_readiness(self) -> None:
        ready = self.ready()
        if ready != self._was_ready:
            self._was_ready = ready
            if ready:
                log.info("%s: connected to both peers; serving", self.name)
            else:
                log.warning("%s: lost a peer: %s", self.name, self.transport.peer_status())

    def _services(self, ctx: PartyContext, job: messages.JobRequest, route: bytes, client: str,
                  stored: dict, model: dict | None) -> ServerServices:
        ckpts, sources = None, []
        if job.checkpoint is not None and self.storage is not None:
            with self._lock:  # each client's own namespace of checkpoint ids
                if client not in self._checkpoints:
                    self._checkpoints[client] = CheckpointStore(self.storage.store.root / "checkpoints" / client)
                ckpts = self._checkpoints[client]
        if self.storage is not None:
            for name, ref in sorted(job.datasets.items()):
                dataset, part = ref.split(":")
                m = self.storage.store.show(dataset)
                sources.append(Source(name, dataset, part, m.owner, m.upload_id))
        # checkpoints resume only into a job of the same program over the same uploads
        binding = hashlib.sha256(json.dumps(
            [job.program, sorted((k, ref, stored[k][1]) for k, ref in job.datasets.items())]).encode()).hexdigest()[:32]
        reporter = _reporter(self.transport, route, job.job, self.name) if self.party == 0 else None
        return ServerServices(ctx, job=job.job, reporter=reporter, checkpoints=ckpts,
                              checkpoint_id=job.checkpoint, binding=binding, save_as=job.save_as,
                              models=self.storage.models if self.storage is not None else None,
                              client=client, sources=tuple(sources),
                              stored_model=None if model is None else self._stored_model(model))

    def _stored_model(self, record: dict) -> StoredModel:
        """The stored model a job runs, for its program: shares and opening on P0 and P1."""
        name, model_id = str(record["name"]), str(record["model_id"])
        shapes = {str(k): tuple(int(n) for n in v) for k, v in record["tensors"].items()}
        if self.storage is None:
            return StoredModel(name, model_id, dict(record["config"]), shapes, helper_holds_nothing,
                               helper_holds_nothing, helper_holds_nothing)
        models, party = self.storage.models, self.party

        def load_shares(names: Sequence[str]) -> dict[str, np.ndarray]:
            m, shares = models.load(name, only=names)
            if m.model_id != model_id:
                raise SppError(f"model {name!r} changed on {self.name} while the job started")
            return shares

        def load_opening() -> tuple[str, bytes, dict[str, np.ndarray]] | None:
            op = openings.load(models.directory(name), model_id, party)
            return None if op is None else (op.mask_id, op.seed, op.opened)

        def save_opening(mask_id: str, seed: bytes, opened: Mapping[str, np.ndarray]) -> None:
            openings.save(models.directory(name), models.trash, model_id, party,
                          openings.StoredOpening(mask_id, seed, dict(opened)))

        return StoredModel(name, model_id, dict(record["config"]), shapes, load_shares, load_opening, save_opening)

    # -- running one job (on its own thread) --------------------------------------------------
    def _count(self, *, ok: bool) -> None:
        with self._lock:
            if ok:
                self.served += 1
            else:
                self.failed += 1

    def _release(self) -> None:
        """A job thread ends: its place in the transport goes back, the loop starts the next."""
        self.transport.wake()
        self.transport.release_thread()  # after its last send: the pipe goes back to the pool

    def _run(self, item: Queued) -> None:
        job, route, stored, client, model = item.job, item.route, item.stored, item.client, item.model
        program = self.programs[job.program]
        t0 = time.perf_counter()

        def body(ctx: PartyContext) -> list[messages.Output]:
            inputs = {
                name: SharedTensor.like(ctx, job.shares.get(name), shape)
                for name, shape in job.input_shapes.items()
            }
            for name, ref in job.datasets.items():
                share = None
                if self.storage is not None:
                    share = self.storage.store.load(*ref.split(":"))  # read-only memmap
                inputs[name] = SharedTensor.like(ctx, share, tuple(stored[name][0]))
            return _collect(program.run(ctx, inputs, job.params, self._services(ctx, job, route, client, stored, model)))

        try:
            outputs, calls = run_in_session(
                self.transport, job.job.encode(), body, fxp=self.cfg.fxp,
                timeout=self.cfg.timeouts.recv_s, max_message_bytes=self.cfg.max_message_bytes,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            self._count(ok=False)
            level = logging.INFO if isinstance(exc, PeerFailed) else logging.WARNING
            log.log(level, "%s: job %s (%s) failed: %s", self.name, job.job, job.program, describe(exc))
            self.transport.reply(route, messages.encode_error(job.job, self.name, exc))
            return
        elapsed = time.perf_counter() - t0
        sent = sum(c.payload for r in calls if r.depth == 0 for c in r.sent.values())
        self._count(ok=True)
        log.info("%s: job %s (%s) done in %.3f s, sent %d payload bytes", self.name, job.job,
                 job.program, elapsed, sent)
        records = [c.to_dict() for c in calls]
        self.transport.reply(route, messages.encode_result(job.job, self.name, outputs, records, elapsed))


@dataclass(frozen=True)
class _Pending:
    """A job request P1 or P2 holds until P0 announces the job."""

    job: messages.JobRequest
    route: bytes
    when: float
    client: str  # the authenticated client that sent it


def _reporter(transport: ZmqTransport, route: bytes, job: str, party: str):
    def report(done: int, total: int, info: dict) -> None:
        transport.reply(route, messages.encode_progress(job, party, done, total, info))

    return report


def _collect(outs) -> list[messages.Output]:
    """Program outputs as reply entries: shares of SharedTensors, public arrays as they are."""
    result = []
    for name, val in outs.items():
        if isinstance(val, SharedTensor):
            result.append(messages.Output(name, "shared", val.share, val.shape))
        else:
            arr = np.asarray(val)
            if arr.dtype.name not in wire.ALLOWED_DTYPES:
                raise TypeError(f"public output {name!r} has dtype {arr.dtype}, which cannot be sent")
            result.append(messages.Output(name, "public", arr, arr.shape))
    return result
