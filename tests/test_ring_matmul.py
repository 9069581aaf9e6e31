"""ring.matmul against numpy's uint64 matmul: exactly equal (mod 2^64) for every input.

Both paths are checked: the public function as it chooses by size, and the float64 BLAS path
forced for every shape (``_blas_pays`` patched), including the values that drive the limb
products to their bounds and inner dimensions around the chunk size.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spp_runtime import ring

M64 = (1 << 64) - 1
OFFSET = (1 << 21) | (1 << 41) | (1 << 63)


def _from_limbs(l0: int, l1: int, l2: int) -> int:
    return (l0 + (l1 << 22) + (l2 << 42)) & M64


# Values whose balanced limbs are all at their most negative (-2^21, -2^19, -2^21) or most
# positive: products of these give the largest sums the float64 products must hold exactly.
MOST_NEGATIVE = _from_limbs(-(1 << 21), -(1 << 19), -(1 << 21))
MOST_POSITIVE = _from_limbs((1 << 21) - 1, (1 << 19) - 1, (1 << 21) - 1)
NEAR_MOST_NEGATIVE = _from_limbs(1 - (1 << 21), -(1 << 19), -(1 << 21))
NEAR_MOST_POSITIVE = _from_limbs((1 << 21) - 2, (1 << 19) - 1, (1 << 21) - 1)
SPECIAL = [0, 1, M64, 1 << 63, (1 << 63) - 1, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA,
           0x00000000FFFFFFFF, 0xFFFFFFFF00000000, OFFSET, (-OFFSET) & M64, MOST_NEGATIVE,
           MOST_POSITIVE, (1 << 21) - 1, 1 << 21, (1 << 42) - 1, 1 << 42, (1 << 22) | (1 << 44)]
INNER = [1, 2, 3, 8, 783, 784, 800, 1250, 1309, 1310, 1311, 2620, 2621, 3136, 4096]
FILLS = ["random", "special", "mixed", "most_negative", "most_positive", "alternating"]


@contextlib.contextmanager
def _forced_blas(force: bool):
    with pytest.MonkeyPatch.context() as mp:
        if force:
            mp.setattr(ring, "_blas_pays", lambda sa, sb: True)
        yield


def _fill(rng: np.random.Generator, shape, kind: str) -> np.ndarray:
    if kind == "random":
        return rng.integers(0, 1 << 64, size=shape, dtype=np.uint64, endpoint=False)
    if kind == "special":
        return np.array(SPECIAL, dtype=np.uint64)[rng.integers(0, len(SPECIAL), size=shape)]
    if kind == "mixed":
        out = rng.integers(0, 1 << 64, size=shape, dtype=np.uint64, endpoint=False)
        mask = rng.random(size=shape) < 0.5
        out[mask] = np.array(SPECIAL, dtype=np.uint64)[rng.integers(0, len(SPECIAL), size=int(mask.sum()))]
        return out
    if kind == "alternating":
        return np.resize(np.array([MOST_NEGATIVE, M64, 1 << 63, 0xAAAAAAAAAAAAAAAA], dtype=np.uint64), shape)
    value = MOST_NEGATIVE if kind == "most_negative" else MOST_POSITIVE
    return np.full(shape, value, dtype=np.uint64)


def _check(a: np.ndarray, b: np.ndarray, *, force: bool) -> None:
    want = np.matmul(a, b)
    with _forced_blas(force):
        got = ring.matmul(a, b)
    assert np.asarray(got).dtype == np.uint64
    assert np.shape(got) == np.shape(want)
    assert np.array_equal(got, want)


@st.composite
def _operands(draw, max_side: int = 4):
    """Shapes with numpy matmul semantics (batch broadcasting, 1-D operands) and data."""
    k = draw(st.sampled_from(INNER))
    m, n = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    batch_a = [d if draw(st.booleans()) else 1 for d in batch][draw(st.integers(0, len(batch))):]
    batch_b = [d if draw(st.booleans()) else 1 for d in batch][draw(st.integers(0, len(batch))):]
    shape_a = (k,) if draw(st.integers(0, 4)) == 0 else (*batch_a, m, k)
    shape_b = (k,) if draw(st.integers(0, 4)) == 0 else (*batch_b, k, n)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    fill_a, fill_b = draw(st.sampled_from(FILLS)), draw(st.sampled_from(FILLS))
    return _fill(rng, shape_a, fill_a), _fill(rng, shape_b, fill_b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_operands(), st.booleans())
def test_matmul_equals_uint64_matmul(operands, force):
    a, b = operands
    _check(a, b, force=force)


@pytest.mark.parametrize("k", INNER + [20000])
@pytest.mark.parametrize("fill", ["most_negative", "most_positive", "alternating"])
def test_worst_case_values_at_every_inner_dimension(k, fill):
    rng = np.random.default_rng(k)
    a, b = _fill(rng, (3, k), fill), _fill(rng, (k, 2), fill)
    _check(a, b, force=True)
    _check(a, b.astype(np.uint64)[:, :1], force=True)


@pytest.mark.parametrize("value_a,value_b", [(M64, M64), (1 << 63, 1 << 63), (MOST_NEGATIVE, MOST_NEGATIVE),
                                             (MOST_POSITIVE, MOST_POSITIVE), (MOST_NEGATIVE, MOST_POSITIVE),
                                             (0x5555555555555555, 0xAAAAAAAAAAAAAAAA)])
@pytest.mark.parametrize("k", [1250, 1310, 3136, 20000])
def test_constant_worst_cases(value_a, value_b, k):
    a = np.full((2, k), value_a, dtype=np.uint64)
    b = np.full((k, 3), value_b, dtype=np.uint64)
    _check(a, b, force=True)


@pytest.mark.parametrize("k", [1250, 1309, 1310, 1311, 2620, 2621, 3136, 4096, 20000])
def test_largest_sums_with_an_odd_term(k):
    """Limb products at their largest everywhere but one odd term: a float64 sum past 2^53
    would round it away, so this catches a chunk size one too large."""
    for value in (MOST_NEGATIVE, MOST_POSITIVE):
        a = np.full((2, k), value, dtype=np.uint64)
        b = np.full((k, 2), value, dtype=np.uint64)
        near = NEAR_MOST_NEGATIVE if value == MOST_NEGATIVE else NEAR_MOST_POSITIVE
        a[:, k // 2] = b[k // 2, :] = near  # an odd limb product among the largest ones
        _check(a, b, force=True)


@pytest.mark.parametrize("shape", [(128, 784, 128), (128, 128, 128), (128, 128, 10), (64, 3136, 16)])
def test_model_shapes_random(rng, shape):
    m, k, n = shape
    a = rng.integers(0, 1 << 64, size=(m, k), dtype=np.uint64)
    b = rng.integers(0, 1 << 64, size=(k, n), dtype=np.uint64)
    _check(a, b, force=False)
    _check(a, b, force=True)


def test_non_contiguous_and_transposed_inputs(rng):
    a = rng.integers(0, 1 << 64, size=(300, 1400), dtype=np.uint64)
    b = rng.integers(0, 1 << 64, size=(90, 1400), dtype=np.uint64)
    for x, y in [(a[:40], b[:30].T), (a[:50, ::2], b.T[::2, 1:60:3]), (a.T[:700:7, :20], a[:20, 100:140]),
                 (np.asfortranarray(a[:64]), np.asfortranarray(b[:32].T)), (a[::-1][:16], b[::-1][:8].T)]:
        _check(x, y, force=True)
        _check(x, y, force=False)


def test_batch_dimensions_broadcast(rng):
    def r(*shape):
        return rng.integers(0, 1 << 64, size=shape, dtype=np.uint64)

    for sa, sb in [((2, 3, 40, 800), (800, 5)), ((40, 800), (2, 800, 5)), ((2, 1, 8, 1311), (3, 1311, 4)),
                   ((1, 4, 900), (5, 900, 6)), ((2, 3, 900), (2, 900, 3)), ((900,), (2, 900, 3)),
                   ((2, 7, 900), (900,))]:
        _check(r(*sa), r(*sb), force=True)
        _check(r(*sa), r(*sb), force=False)


def test_one_dimensional_operands(rng):
    v = rng.integers(0, 1 << 64, size=1500, dtype=np.uint64)
    mat = rng.integers(0, 1 << 64, size=(1500, 7), dtype=np.uint64)
    for a, b in [(v, mat), (mat.T, v), (v, v)]:
        _check(a, b, force=True)
        _check(a, b, force=False)


@pytest.mark.parametrize("sa,sb", [((0, 5), (5, 3)), ((4, 0), (0, 3)), ((4, 5), (5, 0)), ((0, 4, 5), (5, 2)),
                                   ((0,), (0, 3)), ((3, 0), (0,)), ((2, 0, 5), (2, 5, 3))])
def test_empty_dimensions(sa, sb):
    a, b = np.ones(sa, dtype=np.uint64), np.ones(sb, dtype=np.uint64)
    _check(a, b, force=True)
    _check(a, b, force=False)


def test_signed_and_bool_inputs_are_reinterpreted_as_ring_elements(rng):
    a = rng.integers(-(2**62), 2**62, size=(20, 900), dtype=np.int64)
    b = rng.integers(-(2**62), 2**62, size=(900, 20), dtype=np.int64)
    want = np.matmul(a.view(np.uint64), b.view(np.uint64))
    with _forced_blas(True):
        assert np.array_equal(ring.matmul(a, b), want)
    assert np.array_equal(ring.matmul(a, b), want)
    mask = rng.random((20, 900)) < 0.5
    assert np.array_equal(ring.matmul(mask, b), np.matmul(mask.astype(np.uint64), b.view(np.uint64)))


def test_misaligned_shapes_raise_like_numpy():
    for sa, sb in [((3, 4), (5, 2)), ((2, 3, 900), (3, 900, 2)), ((3,), (4,))]:
        with pytest.raises(ValueError):
            np.matmul(np.ones(sa, np.uint64), np.ones(sb, np.uint64))
        with pytest.raises(ValueError):
            ring.matmul(np.ones(sa, np.uint64), np.ones(sb, np.uint64))
    with pytest.raises(ValueError):
        ring.matmul(np.uint64(3), np.ones((2, 2), np.uint64))


def test_inputs_are_not_modified(rng):
    a = rng.integers(0, 1 << 64, size=(64, 900), dtype=np.uint64)
    b = rng.integers(0, 1 << 64, size=(900, 32), dtype=np.uint64)
    a0, b0 = a.copy(), b.copy()
    with _forced_blas(True):
        ring.matmul(a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


def test_size_choice():
    """BLAS where it pays (the model's products), numpy's uint64 loop for small or thin ones."""
    assert ring._blas_pays((128, 784), (784, 128))
    assert ring._blas_pays((128, 128), (128, 128))
    assert ring._blas_pays((4, 128, 784), (784, 128))
    assert not ring._blas_pays((8, 8), (8, 8))
    assert not ring._blas_pays((128, 128), (128, 10))
    assert not ring._blas_pays((1000, 1), (1, 1000))  # outer product: k = 1
    assert not ring._blas_pays((784,), (784, 128))  # vector-matrix
    assert not ring._blas_pays((3, 4), (5, 2))  # misaligned: numpy raises
