"""The share store: atomic uploads, restart, duplicates, checksums, faults; committed data safe."""

import hashlib
import json
import re

import numpy as np
import pytest
from storage_helpers import fingerprint, make_upload, staging_entries, upload_one

from spp_runtime.errors import ConfigError
from spp_runtime.storage import store as store_mod
from spp_runtime.storage.errors import (
    ChecksumMismatch,
    ChunkRejected,
    CorruptDataset,
    DatasetExists,
    DatasetNotFound,
    InvalidMetadata,
    StorageError,
    UploadNotFound,
    UploadStateError,
)
from spp_runtime.storage.meta import UploadMeta
from spp_runtime.storage.store import ShareStore, UploadStatus


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def store(tmp_path):
    return ShareStore(tmp_path / "p0", 0)


def test_upload_commit_list_show_load(store, rng):
    up = make_upload(rng, rows=41, chunk_rows=8)
    pairs = []
    store.begin(up.meta)
    assert store.status(up.meta.upload_id) is UploadStatus.RECEIVING
    for pair in up.chunks():
        pairs.append(pair)
        ack = store.write_chunk(up.meta.upload_id, pair.index, pair.p0.arrays, pair.p0.sha256)
        assert ack.index == pair.index and not ack.duplicate
    assert store.list() == []  # nothing visible before commit
    store.prepare(up.meta.upload_id, up.sha256(0))
    assert store.list() == [] and store.status(up.meta.upload_id) is UploadStatus.PREPARED
    m = store.commit(up.meta.upload_id)
    assert store.status(up.meta.upload_id) is UploadStatus.COMMITTED
    assert [d.name for d in store.list()] == ["d"] and store.show("d") == m
    assert m.rows == 41 and m.shape("x") == (41, 3) and m.shape("y") == (41,) and m.owner == "alice"
    assert m.frac_bits == 16 and m.party == 0 and m.state == "committed" and m.sha256 == up.sha256(0)
    x = store.load("d", "x", verify=True)
    assert isinstance(x, np.memmap) and not x.flags.writeable
    assert np.array_equal(x, np.concatenate([p.p0.arrays["x"] for p in pairs]))
    assert np.array_equal(store.load("d", "y", mmap=False), np.concatenate([p.p0.arrays["y"] for p in pairs]))
    assert hashlib.sha256((store.root / "datasets/d/x.u64").read_bytes()).hexdigest() == m.sha256["x"]
    assert staging_entries(store.root) == []
    with pytest.raises(DatasetNotFound, match="dataset 'd' has no part 'z' \\(parts: x, y\\)"):
        store.load("d", "z")


def test_restart_keeps_everything(tmp_path, rng):
    s = ShareStore(tmp_path / "p0", 0)
    for name in ("a", "b", "c"):
        upload_one(s, make_upload(rng, name=name))
    before = fingerprint(s.root)
    manifests = s.list()
    del s
    s2 = ShareStore(tmp_path / "p0", 0, verify_on_open=True)
    assert s2.list() == manifests and fingerprint(s2.root) == before
    assert s2.recovery.corrupt == {} and s2.recovery.discarded == []
    assert s2.verify_all() == {}


def test_p2_stores_nothing_and_volumes_cannot_be_swapped(tmp_path):
    with pytest.raises(ConfigError, match="P2 \\(the helper\\) stores no data"):
        ShareStore(tmp_path / "p2", 2)
    assert not (tmp_path / "p2").exists()
    ShareStore(tmp_path / "p0", 0)
    with pytest.raises(ConfigError, match="belongs to p0, not p1; check the data volume mounts"):
        ShareStore(tmp_path / "p0", 1)


def test_duplicate_names(tmp_path, rng):
    clock = Clock()
    s = ShareStore(tmp_path / "p0", 0, stale_after=60, clock=clock)
    upload_one(s, make_upload(rng, name="mnist"))
    before = fingerprint(s.root)
    with pytest.raises(DatasetExists, match=r"dataset 'mnist' already exists on p0 \(owner alice, created .*\); delete it first"):
        s.begin(make_upload(rng, name="mnist").meta)
    live = make_upload(rng, name="live")
    s.begin(live.meta)
    with pytest.raises(DatasetExists, match=f"an upload of dataset 'live' is in progress on p0 \\(upload {live.meta.upload_id}\\)"):
        s.begin(make_upload(rng, name="live").meta)
    clock.t += 61  # the first uploader went quiet: its staging is abandoned and replaced
    second = make_upload(rng, name="live")
    upload_one(s, second)
    assert s.status(live.meta.upload_id) is UploadStatus.UNKNOWN
    assert s.show("live").upload_id == second.meta.upload_id
    held = make_upload(rng, name="held")
    s.begin(held.meta)
    for pair in held.chunks():
        s.write_chunk(held.meta.upload_id, pair.index, pair.p0.arrays, pair.p0.sha256)
    s.prepare(held.meta.upload_id, held.sha256(0))
    clock.t += 1000  # prepared uploads never go stale: they wait for the coordinator
    with pytest.raises(DatasetExists, match="dataset 'held' has an upload awaiting commit on p0"):
        s.begin(make_upload(rng, name="held").meta)
    assert {k: v for k, v in fingerprint(s.root).items() if k.startswith("mnist/")} == before


