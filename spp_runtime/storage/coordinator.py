"""Two-phase commit of one upload across P0 and P1: a pure state machine and a small driver.

:class:`CommitCoordinator` does no I/O. It turns replies (:class:`Reply`) into requests
(:class:`Send`), so the same logic runs whether the coordinator is the data owner's client or
P0, and whether the two stores are local objects or remote ones behind sockets. The network
layer only has to carry each ``Send`` to its server and bring the answer back as a ``Reply``.

Protocol (presumed abort, P0 is the commit point):

1. ``prepare`` goes to both servers. Each votes yes only once its share is complete, checked
   against the owner's sha256 and durably staged (:meth:`ShareStore.prepare`).
2. If either votes no, ``abort`` goes to both. Nothing becomes visible anywhere.
3. If both vote yes, ``commit`` goes to **P0 first**. P0's commit is the decision: the
   dataset exists if and only if P0 committed it.
4. Once P0 has committed, ``commit`` goes to P1 and is retried until it is acknowledged.

Timeouts and lost connections are retried up to ``max_attempts`` times per request (every
request is idempotent on the store). What happens when a side fails between prepare and
commit (the recovery rule, :func:`resolve_in_doubt`):

* A prepared upload survives a restart of its server, invisible, *in doubt*.
* P1 in doubt asks P0 ``abort_unless_committed``: if P0 committed, P1 commits; otherwise P0
  aborts its copy in the same atomic step (so a late commit from the coordinator fails) and
  P1 aborts too.
* P0 in doubt with no coordinator for longer than the upload timeout aborts its own copy
  with ``abort_unless_committed``; a coordinator that comes back finds the commit refused
  and aborts P1.
* If P0 cannot be reached for the commit, the coordinator stops *in doubt* and reports it;
  the servers settle the upload by the rules above, and ``spp datasets show`` tells the owner
  which way it went.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, Protocol

from ..errors import PeerFailed, PeerTimeout
from .errors import StorageError

Op = Literal["prepare", "commit", "abort"]
P0, P1 = 0, 1
RETRYABLE: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError, PeerTimeout, PeerFailed)


class Outcome(str, Enum):
    """How a commit attempt ended, as far as the coordinator knows."""

    COMMITTED = "committed"  # visible on both (or on P0, with P1 finishing by the rules)
    ABORTED = "aborted"  # visible nowhere
    IN_DOUBT = "in_doubt"  # P0 did not answer the commit; P0's store decides
    INCONSISTENT = "inconsistent"  # P0 committed but P1 refused: needs an operator


@dataclass(frozen=True)
class Send:
    """A request to one server: ``op`` for this upload."""

    party: int
    op: Op


@dataclass(frozen=True)
class Reply:
    """A server's answer to a :class:`Send`: success, or a failure and whether to retry."""

    party: int
    op: Op
    ok: bool
    error: str = ""
    retryable: bool = False


@dataclass(frozen=True)
class Result:
    """The coordinator's final word: the outcome, why, and servers still to finish."""

    outcome: Outcome
    reason: str = ""
    pending: tuple[int, ...] = ()


class Phase(str, Enum):
    PREPARING = "preparing"
    COMMITTING_P0 = "committing_p0"
    COMMITTING_P1 = "committing_p1"
    ABORTING = "aborting"
    DONE = "done"


