import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spp_runtime.encoding import FixedPoint
from spp_runtime.errors import EncodingError
from spp_runtime.ring import as_ring, msb, to_signed

FXP = FixedPoint(16)
finite = st.floats(min_value=-(2.0**40), max_value=2.0**40, allow_nan=False)


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=5), elements=finite))
def test_encode_decode_roundtrip_within_half_ulp(values):
    back = FXP.decode(FXP.encode(values))
    assert np.all(np.abs(back - values) <= 0.5 * FXP.resolution + 1e-12 * np.abs(values))


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_ring_ops_wrap_mod_2_64(a, b):
    x, y = np.array([a], np.uint64), np.array([b], np.uint64)
    assert int((x + y)[0]) == (a + b) % 2**64
    assert int((x - y)[0]) == (a - b) % 2**64
    assert int((x * y)[0]) == (a * b) % 2**64


@given(st.integers(-(2**63), 2**63 - 1))
def test_signed_view_and_msb(v):
    r = as_ring(np.array([v], dtype=np.int64))
    assert int(to_signed(r)[0]) == v
    assert int(msb(r)[0]) == (1 if v < 0 else 0)


@settings(max_examples=50)
@given(st.integers(0, 40), finite)
def test_encoding_respects_frac_bits(bits, v):
    fxp = FixedPoint(bits)
    if abs(v) * 2**bits >= 2**63:
        with pytest.raises(EncodingError):
            fxp.encode(v)
    else:
        assert abs(fxp.decode(fxp.encode(v)) - v) <= 2.0 ** -(bits + 1) + abs(v) * 1e-15


@pytest.mark.parametrize("bad, kind", [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
def test_encode_rejects_nonfinite_and_names_position(bad, kind):
    x = np.zeros((3, 4))
    x[2, 1] = bad
    with pytest.raises(EncodingError, match=rf"index \(2, 1\) is {kind}"):
        FXP.encode(x)


def test_encode_rejects_out_of_range_and_names_position():
    x = np.zeros(5)
    x[3] = 2.0**47  # 2^47 * 2^16 = 2^63 is just outside
    with pytest.raises(EncodingError, match="index 3 is outside the fixed-point range"):
        FXP.encode(x)
    x[3] = 2.0**47 - 1
    assert FXP.decode(FXP.encode(x))[3] == 2.0**47 - 1


def test_frac_bits_validated():
    with pytest.raises(EncodingError):
        FixedPoint(70)