def test_chunk_order_retries_and_conflicts(store, rng):
    up = make_upload(rng, rows=24, chunk_rows=8)
    uid = up.meta.upload_id
    store.begin(up.meta)
    c0, c1, c2 = [p.p0 for p in up.chunks()]
    store.write_chunk(uid, 0, c0.arrays, c0.sha256)
    with pytest.raises(ChunkRejected, match=f"upload {uid}: expected chunk 1, got chunk 2"):
        store.write_chunk(uid, 2, c2.arrays, c2.sha256)
    assert store.write_chunk(uid, 0, c0.arrays, c0.sha256).duplicate  # retry after a lost ack
    with pytest.raises(ChunkRejected, match=f"upload {uid}: chunk 0 was already stored with different content"):
        store.write_chunk(uid, 0, c1.arrays, c1.sha256)
    with pytest.raises(ChunkRejected, match="chunk index 3 outside 0..2"):
        store.write_chunk(uid, 3, c1.arrays, c1.sha256)
    bad = {"x": c1.arrays["x"].copy(), "y": c1.arrays["y"]}
    bad["x"][2, 1] ^= np.uint64(1 << 40)
    with pytest.raises(ChunkRejected, match="chunk 1 part x: checksum mismatch \\(data corrupted in transit\\); resend"):
        store.write_chunk(uid, 1, bad, c1.sha256)
    with pytest.raises(ChunkRejected, match=re.escape("chunk 1 part x: expected uint64 (8, 3), got int64 (8, 3)")):
        store.write_chunk(uid, 1, {"x": c1.arrays["x"].view(np.int64), "y": c1.arrays["y"]}, c1.sha256)
    with pytest.raises(ChunkRejected, match=re.escape("expected uint64 (8, 3), got uint64 (7, 3)")):
        store.write_chunk(uid, 1, {"x": c1.arrays["x"][:7], "y": c1.arrays["y"]}, c1.sha256)
    with pytest.raises(ChunkRejected, match=re.escape("parts ['x'] / digests ['x', 'y'] do not match")):
        store.write_chunk(uid, 1, {"x": c1.arrays["x"]}, c1.sha256)
    with pytest.raises(InvalidMetadata, match="chunk 1 digest of x: not a sha256 hex digest"):
        store.write_chunk(uid, 1, c1.arrays, {"x": "00", "y": c1.sha256["y"]})
    with pytest.raises(UploadStateError, match=f"upload {uid} has 1 of 3 chunks on p0; cannot prepare"):
        store.prepare(uid, {"x": "0" * 64, "y": "0" * 64})
    # after all the rejections the upload continues normally
    store.write_chunk(uid, 1, c1.arrays, c1.sha256)
    store.write_chunk(uid, 2, c2.arrays, c2.sha256)
    store.prepare(uid, up.sha256(0))
    store.commit(uid)
    assert store.verify("d").sha256 == up.sha256(0)


def test_prepare_checks_the_whole_share_and_is_idempotent(store, rng):
    up = make_upload(rng)
    uid = up.meta.upload_id
    store.begin(up.meta)
    for pair in up.chunks():
        store.write_chunk(uid, pair.index, pair.p0.arrays, pair.p0.sha256)
    with pytest.raises(ChecksumMismatch, match="part x: the share received by p0 does not match the owner's whole-dataset checksum"):
        store.prepare(uid, {"x": up.sha256(1)["x"], "y": up.sha256(0)["y"]})
    with pytest.raises(InvalidMetadata, match="need one digest per part"):
        store.prepare(uid, {"x": up.sha256(0)["x"]})
    with pytest.raises(UploadStateError, match="is not prepared on p0; cannot commit"):
        store.commit(uid)
    store.prepare(uid, up.sha256(0))
    store.prepare(uid, up.sha256(0))  # repeated vote: no-op
    with pytest.raises(ChecksumMismatch, match="prepared on p0 with different checksums"):
        store.prepare(uid, up.sha256(1))
    with pytest.raises(UploadStateError, match="is prepared on p0; no more chunks"):
        store.write_chunk(uid, 0, {}, {})
    with pytest.raises(UploadStateError, match="already prepared on p0; commit or abort it"):
        store.begin(up.meta)
    m1 = store.commit(uid)
    assert store.commit(uid) == m1  # idempotent for a lost acknowledgement
    with pytest.raises(UploadStateError, match="already committed on p0 as dataset 'd'; delete the dataset instead"):
        store.abort(uid)


