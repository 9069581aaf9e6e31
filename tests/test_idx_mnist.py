import gzip
import re

import numpy as np
import pytest

from spp_runtime.data.idx import IdxFormatError, open_idx, parse_idx, read_idx, write_idx
from spp_runtime.data.mnist import default_mnist_dir, load_mnist
from spp_runtime.data.readers import DataFormatError, read_dataset

MNIST = default_mnist_dir()


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_roundtrip(tmp_path, dtype, suffix):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / f"x.idx{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == a.dtype and np.array_equal(a, b)


def _header(code=0x08, dims=(2, 3)):
    import struct

    return struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"\x00", "too short"),
        (b"\x01\x02\x08\x01" + b"\0" * 8, "bad magic"),
        (_header(code=0x42) + bytes(6), "unknown IDX data type"),
        (_header() + bytes(5), r"data truncated: header says \(2, 3\)"),
        (_header() + bytes(7), "trailing bytes"),
        (b"\x00\x00\x08\x02\x00\x00", "truncated header"),
    ],
)
def test_bad_files_name_the_problem(raw, match):
    with pytest.raises(IdxFormatError, match=match):
        parse_idx(raw, name="f.idx")


def test_corrupt_gzip_and_missing_file(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(_header() + bytes(6))[:-6])
    with pytest.raises(IdxFormatError, match="corrupt or truncated gzip"):
        read_idx(p)
    with pytest.raises(IdxFormatError, match="no such file"):
        read_idx(tmp_path / "nope")


def test_real_mnist_test_split():
    test = load_mnist(MNIST, "test")
    assert test.images.shape == (10000, 784) and test.labels.shape == (10000,)
    assert 0.0 <= test.images.min() and test.images.max() <= 1.0
    assert np.array_equal(np.bincount(test.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


def test_real_mnist_train_limit():
    train = load_mnist(MNIST, "train", limit=100)
    assert train.images.shape == (100, 784) and train.labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_mismatched_counts_detected(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(IdxFormatError, match="3 images but 2 labels"):
        load_mnist(tmp_path, "test")


# -- sizes computed exactly (Python ints): absurd headers get a diagnosis, not a traceback ----------

HUGE = (2**31, 2**31, 2**31)
WIDE = (4_000_000_000, 65535, 65535)


def _claims(dims, itemsize=1):
    n = itemsize
    for d in dims:
        n *= d
    return n


@pytest.mark.parametrize("dims", [HUGE, WIDE, (2**32 - 1,) * 8])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_headers_claiming_more_than_any_file_are_refused_with_both_sizes(tmp_path, dims, suffix):
    raw = _header(dims=dims) + bytes(1000)
    expected = _claims(dims)
    assert expected > 2**63  # an int64 product would have wrapped
    msg = f"data truncated: header says {dims} x 1 B = {expected} B, file holds 1000 B"
    with pytest.raises(IdxFormatError, match=re.escape(msg)):
        parse_idx(raw, name="f.idx")
    p = tmp_path / f"big-idx3-ubyte{suffix}"
    p.write_bytes(gzip.compress(raw) if suffix else raw)
    for read in (read_idx, open_idx):
        with pytest.raises(IdxFormatError, match=re.escape(f"{p}: {msg}")):
            read(p)
    with pytest.raises(DataFormatError, match=re.escape(f"{p}: {msg}")):
        read_dataset(p, flatten=True)


def test_wide_float64_header_and_trailing_bytes(tmp_path):
    dims = (3, 2**31, 2**31)
    raw = _header(code=0x0E, dims=dims) + bytes(16)
    with pytest.raises(IdxFormatError, match=re.escape(f"header says {dims} x 8 B = {_claims(dims, 8)} B, file holds 16 B")):
        parse_idx(raw)
    with pytest.raises(IdxFormatError, match=re.escape("data has trailing bytes: header says (2, 3) x 1 B = 6 B, file holds 9 B")):
        parse_idx(_header() + bytes(9))


def test_the_cli_reports_an_absurd_header_without_a_traceback(tmp_path):
    from click.testing import CliRunner
    from cluster_helpers import write_config as _write_config

    from spp_runtime.cli.main import cli

    conf = _write_config(tmp_path)  # no servers: the file is refused before connecting
    for dims in (HUGE, WIDE):
        p = tmp_path / "big-idx3-ubyte.gz"
        p.write_bytes(gzip.compress(_header(dims=dims) + bytes(100)))
        r = CliRunner().invoke(cli, ["upload", "--dataset", "big", str(p), "--config", str(conf)])
        assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
        assert f"{p}: data truncated: header says {dims} x 1 B = {_claims(dims)} B, file holds 100 B" in r.output
        assert "Traceback" not in r.output


def test_open_idx_reads_in_blocks_and_checks_the_header_again(tmp_path):
    a = np.arange(7 * 5 * 3, dtype=np.float64).reshape(7, 5, 3) - 50
    write_idx(tmp_path / "a.idx.gz", a)
    f = open_idx(tmp_path / "a.idx.gz")
    assert f.shape == (7, 5, 3) and f.dtype == np.float64 and f.row_bytes == 120
    blocks = list(f.blocks(3))
    assert [len(b) for b in blocks] == [3, 3, 1] and np.array_equal(np.concatenate(blocks), a)
    write_idx(tmp_path / "a.idx.gz", a[:6])
    with pytest.raises(IdxFormatError, match="changed while it was being read"):
        list(f.blocks(3))


def test_mnist_limit_reads_only_the_first_rows(tmp_path):
    imgs = np.arange(5 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(5, 28, 28)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 3, 4, 5], np.uint8))
    s = load_mnist(tmp_path, "test", limit=2)
    assert s.labels.tolist() == [1, 2] and np.array_equal(s.images, imgs[:2].reshape(2, 784) / 255.0)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([1, 12, 3, 4, 5], np.uint8))
    with pytest.raises(IdxFormatError, match="label 12 at row 1 outside 0..9"):
        load_mnist(tmp_path, "test")
