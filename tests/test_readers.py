"""Data owners' readers: every format read back exactly, every bad input named with its file."""

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from spp_runtime.data.idx import write_idx
from spp_runtime.data.mnist import default_mnist_dir
from spp_runtime.data.readers import DataFormatError, detect_format, read_array, read_dataset
from spp_runtime.encoding import FixedPoint

X = np.array([[1.5, -2.0, 3.25], [0.0, 4.0, -0.125], [7.0, 8.5, 9.0]])
Y = np.array([0.0, 1.0, 2.0])


def _bad(match: str, path: Path, **kw) -> None:
    with pytest.raises(DataFormatError, match=match) as info:
        read_dataset(path, **kw)
    assert str(info.value).startswith(str(path)) or "labels" in str(info.value)


# -- formats that work -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.uint8, np.int64, np.bool_])
def test_npy_any_numeric_dtype(tmp_path, dtype):
    a = (np.abs(X) * 2).astype(dtype)
    np.save(tmp_path / "a.npy", a)
    ds = read_dataset(tmp_path / "a.npy")
    assert ds.features.dtype == np.float64 and np.array_equal(ds.features, a.astype(np.float64))
    assert ds.labels is None and ds.rows == 3


def test_npy_gzipped_and_labels_from_npy(tmp_path):
    np.save(tmp_path / "x.npy", X)
    (tmp_path / "x.npy.gz").write_bytes(gzip.compress((tmp_path / "x.npy").read_bytes()))
    np.save(tmp_path / "y.npy", Y)
    ds = read_dataset(tmp_path / "x.npy.gz", labels=tmp_path / "y.npy")
    assert np.array_equal(ds.features, X) and np.array_equal(ds.labels, Y)
    assert set(ds.parts()) == {"x", "y"}


def test_npz_single_named_and_labels_array(tmp_path):
    np.savez(tmp_path / "one.npz", data=X)
    assert np.array_equal(read_dataset(tmp_path / "one.npz").features, X)
    np.savez(tmp_path / "two.npz", images=X, labels=Y)
    ds = read_dataset(tmp_path / "two.npz", array="images", labels_array="labels")
    assert np.array_equal(ds.features, X) and np.array_equal(ds.labels, Y)


@pytest.mark.parametrize(
    "text, kw",
    [
        ("1.5,-2,3.25\n0,4,-0.125\n7,8.5,9\n", {}),
        ("a,b,c\n1.5,-2,3.25\n0,4,-0.125\n7,8.5,9\n", {}),  # header detected
        ("1.5;-2;3.25\n\n0;4;-0.125\n7;8.5;9\n", {}),  # semicolons, blank line
        ("1.5\t-2\t3.25\n0\t4\t-0.125\n7\t8.5\t9\n", {}),
        ("  1.5  -2 3.25\n0 4 -0.125\n7 8.5   9\n", {}),  # whitespace
        ('"1.5","-2","3.25"\n0,4,-0.125\n7,8.5,9\n', {}),  # quoted
        ("x|y|z\n1.5|-2|3.25\n0|4|-0.125\n7|8.5|9\n", {"delimiter": "|", "header": True}),
        ("\ufeffa,b,c\r\n1.5,-2,3.25\r\n0,4,-0.125\r\n7,8.5,9\r\n", {}),  # BOM, CRLF
    ],
)
def test_csv_variants(tmp_path, text, kw):
    p = tmp_path / "d.csv"
    p.write_text(text, encoding="utf-8")
    assert np.array_equal(read_dataset(p, **kw).features, X)


def test_csv_gzipped_one_column_labels_become_a_vector(tmp_path):
    (tmp_path / "d.csv.gz").write_bytes(gzip.compress(b"1,2\n3,4\n5,6\n"))
    (tmp_path / "l.csv").write_text("label\n0\n1\n1\n")
    ds = read_dataset(tmp_path / "d.csv.gz", labels=tmp_path / "l.csv")
    assert ds.features.shape == (3, 2) and ds.labels.shape == (3,)
    assert np.array_equal(ds.labels, [0, 1, 1])


def test_csv_header_false_turns_header_into_an_error(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b\n1,2\n")
    _bad(re.escape("line 1, column 1: non-numeric cell 'a'"), p, header=False)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_raw_and_gzip_with_flatten_scale_and_array_labels(tmp_path, suffix):
    imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / f"img-idx3-ubyte{suffix}", imgs)
    ds = read_dataset(
        tmp_path / f"img-idx3-ubyte{suffix}", labels=np.array([3, 4]), scale=1 / 255, flatten=True
    )
    assert ds.features.shape == (2, 12)
    np.testing.assert_allclose(ds.features, imgs.reshape(2, 12) / 255.0, rtol=0, atol=1e-15)
    assert np.array_equal(ds.labels, [3.0, 4.0])


