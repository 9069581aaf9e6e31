"""Owner-side preparation: shares reconstruct, chunks cover the rows, checksums are exact."""

import hashlib

import numpy as np
import pytest
from storage_helpers import staging_entries

from spp_runtime.client.upload_driver import push_upload
from spp_runtime.client.upload_prep import SharedUpload
from spp_runtime.data.idx import write_idx
from spp_runtime.data.readers import DataFormatError, Dataset, open_dataset, read_dataset
from spp_runtime.encoding import FixedPoint
from spp_runtime.errors import EncodingError
from spp_runtime.sharing import reconstruct
from spp_runtime.storage.errors import InvalidMetadata
from spp_runtime.storage.store import ShareStore


def _dataset(rng, rows=103, cols=7):
    return Dataset(rng.normal(0, 100, size=(rows, cols)), rng.integers(0, 10, rows).astype(float), "mem")


def test_chunks_reconstruct_the_encoded_data(rng):
    ds = _dataset(rng)
    fxp = FixedPoint(16)
    up = SharedUpload(ds, name="d", owner="alice", chunk_rows=10, fxp=fxp)
    pairs = list(up.chunks())
    assert [p.index for p in pairs] == list(range(11)) and up.meta.n_chunks == 11
    assert [p.rows for p in pairs] == [10] * 10 + [3]
    x = np.concatenate([reconstruct(p.p0.arrays["x"], p.p1.arrays["x"]) for p in pairs])
    y = np.concatenate([reconstruct(p.p0.arrays["y"], p.p1.arrays["y"]) for p in pairs])
    assert np.array_equal(x, fxp.encode(ds.features)) and np.array_equal(y, fxp.encode(ds.labels))
    assert np.abs(fxp.decode(x) - ds.features).max() <= 2.0**-17
    for p in pairs:
        assert p.p0.arrays["x"].dtype == np.uint64 and p.p0.arrays["x"].shape == (p.rows, 7)
        assert p.p0.arrays["y"].shape == (p.rows,)


def test_chunk_and_whole_digests_are_sha256_of_the_share_bytes(rng):
    up = SharedUpload(_dataset(rng), name="d", owner="alice", chunk_rows=16)
    pairs = list(up.chunks())
    for party in (0, 1):
        for part in ("x", "y"):
            blobs = [p.for_party(party).arrays[part].astype("<u8").tobytes() for p in pairs]
            for p, b in zip(pairs, blobs):
                assert p.for_party(party).sha256[part] == hashlib.sha256(b).hexdigest()
            assert up.sha256(party)[part] == hashlib.sha256(b"".join(blobs)).hexdigest()
    assert up.sha256(0) != up.sha256(1)


def test_shares_are_fresh_and_not_the_data(rng):
    ds = _dataset(rng, rows=50)
    a = next(SharedUpload(ds, name="d", owner="o").chunks())
    b = next(SharedUpload(ds, name="d", owner="o").chunks())
    enc = FixedPoint().encode(ds.features)
    assert not np.array_equal(a.p0.arrays["x"], b.p0.arrays["x"])
    assert not np.array_equal(a.p0.arrays["x"], enc) and not np.array_equal(a.p1.arrays["x"], enc)
    # a share is uniform: about half its top bits are set even though the data is small
    top = (a.p0.arrays["x"] >> np.uint64(63)).mean()
    assert 0.35 < top < 0.65


def test_summary_and_default_chunking(rng):
    ds = _dataset(rng, rows=1000, cols=9)  # 80 bytes per row per server (x 72 + y 8)
    up = SharedUpload(ds, name="mnist-small", owner="alice", chunk_bytes=8000)
    assert up.meta.chunk_rows == 100 and up.meta.n_chunks == 10
    with pytest.raises(RuntimeError, match="only after every chunk"):
        up.summary()
    n = sum(p.p0.nbytes for p in up.chunks())
    s = up.summary()
    assert s.rows == 1000 and s.chunks == 10 and s.bytes_per_server == 80_000 == n
    assert s.shapes == {"x": (1000, 9), "y": (1000,)}
    text = "\n".join(s.lines())
    assert "1000 rows (x 1000x9, y 1000)" in text and "80000 bytes of shares" in text
    assert f"p1 y sha256 {s.sha256[1]['y']}" in text
    with pytest.raises(RuntimeError, match="single pass"):
        next(up.chunks())


def test_chunk_rows_capped_and_bad_names(rng):
    ds = _dataset(rng, rows=5)
    assert SharedUpload(ds, name="d", owner="o", chunk_rows=1000).meta.chunk_rows == 5
    with pytest.raises(InvalidMetadata, match="invalid dataset name '../x'"):
        SharedUpload(ds, name="../x", owner="o")
    with pytest.raises(InvalidMetadata, match="owner must be"):
        SharedUpload(ds, name="d", owner="")


