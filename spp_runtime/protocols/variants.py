"""Protocol variants: every variant by name, and which functions have it.

``"default"`` is ours. ``"securenn"`` is SecureNN's protocol, faithfully
(:mod:`.baselines.securenn`); ``"spp"`` is the S++ paper's algorithm as described
(:mod:`.baselines.spp_paper`). A function that takes a ``variant`` argument checks it with
:func:`check_variant` against this table; benchmark cases, the ``nn`` back end and the
``spp bench`` command take their lists from here.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT = "default"
SECURENN = "securenn"
SPP = "spp"
VARIANTS = (DEFAULT, SECURENN, SPP)


@dataclass(frozen=True)
class Family:
    """Functions that have the same variants; ``noun`` names a variant in error messages."""

    variants: tuple[str, ...]
    functions: tuple[str, ...]
    noun: str = "variant"


FAMILIES: dict[str, Family] = {
    "comparison": Family((DEFAULT, SECURENN), ("msb", "drelu", "relu", "maxpool")),
    "division": Family((DEFAULT, SECURENN), ("reciprocal", "divide"), noun="division variant"),
    "spp": Family((DEFAULT, SPP), ("exp", "sigmoid", "sigmoid_grad", "tanh", "tanh_grad",
                                   "softmax")),
    "spp_only": Family((SPP,), ("taylor_exp",)),  # the paper's building block, no default of ours
}

_BY_FUNCTION: dict[str, Family] = {fn: fam for fam in FAMILIES.values() for fn in fam.functions}


def variants_of(function: str) -> tuple[str, ...]:
    """The variants ``function`` has (only the default for a function not in the table)."""
    family = _BY_FUNCTION.get(function)
    return family.variants if family is not None else (DEFAULT,)


def check_variant(function: str, variant: str) -> None:
    """Raise a ValueError naming the known variants unless ``function`` has ``variant``."""
    known = variants_of(function)
    if variant not in known:
        noun = _BY_FUNCTION[function].noun if function in _BY_FUNCTION else "variant"
        raise ValueError(f"unknown {noun} {variant!r}; known: {', '.join(known)}")
