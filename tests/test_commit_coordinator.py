"""Two-phase commit: the pure state machine, the driver over real stores, and the recovery rule."""

import numpy as np
import pytest
from storage_helpers import fingerprint, make_upload, plaintext, staging_entries, upload_one

from spp_runtime.client.upload_driver import UploadFailed, UploadInDoubt, push_upload
from spp_runtime.errors import PeerTimeout
from spp_runtime.storage.coordinator import (
    CommitCoordinator,
    Outcome,
    Phase,
    Reply,
    Send,
    resolve_in_doubt,
    run_commit,
)
from spp_runtime.storage.errors import StorageError
from spp_runtime.storage.store import ShareStore, UploadStatus

# -- the pure state machine -----------------------------------------------------------------------


def ok(party, op):
    return Reply(party, op, ok=True)


def refuse(party, op, why="no"):
    return Reply(party, op, ok=False, error=why)


def lost(party, op):
    return Reply(party, op, ok=False, error="timeout", retryable=True)


def test_happy_path_commits_p0_before_p1():
    m = CommitCoordinator()
    assert m.start() == [Send(0, "prepare"), Send(1, "prepare")]
    assert m.on_reply(ok(1, "prepare")) == []
    assert m.on_reply(ok(0, "prepare")) == [Send(0, "commit")]
    assert m.phase is Phase.COMMITTING_P0
    assert m.on_reply(ok(0, "commit")) == [Send(1, "commit")]
    assert m.on_reply(ok(1, "commit")) == [] and m.done
    assert m.result.outcome is Outcome.COMMITTED and m.result.pending == ()
    assert m.on_reply(ok(1, "commit")) == []  # nothing after the end
    with pytest.raises(RuntimeError, match="already started"):
        m.start()


@pytest.mark.parametrize("who", [0, 1])
def test_a_no_vote_aborts_both(who):
    m = CommitCoordinator()
    m.start()
    assert m.on_reply(refuse(who, "prepare", "checksum mismatch")) == [Send(0, "abort"), Send(1, "abort")]
    assert m.on_reply(ok(1 - who, "prepare")) == []  # a late yes changes nothing
    m.on_reply(ok(0, "abort"))
    m.on_reply(ok(1, "abort"))
    assert m.result.outcome is Outcome.ABORTED
    assert m.result.reason == f"p{who} refused to prepare: checksum mismatch"


def test_timeouts_are_retried_then_give_up():
    m = CommitCoordinator(max_attempts=3)
    m.start()
    assert m.on_reply(lost(0, "prepare")) == [Send(0, "prepare")]
    assert m.on_reply(lost(0, "prepare")) == [Send(0, "prepare")]
    assert m.on_reply(lost(0, "prepare")) == [Send(0, "abort"), Send(1, "abort")]
    m.on_reply(lost(0, "abort"))
    m.on_reply(lost(0, "abort"))
    m.on_reply(lost(0, "abort"))
    m.on_reply(ok(1, "abort"))
    assert m.result.outcome is Outcome.ABORTED
    assert "p0 did not answer prepare after 3 attempts" in m.result.reason
    assert "p0 did not answer abort after 3 attempts: timeout; it discards the upload on restart" in m.result.reason


def test_p0_refusing_commit_aborts_and_p0_silent_is_in_doubt():
    m = CommitCoordinator()
    m.start()
    m.on_reply(ok(0, "prepare"))
    m.on_reply(ok(1, "prepare"))
    assert m.on_reply(refuse(0, "commit", "no upload")) == [Send(0, "abort"), Send(1, "abort")]
    m.on_reply(ok(0, "abort"))
    m.on_reply(ok(1, "abort"))
    assert m.result.outcome is Outcome.ABORTED and m.result.reason == "p0 refused to commit: no upload"

    m = CommitCoordinator(max_attempts=2)
    m.start()
    m.on_reply(ok(0, "prepare"))
    m.on_reply(ok(1, "prepare"))
    assert m.on_reply(lost(0, "commit")) == [Send(0, "commit")]
    assert m.on_reply(lost(0, "commit")) == []
    assert m.result.outcome is Outcome.IN_DOUBT and m.result.pending == (0, 1)


