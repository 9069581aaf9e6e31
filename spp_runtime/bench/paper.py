"""The S++ paper's Table 1 beside our records: times, megabytes, ratios, and tables for docs.

The packaged ``spp_table1.json`` (a copy of the team's reference file) lists, per protocol
group and shape, the paper's average time (s) and communication (``comm_mb``, megabytes). The
table's labels were lost in the paper's text; the groups map to protocols by the probable
mapping recorded there, which the output repeats.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def table1() -> dict[str, Any]:
    """The packaged Table 1 document."""
    return json.loads(resources.files("spp_runtime.bench").joinpath("spp_table1.json").read_text())


def paper_row(protocol: str, dim: str) -> dict[str, Any] | None:
    """The paper's row for ``protocol`` at ``dim`` (e.g. ``"128x128"``), if it has one."""
    for row in table1()["rows"]:
        if row["probable_protocol"] == protocol and row["dim"] == dim:
            return row
    return None


def compare(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Our time and MB beside the paper's and the ratios (ours / paper), per matched record."""
    out = []
    for rec in records:
        row = paper_row(rec["protocol"], rec["dim"])
        if row is None:
            continue
        mb = rec["bytes_total"] / 1e6
        out.append({
            "protocol": rec["protocol"], "variant": rec["variant"], "dim": rec["dim"],
            "net": rec.get("net", {}).get("name", "?"),
            "time_s": rec["time_s"], "paper_time_s": row["time_s"], "time_ratio": rec["time_s"] / row["time_s"],
            "mb": mb, "paper_mb": row["comm_mb"], "mb_ratio": mb / row["comm_mb"],
            "bytes_per_element": rec["bytes_per_element"],
            "paper_bytes_per_element": row["comm_mb"] * 1e6 / rec["elements"],
            "paper_group": row["group"],
        })
    return out


def summary(rows: list[dict[str, Any]]) -> str:
    """One line per variant: geometric-mean time and MB ratios over the matched rows."""
    lines = []
    for variant in sorted({r["variant"] for r in rows}):
        sel = [r for r in rows if r["variant"] == variant]
        t = statistics.geometric_mean([r["time_ratio"] for r in sel])
        m = statistics.geometric_mean([r["mb_ratio"] for r in sel])
        lines.append(f"variant {variant}: {len(sel)} rows; time ours/paper geometric mean {t:.3g}x "
                     f"(range {min(r['time_ratio'] for r in sel):.3g}-{max(r['time_ratio'] for r in sel):.3g}), "
                     f"MB ours/paper {m:.3g}x (range {min(r['mb_ratio'] for r in sel):.3g}-"
                     f"{max(r['mb_ratio'] for r in sel):.3g})")
    return "\n".join(lines)


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}g}" if abs(x) < 1e5 else f"{x:.3e}"


def markdown(records: Sequence[Mapping[str, Any]], *, with_paper: bool = False) -> str:
    """A Markdown table of the records (and the paper's numbers and ratios if asked)."""
    head = ["protocol", "variant", "shape", "time s", "min-max s", "MB", "B/elem", "offline MB", "rounds"]
    if any("model_s" in r for r in records):
        head.append("model s")
    if with_paper:
        head += ["paper s", "time ratio", "paper MB", "MB ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rec in records:
        spread = (f"{_fmt(rec['time_min_s'])}-{_fmt(rec['time_max_s'])}" if rec.get("repeat", 1) > 1 else "-")
        cells = [rec["protocol"], rec["variant"], rec["dim"], _fmt(rec["time_s"]), spread,
                 _fmt(rec["bytes_total"] / 1e6), _fmt(rec["bytes_per_element"], 4),
                 _fmt(rec["offline_bytes"] / 1e6), str(rec["rounds"])]
        if "model s" in head:
            cells.append(_fmt(rec.get("model_s")))
        if with_paper:
            row = paper_row(rec["protocol"], rec["dim"])
            if row is None:
                cells += ["-"] * 4
            else:
                cells += [_fmt(row["time_s"]), _fmt(rec["time_s"] / row["time_s"]), _fmt(row["comm_mb"]),
                          _fmt(rec["bytes_total"] / 1e6 / row["comm_mb"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