def test_unchecked_dataset_still_fails_to_encode(rng):
    ds = _dataset(rng, rows=20)
    ds.features[13, 2] = np.nan
    up = SharedUpload(ds, name="d", owner="o", chunk_rows=10)
    chunks = up.chunks()
    next(chunks)
    with pytest.raises(EncodingError, match=r"x rows from 10 at index \(3, 2\) is NaN"):
        next(chunks)


def test_a_streamed_dataset_shares_the_same_values_as_one_in_memory(tmp_path, rng):
    x = rng.integers(0, 256, (103, 4, 4)).astype(np.uint8)
    y = rng.integers(0, 10, 103).astype(np.uint8)
    write_idx(tmp_path / "x-idx3-ubyte.gz", x)
    write_idx(tmp_path / "y-idx1-ubyte.gz", y)
    streamed = open_dataset(tmp_path / "x-idx3-ubyte.gz", labels=tmp_path / "y-idx1-ubyte.gz", scale=1 / 255, flatten=True)
    whole = read_dataset(tmp_path / "x-idx3-ubyte.gz", labels=tmp_path / "y-idx1-ubyte.gz", scale=1 / 255, flatten=True)
    fxp = FixedPoint(16)
    ups = [SharedUpload(d, name="d", owner="o", chunk_bytes=1000, fxp=fxp) for d in (streamed, whole)]
    assert ups[0].meta.parts == ups[1].meta.parts == {"x": (16,), "y": ()}
    assert ups[0].meta.chunk_rows == ups[1].meta.chunk_rows == 1000 // (17 * 8)
    for up, d in zip(ups, (streamed, whole)):
        pairs = list(up.chunks())
        got = np.concatenate([reconstruct(p.p0.arrays["x"], p.p1.arrays["x"]) for p in pairs])
        assert np.array_equal(got, fxp.encode(whole.features))
        assert np.array_equal(fxp.decode(got), np.rint(x.reshape(103, 16) / 255 * 2**16) / 2**16)
        lab = np.concatenate([reconstruct(p.p0.arrays["y"], p.p1.arrays["y"]) for p in pairs])
        assert np.array_equal(fxp.decode(lab), y)
        blobs = b"".join(p.p1.arrays["x"].astype("<u8").tobytes() for p in pairs)
        assert up.sha256(1)["x"] == hashlib.sha256(blobs).hexdigest()


def test_labels_of_an_in_memory_dataset_are_checked_chunk_by_chunk(rng):
    ds = _dataset(rng, rows=30)
    ds.labels[23] = -1
    chunks = SharedUpload(ds, name="d", owner="o", chunk_rows=10).chunks()
    next(chunks), next(chunks)
    with pytest.raises(DataFormatError, match=r"mem labels: label at row 23 is -1; labels must be whole numbers"):
        next(chunks)


def test_an_error_while_producing_chunks_aborts_the_upload_on_both_servers(tmp_path, rng):
    stores = [ShareStore(tmp_path / "p0", 0), ShareStore(tmp_path / "p1", 1)]
    ds = _dataset(rng, rows=30)
    ds.features[25, 1] = np.inf
    seen = []
    with pytest.raises(EncodingError, match=r"x rows from 20 at index \(5, 1\) is infinity"):
        push_upload(SharedUpload(ds, name="d", owner="o", chunk_rows=10), stores, on_chunk=lambda p: seen.append(p.index))
    assert seen == [0, 1]
    assert staging_entries(stores[0].root) == [] and staging_entries(stores[1].root) == []
    assert [s.list() for s in stores] == [[], []]


def test_an_upload_declares_its_label_classes():
    """The owner states ``classes`` from the plaintext it holds: largest label + 1 for a label
    vector, the width of a one-hot matrix, nothing without labels (the servers then cannot check)."""
    from spp_runtime.client.upload_prep import SharedUpload
    from spp_runtime.data.readers import Dataset

    x = np.zeros((4, 3))
    vector = Dataset(x, np.array([0.0, 4.0, 2.0, 1.0]), "mem")
    onehot = Dataset(x, np.eye(7)[[0, 1, 2, 3]], "mem")
    bare = Dataset(x, None, "mem")
    assert SharedUpload(vector, name="v", owner="o").meta.classes == 5
    assert SharedUpload(onehot, name="h", owner="o").meta.classes == 7
    assert SharedUpload(bare, name="b", owner="o").meta.classes is None
