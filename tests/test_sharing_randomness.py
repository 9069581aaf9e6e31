import numpy as np
import pytest

from spp_runtime.randomness import Prg, SystemRandom, csprng_uint64, new_seed
from spp_runtime.sharing import reconstruct, share


def test_share_reconstruct_roundtrip(rng):
    x = rng.integers(0, 2**63, size=(7, 9), dtype=np.uint64)
    s0, s1 = share(x)
    assert np.array_equal(reconstruct(s0, s1), x)
    assert not np.array_equal(s0, x) and not np.array_equal(s1, x)


def test_each_share_alone_looks_uniform():
    # The same secret shared many times: share bits are balanced, whatever the secret.
    x = np.zeros(20000, dtype=np.uint64)
    s0, s1 = share(x)
    for s in (s0, s1):
        bits = (s[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
        assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 0.02)


def test_prg_is_deterministic_per_seed_and_differs_across_seeds():
    seed = new_seed()
    a, b = Prg(seed), Prg(seed)
    assert np.array_equal(a.uint64((3, 4)), b.uint64((3, 4)))
    assert np.array_equal(a.bits(100), b.bits(100))
    assert not np.array_equal(Prg(new_seed()).uint64(8), Prg(new_seed()).uint64(8))


def test_prg_integers_uniform_in_range():
    v = Prg(new_seed()).integers(67, 67 * 3000)
    assert v.min() == 0 and v.max() == 66
    counts = np.bincount(v.astype(np.int64), minlength=67)
    assert counts.min() > 2500 and counts.max() < 3500


def test_prg_rejects_bad_seed():
    with pytest.raises(ValueError):
        Prg(b"short")


def test_system_random_and_csprng_are_fresh():
    assert not np.array_equal(SystemRandom().uint64(4), SystemRandom().uint64(4))
    assert not np.array_equal(csprng_uint64(4), csprng_uint64(4))
