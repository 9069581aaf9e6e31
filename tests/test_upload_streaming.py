"""Streaming uploads: the owner's memory is bounded by the chunk size, not by the file size.

The big file is an IDX.gz of 80 MiB of float64 (40960 x 256), so the array alone in memory
would already exceed the bounds asserted here; it is sent to real servers and read back from
their share files. Also: ``--chunk-mb`` and label checks through ``spp upload``.
"""

import gzip
import re
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner
from storage_helpers import fingerprint

from spp_runtime.cli.main import cli
from spp_runtime.client.upload_prep import SharedUpload
from spp_runtime.data.idx import write_idx
from spp_runtime.data.readers import MAX_LABEL, open_dataset
from spp_runtime.encoding import FixedPoint

ROWS, COLS = 40960, 256
DATA_MIB = ROWS * COLS * 8 / 2**20  # 80 MiB of float64 (and of shares per server)
MIB = 1 << 20


def _values(start: int, stop: int) -> np.ndarray:
    """Rows ``start..stop`` of the big file: quarters in [-31.25, 31.25] (exact in fixed point)."""
    k = np.arange(start * COLS, stop * COLS, dtype=np.int64)
    return (((k * 7919) % 251) - 125).astype(np.float64).reshape(-1, COLS) / 4


def _labels() -> np.ndarray:
    return (np.arange(ROWS, dtype=np.int64) * 31 % 10).astype(np.uint8)


@pytest.fixture(scope="module")
def big_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    img, lab = d / "big-idx2-double.gz", d / "big-labels-idx1-ubyte.gz"
    with gzip.open(img, "wb", compresslevel=1) as fh:
        fh.write(struct.pack(">HBB", 0, 0x0E, 2) + struct.pack(">2I", ROWS, COLS))
        for start in range(0, ROWS, 4096):
            fh.write(_values(start, start + 4096).astype(">f8").tobytes())
    write_idx(lab, _labels())
    return img, lab


def test_checking_and_sharing_a_big_file_holds_about_one_chunk(big_files):
    img, lab = big_files
    tracemalloc.start()
    try:
        ds = open_dataset(img, labels=lab)
        check_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        up = SharedUpload(ds, name="big", owner="o", chunk_bytes=4 * MIB)
        sent = 0
        for pair in up.chunks():
            sent += pair.p0.nbytes
            del pair
        share_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ds.rows == ROWS and ds.row_shapes == {"x": (COLS,), "y": ()} and ds.label_range == (0, 9)
    assert sent == ROWS * (COLS + 1) * 8
    # the whole array as float64 would be 80 MiB; checking holds a 4 MiB block, sharing a chunk
    assert check_peak < 24 * MIB, check_peak / MIB
    assert share_peak < 40 * MIB, share_peak / MIB


# -- with real servers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(cluster):
    """The shared module cluster (conftest), seen as its config."""
    return cluster[0]


_MEASURE = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:]).returncode\n"
    "print('RC', rc, 'MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)\n"
)


def _spp_peak(*args) -> tuple[int, int, str]:
    """Run ``spp ARGS`` as a child of a fresh process; (exit code, peak RSS in bytes, output)."""
    cmd = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "spp_runtime", *map(str, args)]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"RC (-?\d+) MAXRSS_KB (\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2)) * 1024, out