@dataclass
class CommitCoordinator:
    """The two-phase commit of one upload, as events in and requests out (no I/O)."""

    max_attempts: int = 3
    phase: Phase = Phase.PREPARING
    result: Result | None = None
    _prepared: set[int] = field(default_factory=set)
    _aborted: set[int] = field(default_factory=set)
    _attempts: dict[tuple[int, str], int] = field(default_factory=dict)
    _reason: str = ""
    _abort_notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    def start(self) -> list[Send]:
        """The first requests: prepare on both servers."""
        if self._attempts:
            raise RuntimeError("commit coordinator already started")
        return [self._send(P0, "prepare"), self._send(P1, "prepare")]

    def on_reply(self, reply: Reply) -> list[Send]:
        """Advance on one reply; returns the requests to send next (none once done)."""
        if self.done:
            return []
        if reply.party not in (P0, P1):
            raise ValueError(f"reply from unknown party {reply.party}")
        if not reply.ok and reply.retryable:
            if self._attempts.get((reply.party, reply.op), 0) < self.max_attempts:
                return [self._send(reply.party, reply.op)]
            return self._gave_up(reply)
        handler = {
            Phase.PREPARING: self._preparing,
            Phase.COMMITTING_P0: self._committing_p0,
            Phase.COMMITTING_P1: self._committing_p1,
            Phase.ABORTING: self._aborting,
        }[self.phase]
        return handler(reply)

    # -- phases -------------------------------------------------------------------------------
    def _preparing(self, r: Reply) -> list[Send]:
        if r.op != "prepare":
            return []
        if not r.ok:
            return self._abort_both(f"p{r.party} refused to prepare: {r.error}")
        self._prepared.add(r.party)
        if self._prepared == {P0, P1}:
            self.phase = Phase.COMMITTING_P0
            return [self._send(P0, "commit")]
        return []

    def _committing_p0(self, r: Reply) -> list[Send]:
        if (r.party, r.op) != (P0, "commit"):
            return []
        if not r.ok:  # P0 aborted it (in-doubt resolution) or lost it: the decision is abort
            return self._abort_both(f"p0 refused to commit: {r.error}")
        self.phase = Phase.COMMITTING_P1
        return [self._send(P1, "commit")]

    def _committing_p1(self, r: Reply) -> list[Send]:
        if (r.party, r.op) != (P1, "commit"):
            return []
        if r.ok:
            return self._finish(Result(Outcome.COMMITTED))
        return self._finish(
            Result(Outcome.INCONSISTENT, f"committed on p0 but p1 refused: {r.error}", (P1,))
        )

    def _aborting(self, r: Reply) -> list[Send]:
        if r.op != "abort":
            return []
        self._aborted.add(r.party)
        if not r.ok:
            self._abort_notes.append(f"p{r.party} abort failed: {r.error}")
        return self._maybe_aborted()

    # -- helpers ------------------------------------------------------------------------------
    def _gave_up(self, r: Reply) -> list[Send]:
        why = f"p{r.party} did not answer {r.op} after {self.max_attempts} attempts: {r.error}"
        if self.phase is Phase.PREPARING:
            return self._abort_both(why)
        if self.phase is Phase.COMMITTING_P0:
            return self._finish(Result(Outcome.IN_DOUBT, why, (P0, P1)))
        if self.phase is Phase.COMMITTING_P1:
            return self._finish(Result(Outcome.COMMITTED, why + "; p1 commits on recovery", (P1,)))
        self._aborted.add(r.party)  # aborting: the server discards it on restart or timeout
        self._abort_notes.append(why + "; it discards the upload on restart or timeout")
        return self._maybe_aborted()

    def _abort_both(self, reason: str) -> list[Send]:
        self.phase = Phase.ABORTING
        self._reason = reason
        return [self._send(P0, "abort"), self._send(P1, "abort")]

    def _maybe_aborted(self) -> list[Send]:
        if self._aborted == {P0, P1}:
            reason = "; ".join([self._reason, *self._abort_notes])
            return self._finish(Result(Outcome.ABORTED, reason))
        return []

    def _send(self, party: int, op: Op) -> Send:
        key = (party, op)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        return Send(party, op)

    def _finish(self, result: Result) -> list[Send]:
        self.phase = Phase.DONE
        self.result = result
        return []


class CommitParticipant(Protocol):
    """What the coordinator needs from a server's store (local object or remote proxy)."""

    def prepare(self, upload_id: str, sha256: Mapping[str, str]) -> None: ...
    def commit(self, upload_id: str) -> object: ...
    def abort(self, upload_id: str) -> bool: ...
    def abort_unless_committed(self, upload_id: str) -> bool: ...


def run_commit(
    upload_id: str,
    servers: Sequence[CommitParticipant],
    sha256: Sequence[Mapping[str, str]],
    *,
    max_attempts: int = 3,
) -> Result:
    """Drive :class:`CommitCoordinator` against two servers, one request at a time.

    ``sha256[i]`` is the owner's digest of server ``i``'s share (each server sees only its
    own). Store errors are refusals; timeouts and lost connections are retried.
    """
    if len(servers) != 2 or len(sha256) != 2:
        raise ValueError("two-phase commit needs exactly two servers (p0, p1) and their digests")
    machine = CommitCoordinator(max_attempts=max_attempts)
    queue = deque(machine.start())
    while queue:
        send = queue.popleft()
        queue.extend(machine.on_reply(_execute(send, upload_id, servers[send.party], sha256)))
    assert machine.result is not None
    return machine.result


def _execute(
    send: Send, upload_id: str, server: CommitParticipant, sha256: Sequence[Mapping[str, str]]
) -> Reply:
    try:
        if send.op == "prepare":
            server.prepare(upload_id, sha256[send.party])
        elif send.op == "commit":
            server.commit(upload_id)
        else:
            server.abort(upload_id)
    except RETRYABLE as exc:
        return Reply(send.party, send.op, ok=False, error=_describe(exc), retryable=True)
    except StorageError as exc:
        return Reply(send.party, send.op, ok=False, error=str(exc))
    return Reply(send.party, send.op, ok=True)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def resolve_in_doubt(
    upload_id: str, local: CommitParticipant, p0: CommitParticipant, *, local_is_p0: bool
) -> Outcome:
    """Settle a prepared upload whose coordinator went away (the recovery rule above).

    On P1, ``p0`` is a handle on P0's store; on P0, ``local`` and ``p0`` are the same store.
    Returns the outcome this server has now applied.
    """
    committed = p0.abort_unless_committed(upload_id)
    if local_is_p0:
        return Outcome.COMMITTED if committed else Outcome.ABORTED
    if committed:
        local.commit(upload_id)
        return Outcome.COMMITTED
    local.abort(upload_id)
    return Outcome.ABORTED