def test_real_mnist_test_split_through_the_reader():
    d = default_mnist_dir()
    ds = read_dataset(
        d / "t10k-images-idx3-ubyte.gz",
        labels=d / "t10k-labels-idx1-ubyte.gz",
        scale=1 / 255,
        flatten=True,
        row_shape=(784,),
    )
    assert ds.features.shape == (10000, 784) and ds.labels.shape == (10000,)
    assert ds.features.min() == 0.0 and ds.features.max() == 1.0
    assert np.array_equal(np.bincount(ds.labels.astype(int)), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


def test_format_detected_from_magic_when_the_name_says_nothing(tmp_path):
    np.save(tmp_path / "a.npy", X)
    (tmp_path / "blob").write_bytes((tmp_path / "a.npy").read_bytes())
    np.savez(tmp_path / "b.npz", X)
    (tmp_path / "blob2").write_bytes((tmp_path / "b.npz").read_bytes())
    write_idx(tmp_path / "c.bin", np.zeros((2, 2), dtype=np.uint8))
    assert detect_format(tmp_path / "blob") == "npy"
    assert detect_format(tmp_path / "blob2") == "npz"
    assert detect_format(tmp_path / "c.bin") == "idx"
    assert np.array_equal(read_array(tmp_path / "blob"), X)


# -- bad input: each names the file and the problem ---------------------------------------------


def test_missing_empty_and_directory(tmp_path):
    _bad("no such file", tmp_path / "nope.npy")
    (tmp_path / "e.csv").write_bytes(b"")
    _bad("empty file", tmp_path / "e.csv")
    (tmp_path / "d.npy").mkdir()
    _bad("not a regular file", tmp_path / "d.npy")


def test_truncated_and_corrupt_files(tmp_path):
    np.save(tmp_path / "a.npy", X)
    raw = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[:-5])
    _bad(r"truncated or corrupt \.npy file", tmp_path / "t.npy")
    (tmp_path / "h.npy").write_bytes(raw[:20])
    _bad(r"truncated or corrupt \.npy file", tmp_path / "h.npy")
    np.savez(tmp_path / "z.npz", a=X)
    zraw = (tmp_path / "z.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(zraw[: len(zraw) // 2])
    _bad(r"truncated or corrupt \.npz file", tmp_path / "t.npz")
    write_idx(tmp_path / "i-idx2-ubyte", np.zeros((4, 4), dtype=np.uint8))
    iraw = (tmp_path / "i-idx2-ubyte").read_bytes()
    (tmp_path / "i-idx2-ubyte").write_bytes(iraw[:-3])
    _bad(r"data truncated: header says \(4, 4\)", tmp_path / "i-idx2-ubyte")
    (tmp_path / "g-idx2-ubyte.gz").write_bytes(gzip.compress(iraw)[:-8])
    _bad("corrupt or truncated gzip data", tmp_path / "g-idx2-ubyte.gz")
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(b"1,2\n")[:-6])
    _bad("corrupt or truncated gzip data", tmp_path / "c.csv.gz")


def test_non_numeric_arrays(tmp_path):
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    _bad("holds <U1 values; need real numbers", tmp_path / "s.npy")
    np.save(tmp_path / "c.npy", np.array([1 + 2j]))
    _bad("holds complex128 values", tmp_path / "c.npy")
    np.save(tmp_path / "o.npy", np.array([1, "x"], dtype=object), allow_pickle=True)
    _bad("holds Python objects, not numbers", tmp_path / "o.npy")


def test_npz_which_array(tmp_path):
    np.savez(tmp_path / "m.npz", a=X, b=Y)
    _bad(r"holds several arrays \(a, b\); say which one", tmp_path / "m.npz")
    _bad(r"no array named 'z' \(it holds a, b\)", tmp_path / "m.npz", array="z")
    _bad(r"no array named 'q'", tmp_path / "m.npz", array="a", labels_array="q")
    np.save(tmp_path / "a.npy", X)
    _bad(r"an array name \('a'\) only applies to \.npz files", tmp_path / "a.npy", array="a")
    _bad(r"a labels array name only applies to \.npz files", tmp_path / "a.npy", labels_array="b")


