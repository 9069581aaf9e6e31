import gzip

import numpy as np
import pytest

from spp_runtime.data.idx import IdxFormatError, parse_idx, read_idx, write_idx
from spp_runtime.data.mnist import default_mnist_dir, load_mnist

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