def test_after_p0_commits_the_outcome_is_commit():
    m = CommitCoordinator(max_attempts=1)
    m.start()
    m.on_reply(ok(0, "prepare"))
    m.on_reply(ok(1, "prepare"))
    m.on_reply(ok(0, "commit"))
    assert m.on_reply(lost(1, "commit")) == []
    assert m.result.outcome is Outcome.COMMITTED and m.result.pending == (1,)
    assert "p1 commits on recovery" in m.result.reason

    m = CommitCoordinator()
    m.start()
    m.on_reply(ok(0, "prepare"))
    m.on_reply(ok(1, "prepare"))
    m.on_reply(ok(0, "commit"))
    m.on_reply(refuse(1, "commit", "disk failed"))
    assert m.result.outcome is Outcome.INCONSISTENT and m.result.pending == (1,)


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        CommitCoordinator(max_attempts=0)
    m = CommitCoordinator()
    m.start()
    with pytest.raises(ValueError, match="reply from unknown party 2"):
        m.on_reply(ok(2, "prepare"))


# -- fault-injecting server handles -------------------------------------------------------------


class CoordinatorDied(BaseException):
    """The coordinator process stops here (nothing catches it)."""


class Faulty:
    """A store behind an unreliable link: per-operation scripts of faults."""

    def __init__(self, store, **plan):
        self.store = store
        self.plan = {op: list(faults) for op, faults in plan.items()}
        self.calls = 0
        self.die_at: tuple[int, bool] | None = None  # (call number, after executing it?)

    def _run(self, op, fn):
        self.calls += 1
        if self.die_at and self.die_at == (self.calls, False):
            raise CoordinatorDied
        fault = self.plan.get(op, [None]).pop(0) if self.plan.get(op) else None
        if fault == "lost":
            raise TimeoutError(f"{op} request lost")
        if fault == "down":
            raise ConnectionError("connection refused")
        if fault == "refuse":
            raise StorageError(f"{op} refused by test")
        out = fn()
        if fault == "ack-lost":
            raise PeerTimeout(f"{op} answer lost", peer="p?")
        if self.die_at and self.die_at == (self.calls, True):
            raise CoordinatorDied
        return out

    def begin(self, meta):
        return self._run("begin", lambda: self.store.begin(meta))

    def write_chunk(self, uid, index, arrays, digests):
        if self.plan.get("corrupt") and self.plan["corrupt"][0] == index:
            self.plan["corrupt"].pop(0)
            arrays = {k: v.copy() for k, v in arrays.items()}
            arrays["x"].flat[0] ^= np.uint64(1)
        return self._run("write_chunk", lambda: self.store.write_chunk(uid, index, arrays, digests))

    def prepare(self, uid, sha256):
        return self._run("prepare", lambda: self.store.prepare(uid, sha256))

    def commit(self, uid):
        return self._run("commit", lambda: self.store.commit(uid))

    def abort(self, uid):
        return self._run("abort", lambda: self.store.abort(uid))

    def abort_unless_committed(self, uid):
        return self._run("abort_unless_committed", lambda: self.store.abort_unless_committed(uid))


@pytest.fixture
def pair(tmp_path):
    return ShareStore(tmp_path / "p0", 0), ShareStore(tmp_path / "p1", 1)


def _visible(stores, name):
    return [name in {m.name for m in s.list()} for s in stores]


def test_push_upload_end_to_end(pair, rng):
    up = make_upload(rng, rows=50, chunk_rows=7)
    x = up.dataset.features.copy()
    seen = []
    summary = push_upload(up, pair, on_chunk=lambda p: seen.append(p.index))
    assert seen == list(range(8)) and summary.rows == 50 and summary.note == ""
    assert _visible(pair, "d") == [True, True]
    assert np.abs(plaintext(*pair, "d") - x).max() <= 2.0**-17
    assert pair[0].verify("d").sha256 == summary.sha256[0] and pair[1].verify("d").sha256 == summary.sha256[1]