def test_prepare_detects_a_staged_file_damaged_on_disk(store, rng):
    up = make_upload(rng)
    uid = up.meta.upload_id
    store.begin(up.meta)
    for pair in up.chunks():
        store.write_chunk(uid, pair.index, pair.p0.arrays, pair.p0.sha256)
    staged = store.root / "staging" / uid / "x.u64"
    raw = bytearray(staged.read_bytes())
    raw[5] ^= 0xFF
    staged.write_bytes(bytes(raw))
    with pytest.raises(ChecksumMismatch, match="staged file on p0 does not match its checksum after writing"):
        store.prepare(uid, up.sha256(0))
    assert store.list() == []


def test_abort_and_unknown_uploads(store, rng):
    up = make_upload(rng)
    uid = up.meta.upload_id
    store.begin(up.meta)
    assert store.abort(uid) is True and store.abort(uid) is False
    assert staging_entries(store.root) == []
    for call in (lambda: store.write_chunk(uid, 0, {}, {}), lambda: store.prepare(uid, {}), lambda: store.commit(uid)):
        with pytest.raises(UploadNotFound, match=f"no upload {uid} in progress on p0 .*begin the upload again"):
            call()
    assert store.status(uid) is UploadStatus.UNKNOWN
    with pytest.raises(InvalidMetadata, match="invalid upload id"):
        store.status("../../etc")


def test_abort_unless_committed_is_the_commit_point(store, rng):
    a, b = make_upload(rng, name="a"), make_upload(rng, name="b")
    upload_one(store, a)
    assert store.abort_unless_committed(a.meta.upload_id) is True
    store.begin(b.meta)
    for pair in b.chunks():
        store.write_chunk(b.meta.upload_id, pair.index, pair.p0.arrays, pair.p0.sha256)
    store.prepare(b.meta.upload_id, b.sha256(0))
    assert store.abort_unless_committed(b.meta.upload_id) is False
    with pytest.raises(UploadNotFound):
        store.commit(b.meta.upload_id)  # a late commit after the decision to abort fails
    assert [m.name for m in store.list()] == ["a"]


def test_interrupted_upload_abandoned_handle_then_restart_and_retry(tmp_path, rng):
    s = ShareStore(tmp_path / "p0", 0)
    upload_one(s, make_upload(rng, name="keep"))
    before = fingerprint(s.root)
    up = make_upload(rng, name="big", rows=64, chunk_rows=8)
    s.begin(up.meta)
    chunks = up.chunks()
    for _ in range(3):
        c = next(chunks).p0
        s.write_chunk(up.meta.upload_id, c.index, c.arrays, c.sha256)
    # the server process "dies" here: the handle is abandoned mid-upload and a new one opens
    s2 = ShareStore(tmp_path / "p0", 0)
    assert s2.recovery.discarded == [up.meta.upload_id]
    assert [m.name for m in s2.list()] == ["keep"] and staging_entries(s2.root) == []
    assert fingerprint(s2.root) == before and s2.verify_all() == {}
    with pytest.raises(UploadNotFound):
        c = next(chunks).p0
        s2.write_chunk(up.meta.upload_id, c.index, c.arrays, c.sha256)
    retry = make_upload(rng, name="big", rows=64, chunk_rows=8)
    upload_one(s2, retry)
    assert sorted(m.name for m in s2.list()) == ["big", "keep"]
    assert {k: v for k, v in fingerprint(s2.root).items() if k.startswith("keep/")} == before


