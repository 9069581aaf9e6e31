"""Fixed-point encoding of real numbers into Z_2^64.

A real ``v`` is stored as the ring element ``round(v * 2^f)`` (two's complement), where ``f``
is the number of fractional bits (default 16). The representable range is
``[-2^(63-f), 2^(63-f))``; products of two encoded values need ``2f`` fractional bits and are
truncated back by the protocols, so values that are multiplied should stay well inside
``2^((63-2f)/2)`` (about 2^15 for f = 16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import EncodingError
from .ring import DTYPE, to_signed

DEFAULT_FRAC_BITS = 16


@dataclass(frozen=True)
class FixedPoint:
    """A fixed-point format: ``frac_bits`` fractional bits in a 64-bit two's-complement ring."""

    frac_bits: int = DEFAULT_FRAC_BITS

    def __post_init__(self) -> None:
        if not 0 <= self.frac_bits <= 40:
            raise EncodingError(f"frac_bits must be in [0, 40], got {self.frac_bits}")

    @property
    def scale(self) -> int:
        """The integer 2^f that one unit is multiplied by."""
        return 1 << self.frac_bits

    @property
    def max_abs(self) -> float:
        """The largest magnitude that encodes without leaving the ring's signed range."""
        return float(2 ** (63 - self.frac_bits))

    @property
    def resolution(self) -> float:
        """The value of one unit in the last place, 2^-f."""
        return 2.0 ** -self.frac_bits

    def encode(self, values: np.ndarray | float, *, name: str = "value") -> np.ndarray:
        """Encode reals as ring elements; NaN, inf or out-of-range values raise EncodingError.

        The error names the first offending position and the kind of problem, so a data owner
        can find it; it never echoes other entries.
        """
        v = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(v)
        if not finite.all():
            pos = _first_position(~finite)
            kind = "NaN" if np.isnan(v[pos]) else "infinity"
            raise EncodingError(f"{name} at index {_fmt(pos)} is {kind}; cannot encode")
        scaled = np.rint(v * self.scale)
        bad = (scaled >= 2.0**63) | (scaled < -(2.0**63))
        if bad.any():
            pos = _first_position(bad)
            raise EncodingError(
                f"{name} at index {_fmt(pos)} is outside the fixed-point range "
                f"[-{self.max_abs:g}, {self.max_abs:g}) for {self.frac_bits} fractional bits"
            )
        return scaled.astype(np.int64).view(DTYPE)

    def decode(self, ring_values: np.ndarray) -> np.ndarray:
        """Decode ring elements back to float64."""
        return to_signed(np.asarray(ring_values, dtype=DTYPE)).astype(np.float64) / self.scale


def _first_position(mask: np.ndarray) -> tuple[int, ...]:
    idx = np.argwhere(mask)
    return tuple(int(i) for i in idx[0]) if idx.size else ()


def _fmt(pos: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(p) for p in pos) + ")" if len(pos) != 1 else str(pos[0])