def test_transient_faults_are_retried_with_identical_chunks(pair, rng):
    p0 = Faulty(pair[0], begin=["lost"], write_chunk=[None, "ack-lost", "lost"], prepare=["ack-lost"], commit=["lost"])
    p1 = Faulty(pair[1], write_chunk=["down", None, "ack-lost"], commit=["ack-lost", "lost"])
    up = make_upload(rng, rows=30, chunk_rows=8)
    x = up.dataset.features.copy()
    push_upload(up, [p0, p1])
    assert _visible(pair, "d") == [True, True]
    assert np.abs(plaintext(*pair, "d") - x).max() <= 2.0**-17


def test_corruption_in_transit_is_rejected_and_retried_then_gives_up(pair, rng):
    upload_one(pair[0], make_upload(rng, name="base"))
    before = fingerprint(pair[0].root)
    p1 = Faulty(pair[1], corrupt=[2, 2, 2])
    up = make_upload(rng, rows=30, chunk_rows=8)
    with pytest.raises(UploadFailed, match="p1 refused chunk 2: .*chunk 2 part x: checksum mismatch \\(data corrupted in transit\\)"):
        push_upload(up, [pair[0], p1])
    assert _visible(pair, "d") == [False, False]
    assert staging_entries(pair[0].root) == [] and staging_entries(pair[1].root) == []
    assert fingerprint(pair[0].root) == before


def test_duplicate_name_fails_cleanly_and_keeps_the_original(pair, rng):
    push_upload(make_upload(rng, name="mnist"), pair)
    before = [fingerprint(s.root) for s in pair]
    with pytest.raises(UploadFailed, match="p0 refused begin: dataset 'mnist' already exists on p0"):
        push_upload(make_upload(rng, name="mnist"), pair)
    assert [fingerprint(s.root) for s in pair] == before
    assert staging_entries(pair[1].root) == []


def test_server_down_during_upload(pair, rng):
    p1 = Faulty(pair[1], write_chunk=[None, "down", "down", "down"])
    with pytest.raises(UploadFailed, match="p1 did not answer chunk 1 after 3 attempts: connection refused"):
        push_upload(make_upload(rng), [pair[0], p1])
    assert _visible(pair, "d") == [False, False] and staging_entries(pair[0].root) == []


def test_prepare_refused_aborts_both(pair, rng):
    p1 = Faulty(pair[1], prepare=["refuse"])
    with pytest.raises(UploadFailed, match="aborted: p1 refused to prepare: prepare refused by test"):
        push_upload(make_upload(rng), [pair[0], p1])
    assert _visible(pair, "d") == [False, False]
    assert staging_entries(pair[0].root) == [] and staging_entries(pair[1].root) == []


def test_p0_unreachable_at_commit_is_in_doubt_then_resolved(pair, rng):
    p0 = Faulty(pair[0], commit=["lost", "lost", "lost"])
    up = make_upload(rng)
    with pytest.raises(UploadInDoubt, match="p0 did not answer commit after 3 attempts"):
        push_upload(up, [p0, pair[1]])
    uid = up.meta.upload_id
    assert pair[0].status(uid) is UploadStatus.PREPARED and pair[1].status(uid) is UploadStatus.PREPARED
    assert resolve_in_doubt(uid, pair[1], pair[0], local_is_p0=False) is Outcome.ABORTED
    assert pair[0].status(uid) is UploadStatus.UNKNOWN and pair[1].status(uid) is UploadStatus.UNKNOWN
    push_upload(make_upload(rng), pair)  # and the retry goes through
    assert _visible(pair, "d") == [True, True]


def test_p1_unreachable_after_p0_commit_finishes_on_recovery(tmp_path, pair, rng):
    p1 = Faulty(pair[1], commit=["down", "down", "down"])
    up = make_upload(rng)
    x = up.dataset.features.copy()
    summary = push_upload(up, [pair[0], p1])
    assert "p1 commits on recovery" in summary.note
    assert _visible(pair, "d") == [True, False]
    p1_restarted = ShareStore(tmp_path / "p1", 1)
    assert p1_restarted.recovery.in_doubt == [up.meta.upload_id]
    assert resolve_in_doubt(up.meta.upload_id, p1_restarted, pair[0], local_is_p0=False) is Outcome.COMMITTED
    assert _visible([pair[0], p1_restarted], "d") == [True, True]
    assert np.abs(plaintext(pair[0], p1_restarted, "d") - x).max() <= 2.0**-17