def test_retry_with_the_same_upload_id_restarts_it(store, rng):
    up = make_upload(rng, rows=16, chunk_rows=8)
    uid = up.meta.upload_id
    pairs = list(up.chunks())
    store.begin(up.meta)
    store.write_chunk(uid, 0, pairs[0].p0.arrays, pairs[0].p0.sha256)
    store.begin(up.meta)  # the client lost its connection and starts over
    with pytest.raises(ChunkRejected, match="expected chunk 0, got chunk 1"):
        store.write_chunk(uid, 1, pairs[1].p0.arrays, pairs[1].p0.sha256)
    for p in pairs:
        store.write_chunk(uid, p.index, p.p0.arrays, p.p0.sha256)
    store.prepare(uid, up.sha256(0))
    assert store.commit(uid).sha256 == up.sha256(0)


def test_prepared_upload_survives_restart_in_doubt(tmp_path, rng):
    s = ShareStore(tmp_path / "p0", 0)
    up = make_upload(rng)
    uid = up.meta.upload_id
    s.begin(up.meta)
    for pair in up.chunks():
        s.write_chunk(uid, pair.index, pair.p0.arrays, pair.p0.sha256)
    s.prepare(uid, up.sha256(0))
    s2 = ShareStore(tmp_path / "p0", 0)
    assert s2.recovery.in_doubt == [uid] and s2.list() == []
    assert s2.pending() == [(uid, "d", UploadStatus.PREPARED)]
    assert s2.commit(uid).sha256 == up.sha256(0)
    assert s2.verify("d").name == "d"
    # and the abort path after a restart
    other = make_upload(rng, name="e")
    s2.begin(other.meta)
    for pair in other.chunks():
        s2.write_chunk(other.meta.upload_id, pair.index, pair.p0.arrays, pair.p0.sha256)
    s2.prepare(other.meta.upload_id, other.sha256(0))
    s3 = ShareStore(tmp_path / "p0", 0)
    assert s3.abort(other.meta.upload_id) is True
    assert [m.name for m in s3.list()] == ["d"] and staging_entries(s3.root) == []


def test_crash_between_manifest_and_rename_rolls_forward(tmp_path, rng, monkeypatch):
    s = ShareStore(tmp_path / "p0", 0)
    up = make_upload(rng)
    uid = up.meta.upload_id
    s.begin(up.meta)
    for pair in up.chunks():
        s.write_chunk(uid, pair.index, pair.p0.arrays, pair.p0.sha256)
    s.prepare(uid, up.sha256(0))

    def crash(src, dst):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(store_mod, "durable_rename", crash)
    with pytest.raises(KeyboardInterrupt):
        s.commit(uid)
    monkeypatch.undo()
    assert s.list() == []  # not visible until the rename
    s2 = ShareStore(tmp_path / "p0", 0)
    assert s2.recovery.rolled_forward == ["d"] and staging_entries(s2.root) == []
    assert s2.verify("d").sha256 == up.sha256(0) and s2.status(uid) is UploadStatus.COMMITTED


def test_corrupted_files_are_detected_and_others_untouched(tmp_path, rng):
    s = ShareStore(tmp_path / "p0", 0)
    for name in ("good", "flipped", "short", "badjson"):
        upload_one(s, make_upload(rng, name=name))
    good_before = {k: v for k, v in fingerprint(s.root).items() if k.startswith("good/")}
    f = s.root / "datasets/flipped/x.u64"
    raw = bytearray(f.read_bytes())
    raw[17] ^= 0x01
    f.write_bytes(bytes(raw))
    (s.root / "datasets/short/y.u64").write_bytes((s.root / "datasets/short/y.u64").read_bytes()[:-8])
    (s.root / "datasets/badjson/manifest.json").write_text("{not json")
    with pytest.raises(CorruptDataset, match=re.escape("dataset 'flipped' part x on p0: checksum mismatch")):
        s.verify("flipped")
    with pytest.raises(CorruptDataset, match="checksum mismatch"):
        s.load("flipped", "x", verify=True)
    assert s.load("flipped", "y", verify=True).shape == (40,)  # the other part is fine
    with pytest.raises(CorruptDataset, match=re.escape("dataset 'short' part y on p0: file 312 bytes, expected 320")):
        s.load("short", "y")
    with pytest.raises(CorruptDataset, match="dataset 'badjson' on p0: unreadable manifest"):
        s.show("badjson")
    problems = s.verify_all()
    assert sorted(problems) == ["badjson", "flipped", "short"]
    s2 = ShareStore(tmp_path / "p0", 0)  # size and manifest checks on every open
    assert sorted(s2.recovery.corrupt) == ["badjson", "short"]
    s3 = ShareStore(tmp_path / "p0", 0, verify_on_open=True)  # full hashing on request
    assert sorted(s3.recovery.corrupt) == ["badjson", "flipped", "short"]
    assert [m.name for m in s3.list()] == ["flipped", "good", "short"]
    assert {k: v for k, v in fingerprint(s3.root).items() if k.startswith("good/")} == good_before
    assert s3.verify("good").name == "good"


