"""Cryptographic randomness: an AES-128-CTR pseudo-random generator and the OS CSPRNG.

Two parties that hold the same 16-byte seed draw identical streams from :class:`Prg`, which is
how correlated randomness is derived without sending it. numpy's own generators are not
cryptographic and are never used for anything a party relies on for secrecy.
"""

from __future__ import annotations

import os

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEED_BYTES = 16


class Prg:
    """AES-128 in counter mode, read as a stream of uniformly random bytes.

    Draws are deterministic given the seed and the order of calls; SPMD protocol code keeps
    the two holders of a seed in step because both make the same calls in the same order.
    """

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"PRG seed must be {SEED_BYTES} bytes, got {len(seed)}")
        self._enc = Cipher(algorithms.AES(seed), modes.CTR(b"\x00" * 16)).encryptor()

    def random_bytes(self, n: int) -> bytes:
        """``n`` pseudo-random bytes."""
        return self._enc.update(bytes(n))

    def uint64(self, shape: tuple[int, ...] | int) -> np.ndarray:
        """Uniform ring elements of the given shape."""
        n = int(np.prod(shape, dtype=np.int64))
        return np.frombuffer(self.random_bytes(8 * n), dtype=np.uint64).reshape(shape).copy()

    def uint8(self, shape: tuple[int, ...] | int) -> np.ndarray:
        """Uniform bytes as a uint8 array."""
        n = int(np.prod(shape, dtype=np.int64))
        return np.frombuffer(self.random_bytes(n), dtype=np.uint8).reshape(shape).copy()

    def bits(self, shape: tuple[int, ...] | int) -> np.ndarray:
        """Uniform bits (uint8 0/1) of the given shape."""
        return self.uint8(shape) & np.uint8(1)

    def integers(self, high: int, shape: tuple[int, ...] | int) -> np.ndarray:
        """Uniform integers in [0, high) (uint64), by rejection sampling on the ring."""
        if not 0 < high <= 2**63:
            raise ValueError("high must be in (0, 2^63]")
        n = int(np.prod(shape, dtype=np.int64))
        limit = np.uint64((2**64 // high) * high - 1)
        out = np.empty(0, dtype=np.uint64)
        while out.size < n:
            draw = self.uint64(max(n - out.size, 16) + 16)
            out = np.concatenate([out, draw[draw <= limit]])
        return (out[:n] % np.uint64(high)).reshape(shape)


class SystemRandom(Prg):
    """A PRG keyed from the OS CSPRNG: fresh, unpredictable randomness for one party."""

    def __init__(self) -> None:
        super().__init__(os.urandom(SEED_BYTES))


def new_seed() -> bytes:
    """A fresh 16-byte seed from the OS CSPRNG."""
    return os.urandom(SEED_BYTES)


def csprng_uint64(shape: tuple[int, ...] | int) -> np.ndarray:
    """Uniform ring elements straight from the OS CSPRNG (``os.urandom``)."""
    n = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(os.urandom(8 * n), dtype=np.uint64).reshape(shape).copy()
