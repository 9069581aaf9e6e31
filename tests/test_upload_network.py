"""Uploads and dataset requests over CURVE to real ``spp server`` processes."""

import numpy as np
import pytest
from storage_helpers import fingerprint

from spp_runtime.client.remote_store import RemoteStore, list_datasets, upload
from spp_runtime.client.upload_driver import UploadFailed
from spp_runtime.data.readers import Dataset
from spp_runtime.encoding import FixedPoint
from spp_runtime.launch import local as cl
from spp_runtime.storage.errors import DatasetExists, DatasetNotFound, StorageError

pytestmark = pytest.mark.network


def _data(rng, rows=50, cols=4):
    return Dataset(rng.normal(0, 5, (rows, cols)), rng.integers(0, 10, rows).astype(float), "mem")


def test_upload_list_show_delete_round_trip(cluster, client, rng):
    cfg, _d = cluster
    ds = _data(rng)
    chunks = []
    summary = upload(client, ds, "net-a", chunk_bytes=400, on_chunk=chunks.append)
    assert summary.rows == 50 and summary.chunks == len(chunks) > 1
    views = {v.name: v for v in list_datasets(client)}
    assert views["net-a"].complete and views["net-a"].manifest.owner == "tester"
    m0 = RemoteStore(client, 0).show("net-a", verify=True)
    m1 = RemoteStore(client, 1).show("net-a", verify=True)
    assert m0.upload_id == m1.upload_id and m0.sha256 == summary.sha256[0] and m1.sha256 == summary.sha256[1]
    # the shares on disk reconstruct the data (read by the test, not by any server)
    np.testing.assert_allclose(_on_disk(cfg, "net-a", "x", (50, 4)), ds.features, atol=2**-15)
    np.testing.assert_allclose(_on_disk(cfg, "net-a", "y", (50,)), ds.labels, atol=2**-15)
    for p in (0, 1):
        RemoteStore(client, p).delete("net-a")
    assert "net-a" not in {v.name for v in list_datasets(client)}
    with pytest.raises(DatasetNotFound, match="net-a"):
        RemoteStore(client, 0).show("net-a")


def test_duplicate_name_is_refused_and_the_first_stays_intact(cluster, client, rng):
    cfg, _d = cluster
    upload(client, _data(rng), "net-dup")
    before = fingerprint(cfg.data_dir / "p0"), fingerprint(cfg.data_dir / "p1")
    with pytest.raises(UploadFailed, match="already exists"):
        upload(client, _data(rng), "net-dup")
    assert (fingerprint(cfg.data_dir / "p0"), fingerprint(cfg.data_dir / "p1")) == before
    RemoteStore(client, 0).show("net-dup", verify=True)


def test_the_owner_comes_from_the_key_and_p2_stores_nothing(cluster, client, rng):
    upload(client, _data(rng, rows=5), "net-owner")
    assert RemoteStore(client, 1).show("net-owner").owner == "tester"
    with pytest.raises(StorageError, match="helper"):
        client.request(2, "datasets.list")
    with pytest.raises(DatasetExists):
        RemoteStore(client, 0).begin(_meta_named("net-owner"))


def _meta_named(name):
    from spp_runtime.storage.meta import UploadMeta, new_upload_id

    return UploadMeta(new_upload_id(), name, "someone-else", 16, 3, 3, {"x": (2,)})


def _on_disk(cfg, name, part, shape):
    """Reconstruct a stored part from both servers' files (test-only, read directly)."""
    s = [np.fromfile(cfg.data_dir / p / "datasets" / name / f"{part}.u64", dtype="<u8") for p in ("p0", "p1")]
    return FixedPoint(cfg.frac_bits).decode((s[0] + s[1]).reshape(shape))