def test_late_commit_after_resolution_aborts(pair, rng):
    up = make_upload(rng)
    uid = up.meta.upload_id
    for party, s in enumerate(pair):
        s.begin(up.meta)
    for p in up.chunks():
        for party, s in enumerate(pair):
            c = p.for_party(party)
            s.write_chunk(uid, c.index, c.arrays, c.sha256)
    for party, s in enumerate(pair):
        s.prepare(uid, up.sha256(party))
    # the coordinator stalls; P1 times out and resolves through the commit point
    assert resolve_in_doubt(uid, pair[1], pair[0], local_is_p0=False) is Outcome.ABORTED
    result = run_commit(uid, pair, (up.sha256(0), up.sha256(1)))
    assert result.outcome is Outcome.ABORTED
    assert _visible(pair, "d") == [False, False]


def test_p0_resolves_its_own_in_doubt_upload(pair, rng):
    up = make_upload(rng)
    uid = up.meta.upload_id
    pair[0].begin(up.meta)
    for p in up.chunks():
        pair[0].write_chunk(uid, p.index, p.p0.arrays, p.p0.sha256)
    pair[0].prepare(uid, up.sha256(0))
    assert resolve_in_doubt(uid, pair[0], pair[0], local_is_p0=True) is Outcome.ABORTED
    assert pair[0].status(uid) is UploadStatus.UNKNOWN


def _calls_in_a_clean_upload(rng, tmp_path):
    s = [Faulty(ShareStore(tmp_path / "count0", 0)), Faulty(ShareStore(tmp_path / "count1", 1))]
    push_upload(make_upload(rng, rows=20, chunk_rows=8), s)
    return s[0].calls, s[1].calls


def test_coordinator_death_at_every_step_leaves_both_or_neither(tmp_path, rng):
    """Kill the coordinator before/after each server call; restart both servers; apply the
    recovery rule. The dataset must end up on both servers or on neither, and never harm
    the dataset committed before."""
    n0, n1 = _calls_in_a_clean_upload(rng, tmp_path)
    assert (n0, n1) == (6, 6)  # begin, 3 chunks, prepare, commit on each server
    runs = [(party, k, after) for party, n in ((0, n0), (1, n1)) for k in range(1, n + 1) for after in (False, True)]
    outcomes = set()
    for run, (party, k, after) in enumerate(runs):
        root = tmp_path / f"run{run}"
        stores = [ShareStore(root / "p0", 0), ShareStore(root / "p1", 1)]
        upload_one(stores[0], make_upload(rng, name="base"), 0)
        before = fingerprint(stores[0].root)
        handles = [Faulty(stores[0]), Faulty(stores[1])]
        handles[party].die_at = (k, after)
        up = make_upload(rng, rows=20, chunk_rows=8)
        x = up.dataset.features.copy()
        with pytest.raises(CoordinatorDied):
            push_upload(up, handles)
        # both servers restart; each settles any in-doubt upload by the rule
        r0, r1 = ShareStore(root / "p0", 0), ShareStore(root / "p1", 1)
        for uid in r1.recovery.in_doubt:
            resolve_in_doubt(uid, r1, r0, local_is_p0=False)
        for uid in list(r0.recovery.in_doubt):
            resolve_in_doubt(uid, r0, r0, local_is_p0=True)
        vis = _visible([r0, r1], "d")
        assert vis in ([True, True], [False, False]), (party, k, after, vis)
        outcomes.add(vis[0])
        if vis[0]:
            assert np.abs(plaintext(r0, r1, "d") - x).max() <= 2.0**-17
        assert fingerprint(r0.root) == {**before, **{k2: v for k2, v in fingerprint(r0.root).items() if k2.startswith("d/")}}
        assert staging_entries(r0.root) == [] and staging_entries(r1.root) == []
        assert r0.verify_all() == {} and r1.verify_all() == {}
        if not vis[0]:  # an interrupted upload can simply be retried
            push_upload(make_upload(rng, rows=20, chunk_rows=8), [r0, r1])
            assert _visible([r0, r1], "d") == [True, True]
    assert outcomes == {True, False}
