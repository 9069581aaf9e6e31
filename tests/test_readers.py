"""Data owners' readers: every format read back exactly, every bad input named with its file."""

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from spp_runtime.data import readers
from spp_runtime.data.idx import write_idx
from spp_runtime.data.mnist import default_mnist_dir
from spp_runtime.data.readers import (
    MAX_LABEL,
    MAX_ROW_ELEMENTS,
    DataFormatError,
    check_labels,
    detect_format,
    open_dataset,
    read_array,
    read_dataset,
)
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
        ("a,b,c\n", r"only a header line, no data rows"),
        ("a,b,c\n\n \n", r"only a header line, no data rows"),
        ("a,1,c\n", r"line 1, column 1: non-numeric cell 'a'"),
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
    with pytest.raises(DataFormatError, match=re.escape(f"{tmp_path / 'yn.npy'}: label at row 1 is NaN")):
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


# -- labels: class numbers 0..MAX_LABEL, or one-hot rows ------------------------------------------


def _labels(tmp_path, y, name="y.npy"):
    np.save(tmp_path / "x.npy", np.zeros((len(y), 2)))
    np.save(tmp_path / name, np.asarray(y))
    return tmp_path / "x.npy", tmp_path / name


@pytest.mark.parametrize(
    "y",
    [[0, 1, 0], [0, 0, 0], [MAX_LABEL, 0, 7], np.array([0, 3, MAX_LABEL], dtype=np.int64), np.array([2, 0, 1], np.uint8)],
)
def test_labels_at_the_edges_are_accepted(tmp_path, y):
    x, yp = _labels(tmp_path, y)
    ds = read_dataset(x, labels=yp)
    assert np.array_equal(ds.labels, np.asarray(y, dtype=np.float64))
    assert open_dataset(x, labels=yp).label_range == (int(np.min(y)), int(np.max(y)))


@pytest.mark.parametrize(
    "y, row, shown",
    [
        ([0, -1, 2], 1, "-1"),
        ([0, 1, 0.5], 2, "0.5"),
        ([2.000001, 1, 0], 0, "2.000001"),
        ([0, np.nan, 1], 1, "NaN"),
        ([0, 1, np.inf], 2, "infinity"),
        ([-np.inf, 1, 1], 0, "-infinity"),
        ([0, 1e12, 1], 1, "1000000000000"),
        ([0, 1, MAX_LABEL + 1], 2, str(MAX_LABEL + 1)),
        ([-0.5, 1, 1], 0, "-0.5"),
    ],
)
def test_bad_labels_name_the_file_the_row_and_the_value(tmp_path, y, row, shown):
    x, yp = _labels(tmp_path, np.array(y, dtype=np.float64))
    msg = f"{yp}: label at row {row} is {shown}; labels must be whole numbers in 0..{MAX_LABEL}"
    with pytest.raises(DataFormatError, match=re.escape(msg)):
        read_dataset(x, labels=yp)
    with pytest.raises(DataFormatError, match=re.escape(msg)):
        open_dataset(x, labels=yp)


def test_negative_integer_labels_in_csv_and_idx(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "y.csv").write_text("label\n0\n-1\n2\n")
    with pytest.raises(DataFormatError, match=re.escape(f"{tmp_path / 'y.csv'}: label at row 1 is -1;")):
        read_dataset(tmp_path / "x.npy", labels=tmp_path / "y.csv")
    write_idx(tmp_path / "y-idx1-ubyte", np.array([0, -3, 1], dtype=np.int8))
    with pytest.raises(DataFormatError, match="label at row 1 is -3"):
        read_dataset(tmp_path / "x.npy", labels=tmp_path / "y-idx1-ubyte")


def test_labels_given_as_an_array_or_npz_member_are_checked(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)), y=np.array([0.0, 1.0, 0.25]))
    with pytest.raises(DataFormatError, match=re.escape(f"{tmp_path / 'd.npz'} labels: label at row 2 is 0.25")):
        read_dataset(tmp_path / "d.npz", array="x", labels_array="y")
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    with pytest.raises(DataFormatError, match="labels: label at row 0 is -2"):
        read_dataset(tmp_path / "x.npy", labels=np.array([-2, 1]))


