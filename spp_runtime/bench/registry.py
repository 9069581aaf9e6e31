"""All benchmark cases, by name. Each protocol family contributes a ``CASES`` tuple."""

from __future__ import annotations

from . import cases_linear, cases_recurrent, cases_securenn, cases_spp
from .case import BenchCase

ALL_CASES: dict[str, BenchCase] = {c.name: c for c in (*cases_linear.CASES, *cases_securenn.CASES, *cases_spp.CASES, *cases_recurrent.CASES)}


def get_case(name: str) -> BenchCase:
    try:
        return ALL_CASES[name]
    except KeyError:
        known = ", ".join(sorted(ALL_CASES))
        raise KeyError(f"unknown protocol {name!r}; known: {known}") from None
