"""Grouped bar charts of our records beside the S++ paper's Table 1 (matplotlib, log scale)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SppError
from .paper import compare


class PlotUnavailable(SppError):
    """matplotlib is not installed."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(
            "--plot needs matplotlib: pip install 'spp_runtime[plot]' (or pip install matplotlib)"
        ) from None
    return plt


def plot_vs_paper(records: Sequence[Mapping[str, Any]], path: Path, title: str = "") -> int:
    """Write bytes/element and time per (protocol, shape), ours per variant beside the paper's;
    returns the number of groups drawn (records without a paper row are left out)."""
    plt = _pyplot()
    rows = compare(records)
    if not rows:
        raise SppError("nothing to plot: no record matches a row of the paper's Table 1")
    order = {(r["protocol"], r["dim"]): (r["paper_group"], r["dim"] != "64x16", r["dim"]) for r in rows}
    groups = sorted(order, key=order.__getitem__)
    variants = sorted({r["variant"] for r in rows})
    series = [*(f"ours ({v})" for v in variants), "S++ paper"]
    width = 0.8 / len(series)
    x = np.arange(len(groups))
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.7 * len(groups) + 3), 8), sharex=True)
    for ax, ours, theirs, label in ((axes[0], "bytes_per_element", "paper_bytes_per_element", "bytes per element"),
                                    (axes[1], "time_s", "paper_time_s", "time (s)")):
        for i, name in enumerate(series):
            vals = []
            for g in groups:
                match = [r for r in rows if (r["protocol"], r["dim"]) == g
                         and (name == "S++ paper" or f"ours ({r['variant']})" == name)]
                key = theirs if name == "S++ paper" else ours
                vals.append(match[0][key] if match else np.nan)
            ax.bar(x + (i - (len(series) - 1) / 2) * width, vals, width, label=name)
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].legend(loc="upper left", fontsize="small")
    axes[0].set_title(title or "ours vs the S++ paper (Table 1)")
    axes[1].set_xticks(x, [f"{p}\n{d}" for p, d in groups], rotation=45, ha="right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return len(groups)