@pytest.mark.network
def test_a_big_upload_streams_in_bounded_memory_and_stores_the_same_data(cluster, big_files):
    img, lab = big_files
    conf = cluster.source
    rc, idle, out = _spp_peak("datasets", "list", "--config", conf)  # imports + client, no data
    assert rc == 0, out
    rc, peak, out = _spp_peak("upload", "--dataset", "big", "--labels", lab, img, "--config", conf)
    assert rc == 0, out
    assert f"{ROWS} rows (x {ROWS}x{COLS}, y {ROWS})" in out and "labels 0..9" in out
    # a non-streaming upload holds at least the 80 MiB float64 array (the old one peaked at
    # idle + 270 MiB here; this one at idle + ~35 MiB)
    assert peak - idle < 60 * MIB, (peak / MIB, idle / MIB)
    assert peak < 200 * MIB
    assert DATA_MIB * MIB > 60 * MIB
    # what the servers stored reconstructs to exactly the source (read here, block by block)
    fxp = FixedPoint(cluster.frac_bits)
    files = [cluster.data_dir / p / "datasets" / "big" for p in ("p0", "p1")]
    maps = [np.memmap(f / "x.u64", dtype="<u8", mode="r", shape=(ROWS, COLS)) for f in files]
    for start in range(0, ROWS, 8192):
        got = fxp.decode(maps[0][start : start + 8192] + maps[1][start : start + 8192])
        assert np.array_equal(got, _values(start, min(ROWS, start + 8192))), start
    del maps
    y = [np.fromfile(f / "y.u64", dtype="<u8") for f in files]
    assert np.array_equal(fxp.decode(y[0] + y[1]), _labels())
    r = _cli("datasets", "show", "big", "--verify", "--config", conf)
    assert r.exit_code == 0 and r.output.count("checksums verified") == 2, r.output
    assert _cli("datasets", "delete", "big", "--config", conf).exit_code == 0


# -- the command's checks ------------------------------------------------------------------------------


def _cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("value", ["0", "-1", "0.0", "-0.0001", "nan", "inf"])
def test_chunk_mb_must_be_positive(tmp_path, value):
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    r = _cli("upload", "--dataset", "d", tmp_path / "x.npy", "--chunk-mb", value)
    assert r.exit_code == 2, r.output
    assert "Invalid value for '--chunk-mb'" in r.output and "greater than 0" in r.output, r.output


def test_chunk_mb_above_the_maximum_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    r = _cli("upload", "--dataset", "d", tmp_path / "x.npy", "--chunk-mb", "513")
    assert r.exit_code == 2 and "must be at most 512 MiB" in r.output, r.output


@pytest.mark.network
def test_a_tiny_positive_chunk_size_is_one_row_per_chunk(cluster, tmp_path):
    x = np.arange(12.0).reshape(6, 2)
    np.save(tmp_path / "x.npy", x)
    r = _cli("upload", "--dataset", "tiny-chunks", tmp_path / "x.npy", "--chunk-mb", "0.000001",
             "--config", cluster.source)
    assert r.exit_code == 0, r.output
    assert "6 chunks, 96 bytes of shares" in r.output
    assert _cli("datasets", "delete", "tiny-chunks", "--config", cluster.source).exit_code == 0


@pytest.mark.network
@pytest.mark.parametrize("top, ok", [(9, True), (MAX_LABEL, True), (MAX_LABEL + 1, False), (-1, False)])
def test_labels_at_and_past_the_edges_through_spp_upload(cluster, tmp_path, top, ok):
    np.save(tmp_path / "x.npy", np.ones((4, 2)))
    y = np.array([0, 1, top, 2], dtype=np.float64)
    np.save(tmp_path / "y.npy", y)
    before = fingerprint(cluster.data_dir / "p0"), fingerprint(cluster.data_dir / "p1")
    r = _cli("upload", "--dataset", "labels-edge", "--labels", tmp_path / "y.npy", tmp_path / "x.npy",
             "--config", cluster.source)
    if ok:
        assert r.exit_code == 0 and f"labels {min(0, top)}..{max(2, top)}" in r.output, r.output
        assert _cli("datasets", "delete", "labels-edge", "--config", cluster.source).exit_code == 0
        return
    assert r.exit_code == 1, r.output
    assert f"{tmp_path / 'y.npy'}: label at row 2 is {top}; labels must be whole numbers" in r.output
    assert (fingerprint(cluster.data_dir / "p0"), fingerprint(cluster.data_dir / "p1")) == before
    assert not list((cluster.data_dir / "p0" / "staging").iterdir())