# -- the commands ------------------------------------------------------------------------------------
def _cli(*args):
    from click.testing import CliRunner

    from spp_runtime.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_upload_and_datasets_commands_with_idx_gz_files(cluster, tmp_path, rng):
    from spp_runtime.data.idx import write_idx

    cfg, _d = cluster
    images = rng.integers(0, 256, (30, 4, 4)).astype(np.uint8)
    write_idx(tmp_path / "tiny-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "tiny-labels-idx1-ubyte.gz", rng.integers(0, 10, 30).astype(np.uint8))
    conf = cfg.source
    r = _cli("upload", "--dataset", "tiny", "--labels", tmp_path / "tiny-labels-idx1-ubyte.gz",
             tmp_path / "tiny-images-idx3-ubyte.gz", "--config", conf, "--scale", "1/255")
    assert r.exit_code == 0, r.output
    assert "30 rows (x 30x16, y 30)" in r.output and "bytes of shares to each of p0 and p1" in r.output
    r = _cli("datasets", "list", "--config", conf)
    assert r.exit_code == 0 and "tiny" in r.output and "complete" in r.output
    r = _cli("datasets", "show", "tiny", "--verify", "--config", conf)
    assert r.exit_code == 0 and r.output.count("checksums verified") == 2
    np.testing.assert_allclose(_on_disk(cfg, "tiny", "x", (30, 16)), images.reshape(30, 16) / 255, atol=2**-16)
    r = _cli("datasets", "delete", "tiny", "--config", conf)
    assert r.exit_code == 0 and "p0, p1" in r.output
    r = _cli("datasets", "show", "tiny", "--config", conf)
    assert r.exit_code == 1 and "no dataset 'tiny'" in r.output


@pytest.mark.parametrize("content, problem", [
    ("1,2\n3,nan\n", "NaN"),
    ("1,2\n3,inf\n", "inf"),
    ("1,2\n3,1e15\n", "range"),
    ("1,2\n3\n", "column"),
])
def test_bad_files_are_refused_before_anything_is_sent(cluster, tmp_path, content, problem):
    cfg, _d = cluster
    before = fingerprint(cfg.data_dir / "p0"), fingerprint(cfg.data_dir / "p1")
    (tmp_path / "bad.csv").write_text(content)
    r = _cli("upload", "--dataset", "bad", tmp_path / "bad.csv", "--config", cfg.source)
    assert r.exit_code == 1 and "bad.csv" in r.output and problem.lower() in r.output.lower(), r.output
    assert (fingerprint(cfg.data_dir / "p0"), fingerprint(cfg.data_dir / "p1")) == before
    assert not list((cfg.data_dir / "p0" / "staging").iterdir())


def test_label_count_mismatch_is_refused(cluster, tmp_path):
    cfg, _d = cluster
    np.save(tmp_path / "x.npy", np.ones((5, 2)))
    np.save(tmp_path / "y.npy", np.ones(4))
    r = _cli("upload", "--dataset", "lab", "--labels", tmp_path / "y.npy", tmp_path / "x.npy", "--config", cfg.source)
    assert r.exit_code == 1 and "4 labels but" in r.output and "5 rows" in r.output


def test_status_command(cluster):
    cfg, _d = cluster
    import time

    for via in ("server", "file"):
        for _ in range(20):  # a loaded machine may delay the record
            r = _cli("status", "--party", "1", "--config", cfg.source, "--via", via)
            if r.exit_code == 0:
                break
            time.sleep(0.25)
        assert r.exit_code == 0 and "p1: OK" in r.output, r.output


def test_the_commands_find_the_local_cluster_without_a_config(tmp_path, rng):
    from spp_runtime.launch.files import free_ports

    run = tmp_path / "run"
    r = _cli("datasets", "list", "--run-dir", run)
    assert r.exit_code == 1 and "no cluster is running" in r.output and "spp cluster up" in r.output
    cl.up(run, ports=free_ports(3))
    try:
        np.save(tmp_path / "x.npy", rng.normal(size=(12, 3)))
        r = _cli("upload", "--dataset", "local-x", tmp_path / "x.npy", "--run-dir", run)
        assert r.exit_code == 0 and "12 rows (x 12x3)" in r.output, r.output
        r = _cli("datasets", "list", "--run-dir", run)
        assert "local-x" in r.output and "local" in r.output and "complete" in r.output
        r = _cli("upload", "--dataset", "local-x", tmp_path / "x.npy", "--run-dir", run, "--key", "nobody")
        assert r.exit_code == 1 and "key 'nobody' is not one of the allowed clients (local)" in r.output
    finally:
        cl.down(run)


def test_truncated_and_corrupt_files_are_refused_naming_the_file(cluster, tmp_path, rng):
    import gzip

    from spp_runtime.data.idx import write_idx

    cfg, _ = cluster
    write_idx(tmp_path / "img-idx3-ubyte.gz", rng.integers(0, 256, (20, 4, 4)).astype(np.uint8))
    blob = (tmp_path / "img-idx3-ubyte.gz").read_bytes()
    (tmp_path / "cut-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "short-idx3-ubyte.gz").write_bytes(gzip.compress(gzip.decompress(blob)[:-5]))
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    before = fingerprint(cfg.data_dir / "p0"), fingerprint(cfg.data_dir / "p1")
    for name in ("cut-idx3-ubyte.gz", "short-idx3-ubyte.gz", "junk.npy"):
        r = _cli("upload", "--dataset", "broken", tmp_path / name, "--config", cfg.source)
        assert r.exit_code == 1 and name in r.output, r.output
    assert (fingerprint(cfg.data_dir / "p0"), fingerprint(cfg.data_dir / "p1")) == before