@pytest.mark.parametrize(
    "text, match",
    [
        ("1,2,3\n4,abc,6\n", r"line 2, column 2: non-numeric cell 'abc'"),
        ("1,2,3\n4,,6\n", r"line 2, column 2: an empty cell"),
        ("1,2,3\n\n4,5\n", r"line 3 has 2 columns, expected 3 \(as on line 1\)"),
        ("1,2,3\n4,5,6,7\n", r"line 2 has 4 columns, expected 3"),
        ("a,b,c\n", r"line 1, column 1: non-numeric cell 'a'"),
        ("\n\n  \n", r"no data \(only blank lines\)"),
    ],
)
def test_csv_errors_name_line_and_column(tmp_path, text, match):
    p = tmp_path / "d.csv"
    p.write_text(text)
    _bad(match, p)


def test_csv_only_header_and_not_utf8(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("a,b\n")
    _bad("only a header line, no data rows", p, header=True)
    p.write_bytes(b"1,2\n\xff\xfe,3\n")
    _bad(r"not a UTF-8 text file \(byte 4\)", p)


@pytest.mark.parametrize(
    "value, match",
    [
        (np.nan, r"value at index \(1, 2\) is NaN; cannot encode"),
        (np.inf, r"value at index \(1, 2\) is infinity"),
        (-np.inf, r"value at index \(1, 2\) is infinity"),
        (2.0**50, r"value at index \(1, 2\) is outside the fixed-point range \[-1.40737e\+14"),
    ],
)
def test_unencodable_values_name_the_position(tmp_path, value, match):
    a = X.copy()
    a[1, 2] = value
    np.save(tmp_path / "a.npy", a)
    _bad(match, tmp_path / "a.npy")


def test_range_depends_on_fractional_bits(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[1e7]]))
    assert read_dataset(tmp_path / "a.npy").features[0, 0] == 1e7
    _bad("outside the fixed-point range", tmp_path / "a.npy", fxp=FixedPoint(40))


def test_csv_nan_cell_is_an_encoding_error(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("1,2\n3,nan\n")
    _bad(r"value at index \(1, 1\) is NaN", p)


def test_shape_errors(tmp_path):
    np.save(tmp_path / "s.npy", np.array(3.0))
    _bad("data is a single number; need at least one row", tmp_path / "s.npy")
    np.save(tmp_path / "z.npy", np.zeros((0, 3)))
    _bad("data has no rows", tmp_path / "z.npy")
    np.save(tmp_path / "e.npy", np.zeros((3, 0)))
    _bad(r"data rows are empty \(shape \(3, 0\)\)", tmp_path / "e.npy")
    np.save(tmp_path / "a.npy", X)
    _bad(r"each row has shape \(3,\), expected \(4,\)", tmp_path / "a.npy", row_shape=(4,))


def test_label_errors_name_the_labels_file(tmp_path):
    np.save(tmp_path / "a.npy", X)
    np.save(tmp_path / "y.npy", np.arange(2.0))
    with pytest.raises(DataFormatError, match=re.escape(f"{tmp_path / 'y.npy'}: 2 labels but {tmp_path / 'a.npy'} has 3 rows")):
        read_dataset(tmp_path / "a.npy", labels=tmp_path / "y.npy")
    np.save(tmp_path / "y3.npy", np.zeros((3, 2, 2)))
    with pytest.raises(DataFormatError, match="labels must be a vector or a rows x classes matrix"):
        read_dataset(tmp_path / "a.npy", labels=tmp_path / "y3.npy")
    np.save(tmp_path / "yn.npy", np.array([0.0, np.nan, 1.0]))
    with pytest.raises(DataFormatError, match=re.escape(f"{tmp_path / 'yn.npy'}: value at index 1 is NaN")):
        read_dataset(tmp_path / "a.npy", labels=tmp_path / "yn.npy")
    with pytest.raises(DataFormatError, match="labels: 4 labels but"):
        read_dataset(tmp_path / "a.npy", labels=np.arange(4))
    with pytest.raises(DataFormatError, match="not both"):
        read_dataset(tmp_path / "a.npy", labels=Y, labels_array="y")


def test_unknown_format_and_bad_scale(tmp_path):
    (tmp_path / "mystery").write_bytes(b"hello world")
    _bad("cannot tell the file format", tmp_path / "mystery")
    np.save(tmp_path / "a.npy", X)
    _bad("scale must be a finite non-zero number", tmp_path / "a.npy", scale=0.0)
    with pytest.raises(DataFormatError, match="unknown format 'xls'"):
        read_array(tmp_path / "a.npy", fmt="xls")  # type: ignore[arg-type]
