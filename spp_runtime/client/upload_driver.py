"""Push a :class:`SharedUpload` to P0 and P1 and commit it on both, or on neither.

The servers are anything with the store's upload methods (:class:`UploadParticipant`): two
local :class:`~spp_runtime.storage.store.ShareStore` objects in tests, remote proxies over the
CURVE channel in the real client. Each chunk goes to P0, then P1; a chunk whose send times out
or loses its connection is resent with the same bytes (the store ignores exact duplicates).
Any refusal, or an error while producing a chunk (reading, checking or encoding the data),
aborts the upload on both servers; the commit itself is
:func:`spp_runtime.storage.coordinator.run_commit`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Protocol

import numpy as np

from ..errors import SppError
from ..storage.coordinator import RETRYABLE, Outcome, Result, run_commit
from ..storage.errors import StorageError
from ..storage.meta import UploadMeta
from .upload_prep import ChunkPair, SharedUpload, UploadSummary

_BEST_EFFORT: tuple[type[BaseException], ...] = (*RETRYABLE, StorageError)


class UploadFailed(SppError):
    """The upload was refused or could not finish; nothing became visible."""


class UploadInDoubt(SppError):
    """P0 did not confirm the commit; the servers settle it (see the coordinator's rules)."""


class UploadParticipant(Protocol):
    """A server's share store as the uploading client sees it."""

    def begin(self, meta: UploadMeta) -> None: ...
    def write_chunk(
        self, upload_id: str, index: int, arrays: Mapping[str, np.ndarray], digests: Mapping[str, str]
    ) -> object: ...
    def prepare(self, upload_id: str, sha256: Mapping[str, str]) -> None: ...
    def commit(self, upload_id: str) -> object: ...
    def abort(self, upload_id: str) -> bool: ...
    def abort_unless_committed(self, upload_id: str) -> bool: ...


def push_upload(
    upload: SharedUpload,
    servers: Sequence[UploadParticipant],
    *,
    max_attempts: int = 3,
    on_chunk: Callable[[ChunkPair], None] | None = None,
) -> UploadSummary:
    """Stream every chunk to both servers, then two-phase commit; returns the summary.

    Raises UploadFailed (after aborting on both servers) or UploadInDoubt.
    """
    if len(servers) != 2:
        raise ValueError("an upload goes to exactly two servers (p0, p1)")
    uid = upload.meta.upload_id
    try:
        for party, server in enumerate(servers):
            _with_retries(partial(server.begin, upload.meta), party, "begin", max_attempts)
        for pair in upload.chunks():
            for party, server in enumerate(servers):
                chunk = pair.for_party(party)
                _with_retries(
                    partial(server.write_chunk, uid, chunk.index, chunk.arrays, chunk.sha256),
                    party,
                    f"chunk {pair.index}",
                    max_attempts,
                )
            if on_chunk is not None:
                on_chunk(pair)
            del pair, chunk  # free this chunk's shares before the next one is made
    except Exception:
        # a refusal, or the data could not be read or encoded mid-stream (a file that changed
        # after it was checked): discard the staging on both servers now, not after a timeout
        _abort_quietly(uid, servers)
        raise
    result = run_commit(uid, servers, (upload.sha256(0), upload.sha256(1)), max_attempts=max_attempts)
    return _conclude(result, upload)


def _with_retries(call: Callable[[], object], party: int, what: str, attempts: int) -> None:
    last = ""
    for _ in range(attempts):
        try:
            call()
            return
        except RETRYABLE as exc:
            last = str(exc) or type(exc).__name__
        except StorageError as exc:
            raise UploadFailed(f"p{party} refused {what}: {exc}") from None
    raise UploadFailed(f"p{party} did not answer {what} after {attempts} attempts: {last}")


def _abort_quietly(uid: str, servers: Sequence[UploadParticipant]) -> None:
    for server in servers:
        try:
            server.abort(uid)
        except _BEST_EFFORT:
            pass  # that server discards the staging on restart or after its stale timeout


def _conclude(result: Result, upload: SharedUpload) -> UploadSummary:
    if result.outcome is Outcome.COMMITTED:
        return replace(upload.summary(), note=result.reason)
    if result.outcome is Outcome.ABORTED:
        raise UploadFailed(f"upload of {upload.meta.name!r} aborted: {result.reason}")
    if result.outcome is Outcome.IN_DOUBT:
        raise UploadInDoubt(
            f"upload of {upload.meta.name!r} in doubt: {result.reason}; the servers settle it, "
            f"check the dataset list"
        )
    raise UploadFailed(f"upload of {upload.meta.name!r} inconsistent: {result.reason}")
