"""Client <-> server messages: job requests, results, errors and status, validated on receipt.

A message is a msgpack header frame followed by raw array frames (like party messages); every
header carries the version ``"v"`` (:mod:`.envelope`):

* request ``{"v", "kind": "job", "job", "program", "params", "frac_bits", "inputs":
  [[name, shape], ...], "datasets": {input: "dataset:part"}, "checkpoint": id | None,
  "save_as": model name | None, "model": stored model name | None}`` then,
  to P0 and P1 only, one uint64 share frame per (uploaded) input; inputs named in
  ``datasets`` come from the servers' share stores instead;
  ``{"v", "kind": "status"}`` asks a server how it is;
* result ``{"v", "kind": "result", "job", "party", "outputs": [[name, "shared"|"public",
  dtype, shape], ...], "records": [...], "elapsed"}`` then one frame per output (a primary's
  share, or a public array; the helper sends no frame for a shared output);
* error ``{"v", "kind": "error", "job", "party", "type", "error", "peer"}``;
* status ``{"v", "kind": "status", "party", "ready", "peers", ...}``;
* progress ``{"v", "kind": "progress", "job", "party", "done", "total", "info"}`` (P0, while a
  job runs);
* storage requests (kinds in ``STORAGE_KINDS``, see :mod:`.storage_messages`) are answered by
  ``{"v", "kind": "answer", "rid", "party", "ok", ...}``.

Names and ids follow :mod:`.names`. Errors name what is wrong with the message and never echo
array contents.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from ..errors import ProtocolError
from ..ring import DTYPE
from ..transport import wire
from . import names
from .envelope import (
    DEFAULT_MAX_HEADER_BYTES,
    BadRequest,
    array_frame,
    decode_header,
    frame_buf,
    frame_len,
    pack,
    short,
)
from .storage_messages import MAX_NDIM, STORAGE_KINDS


@dataclass
class JobRequest:
    """A decoded job request as one server received it."""

    job: str
    program: str
    params: dict[str, Any]
    frac_bits: int
    input_shapes: dict[str, tuple[int, ...]]
    shares: dict[str, np.ndarray] = field(default_factory=dict)  # empty on the helper
    datasets: dict[str, str] = field(default_factory=dict)  # input -> "dataset:part"
    checkpoint: str | None = None  # the client-chosen checkpoint id, if any
    save_as: str | None = None  # keep the trained model on the servers under this name
    model: str | None = None  # a stored model the job runs (``predict``)

    def digest(self) -> str:
        """What all three servers must agree on: program, parameters, input names and shapes,
        stored inputs, the checkpoint id, the name a model is saved as and the stored model
        the job runs."""
        blob = msgpack.packb(
            [self.job, self.program, self.params, self.frac_bits,
             sorted((k, list(v)) for k, v in self.input_shapes.items()),
             sorted(self.datasets.items()), self.checkpoint, self.save_as, self.model],
            use_bin_type=True,
        )
        return hashlib.sha256(blob).hexdigest()[:32]


@dataclass
class Output:
    """One output of a job as one party returned it (``array`` None for the helper's share)."""

    name: str
    kind: str  # "shared" or "public"
    array: np.ndarray | None
    shape: tuple[int, ...]


@dataclass
class JobReply:
    """A server's answer to a job: outputs and call records, or an error."""

    job: str | None
    party: str
    ok: bool
    outputs: list[Output] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    elapsed: float = 0.0
    error: str = ""
    error_type: str = ""
    peer: str | None = None


# -- requests ---------------------------------------------------------------------------------------
def encode_job(
    job: str,
    program: str,
    params: Mapping[str, Any],
    frac_bits: int,
    shapes: Mapping[str, Sequence[int]],
    shares: Mapping[str, np.ndarray] | None,
    datasets: Mapping[str, str] | None = None,
    checkpoint: str | None = None,
    save_as: str | None = None,
    model: str | None = None,
) -> list:
    """Frames of a job request; ``shares`` None for the helper; ``datasets`` maps further
    inputs to stored dataset parts ("name:part"); ``save_as`` names the model the job keeps
    on the servers; ``model`` the stored model the job runs."""
    header = {
        "kind": "job",
        "job": job,
        "program": program,
        "params": dict(params),
        "frac_bits": frac_bits,
        "inputs": [[name, list(shape)] for name, shape in shapes.items()],
        "datasets": dict(datasets or {}),
        "checkpoint": checkpoint,
        "save_as": save_as,
        "model": model,
    }
    frames = [] if shares is None else [
        array_frame(np.ascontiguousarray(shares[name], dtype=DTYPE)) for name in shapes
    ]
    return pack(header, *frames)


def encode_status_request() -> list:
    return pack({"kind": "status"})


def request_kind(frames: Sequence, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> tuple[str, dict]:
    """(kind, header) of a client message; BadRequest if it is not one (or its header is
    longer than ``max_header_bytes``)."""
    header = decode_header(frames, "request", max_bytes=max_header_bytes)
    kind = header.get("kind")
    if kind not in ("job", "status") and kind not in STORAGE_KINDS:
        raise BadRequest(f"unknown request kind {short(kind)} (expected 'job', 'status' or a storage request)")
    return kind, header


def decode_job(frames: Sequence, header: dict, *, with_shares: bool, max_bytes: int) -> JobRequest:
    """Validate a job request; ``with_shares`` says whether this party expects share frames."""
    job = header.get("job")
    if not isinstance(job, str) or not names.is_job_id(job):
        raise BadRequest("job id must be 1-64 characters of letters, digits and _.:-")
    program = header.get("program")
    if not isinstance(program, str) or not names.is_name(program):
        raise BadRequest(f"job {job}: program must be a name, got {short(program)}")
    params = header.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise BadRequest(f"job {job}: params must be a map with string keys")
    frac_bits = header.get("frac_bits")
    if not isinstance(frac_bits, int) or isinstance(frac_bits, bool):
        raise BadRequest(f"job {job}: frac_bits must be an integer")
    specs = header.get("inputs", [])
    if not isinstance(specs, list):
        raise BadRequest(f"job {job}: inputs must be a list of [name, shape]")
    shapes: dict[str, tuple[int, ...]] = {}
    for i, spec in enumerate(specs):
        if not (isinstance(spec, list) and len(spec) == 2 and names.is_name(spec[0])
                and isinstance(spec[1], list)
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in spec[1])):
            raise BadRequest(f"job {job}: input {i} must be [name, [dims...]]")
        if spec[0] in shapes:
            raise BadRequest(f"job {job}: input {spec[0]!r} appears twice")
        shapes[spec[0]] = tuple(spec[1])
    for name, shape in shapes.items():
        if len(shape) > MAX_NDIM:
            raise BadRequest(f"job {job}: input {name!r} has {len(shape)} dimensions (at most {MAX_NDIM})")
    total = sum(8 * math.prod(s) for s in shapes.values())  # Python integers: no overflow
    if total > max_bytes:
        raise BadRequest(f"job {job}: inputs of {total} bytes exceed limits.max_message_mb "
                         f"({max_bytes >> 20} MiB)")
    n_frames = len(frames) - 1
    expected = len(shapes) if with_shares else 0
    if n_frames != expected:
        raise BadRequest(f"job {job}: {n_frames} share frames for {expected} expected")
    shares = {}
    if with_shares:
        for (name, shape), frame in zip(shapes.items(), frames[1:]):
            if frame_len(frame) != 8 * math.prod(shape):
                raise BadRequest(f"job {job}: share of input {name!r} does not match shape {list(shape)}")
            shares[name] = np.frombuffer(frame_buf(frame), dtype=DTYPE).reshape(shape)
    datasets = header.get("datasets") or {}
    if not isinstance(datasets, dict) or not all(
        names.is_name(k) and names.is_dataset_ref(v) for k, v in datasets.items()
    ):
        raise BadRequest(f"job {job}: datasets must map input names to 'dataset:part'")
    clash = sorted(set(datasets) & set(shapes))
    if clash:
        raise BadRequest(f"job {job}: inputs {clash} are both uploaded and stored")
    checkpoint = header.get("checkpoint")
    if checkpoint is not None and not names.is_checkpoint_id(checkpoint):
        raise BadRequest(f"job {job}: checkpoint id must be 1-64 of letters, digits and ._- ")
    save_as = header.get("save_as")
    if save_as is not None and not names.is_dataset_name(save_as):
        raise BadRequest(f"job {job}: save_as must be a model name: 1-64 of letters, digits and ._-")
    model = header.get("model")
    if model is not None and not names.is_dataset_name(model):
        raise BadRequest(f"job {job}: model must be a model name: 1-64 of letters, digits and ._-")
    return JobRequest(job, program, params, frac_bits, shapes, shares, dict(datasets), checkpoint, save_as, model)


# -- replies -----------------------------------------------------------------------------------------
def encode_result(job: str, party: str, outputs: Sequence[Output], records: list[dict], elapsed: float) -> list:
    specs, frames = [], []
    for out in outputs:
        dtype = DTYPE if out.array is None else out.array.dtype
        specs.append([out.name, out.kind, np.dtype(dtype).name, list(out.shape)])
        if out.array is not None:
            frames.append(array_frame(np.ascontiguousarray(out.array)))
    header = {"kind": "result", "job": job, "party": party,
              "outputs": specs, "records": records, "elapsed": elapsed}
    return pack(header, *frames)


def encode_error(job: str | None, party: str, exc: BaseException) -> list:
    return pack({"kind": "error", "job": job, "party": party,
                 "type": type(exc).__name__, "error": str(exc)[:2000],
                 "peer": getattr(exc, "peer", None)})


def encode_status(party: str, info: Mapping[str, Any]) -> list:
    return pack({"kind": "status", "party": party, **info})


def encode_progress(job: str, party: str, done: int, total: int, info: Mapping[str, Any]) -> list:
    return pack({"kind": "progress", "job": job, "party": party,
                 "done": done, "total": total, "info": dict(info)})


def encode_answer(rid: object, party: str, body: Mapping[str, Any] | None = None,
                  exc: BaseException | None = None) -> list:
    """A server's answer to a storage request: ``ok`` with ``body``, or the error's class
    name and message."""
    header: dict[str, Any] = {"kind": "answer", "rid": rid, "party": party}
    if exc is None:
        header.update(ok=True, body=dict(body or {}))
    else:
        header.update(ok=False, error=type(exc).__name__, message=str(exc)[:2000])
    return pack(header)


def decode_reply(frames: Sequence, *, server: str, max_bytes: int) -> JobReply | dict:
    """A server's reply: a JobReply for results and errors, the header map for status,
    progress and storage answers."""
    header = decode_header(frames, "reply", peer=server, max_bytes=max_bytes, max_len=max_bytes)
    kind = header.get("kind")
    if kind in ("status", "progress", "answer"):
        return header
    if kind == "error":
        return JobReply(job=header.get("job"), party=str(header.get("party", server)), ok=False,
                        error=str(header.get("error", "")), error_type=str(header.get("type", "")),
                        peer=header.get("peer"))
    if kind != "result":
        raise ProtocolError(f"unknown reply kind {kind!r}", server)
    outputs = []
    it = iter(frames[1:])
    has_frames = len(frames) - 1
    used = 0
    specs = header.get("outputs", [])
    if not isinstance(specs, list):
        raise ProtocolError("malformed result: outputs is not a list", server)
    for spec in specs:
        if not (isinstance(spec, list) and len(spec) == 4 and isinstance(spec[3], list)):
            raise ProtocolError("malformed result: bad output description", server)
        name, okind, dtype, shape = spec
        if dtype not in wire.ALLOWED_DTYPES or okind not in ("shared", "public"):
            raise ProtocolError(f"output {name!r} has a disallowed type", server)
        arr = None
        if not (okind == "shared" and server == "p2"):
            if used >= has_frames:
                raise ProtocolError(f"output {name!r} is missing its data", server)
            frame = next(it)
            used += 1
            dt = np.dtype(dtype)
            if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
                raise ProtocolError(f"output {name!r} has a malformed shape", server)
            if frame_len(frame) != math.prod(shape) * dt.itemsize:
                raise ProtocolError(f"output {name!r} does not match its shape", server)
            arr = np.frombuffer(frame_buf(frame), dtype=dt).reshape(shape)
        outputs.append(Output(name, okind, arr, tuple(shape)))
    return JobReply(job=header.get("job"), party=str(header.get("party")), ok=True, outputs=outputs,
                    records=list(header.get("records", [])), elapsed=float(header.get("elapsed", 0.0)))
