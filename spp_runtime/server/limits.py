"""What one request may ask of a server: the configured ``[limits]`` applied before any work.

* sockets (:func:`transport_options`): the largest frame (``MAXMSGSIZE``; a frame larger, or
  merely declared larger, closes the connection before anything is allocated), a bounded
  receive queue per connection (``RCVHWM``) and at most ``max_pending_requests`` requests
  waiting per client, the rest refused at once (:func:`refusal_hook`);
* request headers: at most ``max_header_kb``, decoded with msgpack's ``max_*_len`` bounds;
* jobs (:func:`check_job`): every shape and size computed arithmetically from the request
  (uploaded inputs, outputs, intermediates, via the program's ``size``) against
  ``max_job_elements``; the labels of a stored dataset against the classes of the model, when
  the dataset's manifest records them (:func:`check_labels`);
* storage (:func:`check_owner_quota`): the share bytes one owner keeps on this primary,
  counting the new upload, against ``max_stored_gb_per_owner``.

Every refusal names the limit (its config field) and the number that broke it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..api import messages
from ..api.envelope import BadRequest
from ..api.storage_messages import STORAGE_KINDS
from ..config import ClusterConfig
from ..jobs import Params, Program, Shapes
from ..jobs.limits import LimitExceeded
from ..jobs.limits import check_job as _check_job
from ..storage.meta import Manifest, UploadMeta
from ..transport.zmq_common import ZmqOptions
from ..transport.zmq_transport import Refusal, RefuseHook

RCV_HWM = 1024  # messages queued per connection; server traffic stays below ZmqOptions.flow_window_messages


def transport_options(cfg: ClusterConfig) -> ZmqOptions:
    """Socket options of a server from its config."""
    return ZmqOptions(
        heartbeat_s=cfg.timeouts.heartbeat_s,
        heartbeat_timeout_s=cfg.timeouts.heartbeat_timeout_s,
        max_message_bytes=cfg.limits.max_message_bytes,
        rcv_hwm=RCV_HWM,
        max_pending_per_client=cfg.limits.max_pending_requests,
    )


def refusal_hook(party: str, cfg: ClusterConfig) -> RefuseHook:
    """The answer to a request the transport refuses before the server sees it: an error
    naming the job (or a storage answer naming the request) so the client stops waiting."""
    limit = cfg.limits.max_pending_requests
    max_header = cfg.limits.max_header_bytes

    def refuse(r: Refusal) -> list:
        if r.why == "busy":
            exc = BadRequest(f"{party} is busy: client {r.identity} already has {limit} requests waiting "
                             f"(limits.max_pending_requests); retry when they are answered")
        else:
            exc = BadRequest(f"{party} refused a client request made with {r.identity}'s key: a server's key "
                             f"pair cannot act as a client; connect with your own client key "
                             f"(spp keys generate --client NAME) listed in clients.allowed")
        try:
            kind, header = messages.request_kind(r.frames, max_header_bytes=max_header)
        except BadRequest:
            return messages.encode_error(None, party, exc)
        if kind in STORAGE_KINDS:
            return messages.encode_answer(header.get("rid"), party, exc=exc)
        job = header.get("job") if isinstance(header.get("job"), str) else None
        return messages.encode_error(job, party, exc)

    return refuse


def check_job(cfg: ClusterConfig, program: Program, params: Params, shapes: Shapes,
              uploaded: Iterable[str], model: Mapping[str, Any] | None = None) -> int:
    """Refuse a job above ``limits.max_job_elements`` (see :func:`spp_runtime.jobs.limits.check_job`)."""
    return _check_job(program, params, shapes, uploaded, max_elements=cfg.limits.max_job_elements, model=model)


def check_labels(program: Program, params: Params, manifests: Mapping[str, tuple[Manifest, str]]) -> None:
    """Refuse a job whose stored labels may exceed the classes its program expects.

    ``manifests`` maps each stored input to (its dataset's manifest, the part used). A
    manifest's ``classes`` (recorded at upload: every label of part ``y`` is an integer in
    ``[0, classes)``) must not exceed what ``program.label_classes(params)`` expects for that
    input; when the manifest does not record it, nothing can be checked here.
    """
    if program.label_classes is None:
        return
    want = program.label_classes(params)
    for name, (manifest, part) in manifests.items():
        if name not in want or part != "y" or manifest.classes is None:
            continue
        if manifest.classes > want[name]:
            raise LimitExceeded(
                f"input {name!r}: dataset {manifest.name!r} has labels in [0, {manifest.classes}) but the "
                f"model has {want[name]} classes (a label must be below the number of classes)"
            )


def check_owner_quota(cfg: ClusterConfig, party: str, meta: UploadMeta, owner: str,
                      held: Iterable[tuple[str, int]]) -> None:
    """Refuse an upload that would take ``owner`` past ``limits.max_stored_gb_per_owner`` on
    this primary; ``held`` lists (owner, share bytes) of every dataset and upload it keeps."""
    limit = cfg.limits.max_stored_bytes_per_owner
    mine = sum(n for who, n in held if who == owner)
    new = meta.share_bytes()
    if mine + new > limit:
        raise LimitExceeded(
            f"upload of {meta.name!r} ({new} bytes per server) would bring {owner}'s data on {party} to "
            f"{mine + new} bytes; limits.max_stored_gb_per_owner is {limit / (1 << 30):g} GiB"
        )