def test_delete_and_reuse_name(tmp_path, rng):
    s = ShareStore(tmp_path / "p0", 0)
    upload_one(s, make_upload(rng, name="a"))
    upload_one(s, make_upload(rng, name="b"))
    b_before = {k: v for k, v in fingerprint(s.root).items() if k.startswith("b/")}
    s.delete("a")
    assert [m.name for m in s.list()] == ["b"]
    with pytest.raises(DatasetNotFound, match="no dataset named 'a' on p0"):
        s.load("a")
    with pytest.raises(DatasetNotFound, match="no dataset named 'a' on p0"):
        s.delete("a")
    upload_one(s, make_upload(rng, name="a"))
    assert sorted(m.name for m in s.list()) == ["a", "b"]
    assert {k: v for k, v in fingerprint(s.root).items() if k.startswith("b/")} == b_before
    assert list((s.root / "trash").iterdir()) == []


def test_leftovers_from_crashed_deletes_and_writes_are_cleaned_on_open(tmp_path, rng):
    s = ShareStore(tmp_path / "p0", 0)
    upload_one(s, make_upload(rng, name="a"))
    before = fingerprint(s.root)
    (s.root / "trash" / "x.123").mkdir()
    (s.root / "trash" / "x.123" / "x.u64").write_bytes(b"junk")
    (s.root / "datasets" / "a" / ".manifest.json.tmp-1-ab").write_text("half")
    (s.root / ".store.json.tmp-9-cd").write_text("half")
    (s.root / "staging" / "0123456789abcdef").mkdir()  # staging without upload.json
    s2 = ShareStore(tmp_path / "p0", 0)
    assert list((s2.root / "trash").iterdir()) == [] and staging_entries(s2.root) == []
    assert s2.recovery.discarded == ["0123456789abcdef"]
    assert fingerprint(s2.root) == before and not list(s2.root.glob(".*tmp-*"))


def test_limits_and_metadata_validation(tmp_path, rng):
    s = ShareStore(tmp_path / "p0", 0, max_dataset_bytes=1000)
    up = make_upload(rng, rows=40, cols=3)  # 40 * (3 + 1) * 8 = 1280 bytes
    with pytest.raises(StorageError, match="dataset 'd' needs 1280 bytes on p0, more than the limit of 1000"):
        s.begin(up.meta)
    assert staging_entries(s.root) == []
    good = up.meta.to_dict()
    for key, value, match in [
        ("name", "../etc", "invalid dataset name '../etc'"),
        ("name", "", "invalid dataset name ''"),
        ("rows", 0, "rows must be an integer in"),
        ("rows", True, "rows must be an integer"),
        ("chunk_rows", -1, "chunk_rows must be an integer"),
        ("frac_bits", 41, "frac_bits must be an integer in \\[0, 40\\]"),
        ("parts", {"y": [1]}, "parts must include 'x'"),
        ("parts", {"x": [0]}, "row shape of part x must be an integer"),
        ("parts", {"X!": [1]}, "invalid part name 'X!'"),
        ("upload_id", "short", "invalid upload id 'short'"),
        ("owner", "a\nb", "owner must be 1-128 printable characters"),
    ]:
        with pytest.raises(InvalidMetadata, match=match):
            UploadMeta.from_dict({**good, key: value})
    with pytest.raises(InvalidMetadata, match="missing \\['rows'\\], unknown \\['extra'\\]"):
        UploadMeta.from_dict({**{k: v for k, v in good.items() if k != "rows"}, "extra": 1})
    assert UploadMeta.from_dict(json.loads(json.dumps(good))) == up.meta


def test_disk_failure_mid_upload_is_a_storage_error(store, rng):
    up = make_upload(rng)
    uid = up.meta.upload_id
    store.begin(up.meta)
    pairs = list(up.chunks())
    store.write_chunk(uid, 0, pairs[0].p0.arrays, pairs[0].p0.sha256)
    (store.root / "staging" / uid / "y.u64").unlink()  # the staging file vanishes under us
    with pytest.raises(StorageError, match=f"cannot store chunk 1 of upload {uid} on p0: No such file"):
        store.write_chunk(uid, 1, pairs[1].p0.arrays, pairs[1].p0.sha256)
    assert store.abort(uid) and store.list() == []