def test_one_hot_label_rows(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    np.save(tmp_path / "y.npy", np.eye(3))
    ds = read_dataset(tmp_path / "x.npy", labels=tmp_path / "y.npy")
    assert ds.labels.shape == (3, 3)
    bad = np.eye(3)
    bad[2, 1] = 2.0
    np.save(tmp_path / "y.npy", bad)
    with pytest.raises(DataFormatError, match=re.escape("label at row 2, column 1 is 2; one-hot label rows hold only 0 and 1")):
        read_dataset(tmp_path / "x.npy", labels=tmp_path / "y.npy")


def test_labels_against_a_models_classes():
    y = np.array([0.0, 2.0, 1.0])
    assert check_labels(y, "y.npy", classes=3) == (0, 2)
    with pytest.raises(DataFormatError, match=re.escape("y.npy: label at row 1 is 2; labels must be whole numbers in 0..1 (the model has 2 classes)")):
        check_labels(y, "y.npy", classes=2)
    with pytest.raises(DataFormatError, match="label at row 7 is 255"):
        check_labels(np.array([0, 255]), "y.npy", classes=3, row_offset=6)
    assert check_labels(np.eye(3), "y.npy", classes=3) is None
    with pytest.raises(DataFormatError, match="one-hot label rows have 3 columns but the model has 10 classes"):
        check_labels(np.eye(3), "y.npy", classes=10)


def test_positions_count_from_the_files_first_row_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64)  # 2 rows of 3 float64 per block
    a = np.arange(300.0).reshape(100, 3)
    a[37, 2] = np.nan
    np.save(tmp_path / "a.npy", a)
    _bad(r"value at index \(37, 2\) is NaN", tmp_path / "a.npy")
    y = np.zeros(100)
    y[91] = -4
    np.save(tmp_path / "x.npy", np.zeros((100, 3)))
    np.save(tmp_path / "y.npy", y)
    with pytest.raises(DataFormatError, match="label at row 91 is -4"):
        read_dataset(tmp_path / "x.npy", labels=tmp_path / "y.npy")
    (tmp_path / "d.csv").write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(40)) + "1,nan\n")
    _bad(r"value at index \(40, 1\) is NaN", tmp_path / "d.csv")
    (tmp_path / "r.csv").write_text("".join(f"{i},{i}\n" for i in range(40)) + "1,2,3\n")
    _bad(r"line 41 has 3 columns, expected 2 \(as on line 1\)", tmp_path / "r.csv")


# -- CSV: a header with no data ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["a,b,c\n", "a\n", "\ufefffeature one;feature two\r\n\r\n", "  x  y  \n\n"])
def test_csv_with_only_a_header_row_has_no_data_rows(tmp_path, text):
    p = tmp_path / "h.csv"
    p.write_text(text, encoding="utf-8")
    _bad("only a header line, no data rows", p)
    (tmp_path / "h.csv.gz").write_bytes(gzip.compress(text.encode()))
    _bad("only a header line, no data rows", tmp_path / "h.csv.gz")


def test_csv_with_a_header_and_one_row_is_read(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("a,b\n1,2\n")
    assert np.array_equal(read_dataset(p).features, [[1.0, 2.0]])


# -- streaming reads the same values as reading whole ---------------------------------------------


def _formats(tmp_path, a):
    """The same array as .npy, .npy.gz, .npz (stored and deflated), Fortran .npy, CSV and IDX."""
    np.save(tmp_path / "a.npy", a)
    (tmp_path / "a.npy.gz").write_bytes(gzip.compress((tmp_path / "a.npy").read_bytes()))
    np.savez(tmp_path / "a.npz", a=a)
    np.savez_compressed(tmp_path / "c.npz", a=a)
    np.save(tmp_path / "f.npy", np.asfortranarray(a))
    np.savetxt(tmp_path / "a.csv", a, delimiter=",")
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress((tmp_path / "a.csv").read_bytes()))
    write_idx(tmp_path / "a-idx2.gz", a.astype(np.int16))
    return ["a.npy", "a.npy.gz", "a.npz", "c.npz", "f.npy", "a.csv", "a.csv.gz", "a-idx2.gz"]


def test_streaming_blocks_equal_the_whole_file_in_every_format(tmp_path):
    a = np.arange(-300, 399, dtype=np.float64).reshape(233, 3)
    for name in _formats(tmp_path, a):
        ds = open_dataset(tmp_path / name, labels=np.arange(233) % 7, scale=0.5)
        assert ds.rows == 233 and ds.row_shapes == {"x": (3,), "y": ()}, name
        blocks = list(ds.blocks(50))
        assert [len(b["x"]) for b in blocks] == [50, 50, 50, 50, 33], name
        assert np.array_equal(np.concatenate([b["x"] for b in blocks]), a * 0.5), name
        assert np.array_equal(np.concatenate([b["y"] for b in blocks]), np.arange(233) % 7), name
        whole = read_dataset(tmp_path / name, labels=np.arange(233) % 7, scale=0.5)
        assert np.array_equal(whole.features, a * 0.5), name


def test_a_file_that_changes_between_check_and_upload_is_noticed(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((10, 2)))
    ds = open_dataset(tmp_path / "a.npy")
    np.save(tmp_path / "a.npy", np.zeros((9, 2)))
    with pytest.raises(DataFormatError, match="changed while it was being read"):
        list(ds.blocks(4))
    (tmp_path / "d.csv").write_text("1,2\n3,4\n")
    ds = open_dataset(tmp_path / "d.csv")
    (tmp_path / "d.csv").write_text("1,2\n3,4\n5,6\n")
    with pytest.raises(DataFormatError, match="changed while it was being read"):
        list(ds.blocks(1))


def test_npy_truncation_names_both_sizes(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, 4)))
    raw = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[:-8])
    _bad(re.escape("truncated or corrupt .npy file (header says shape (4, 4) x 8 B = 128 B, file holds 120 B)"), tmp_path / "t.npy")
    (tmp_path / "t.npy.gz").write_bytes(gzip.compress(raw[:-8]))
    _bad(re.escape("file holds 120 B"), tmp_path / "t.npy.gz")


def test_rows_too_wide_to_stream_are_refused(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((1, MAX_ROW_ELEMENTS + 1), dtype=np.uint8))
    _bad(f"each row holds {MAX_ROW_ELEMENTS + 1} values", tmp_path / "w.npy")
