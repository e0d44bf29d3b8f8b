"""Result tables (text and markdown) and JSON for one or several trackers.

Tables show the ``metrics.HEADLINE`` columns, fractions as percentages (as benchmarks print them);
the JSON keeps fractions in [0, 1] (MOTA can be negative), IDSW as a count and coasting error in px.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from occtrack_ros.evaluation.metrics import HEADLINE

_PERCENT = {"HOTA", "DetA", "AssA", "IDF1", "MOTA", "occlusion_recovery"}
_HEADER = {k: (f"{k} %" if k in _PERCENT else k) for k in HEADLINE}
_HEADER["occlusion_recovery"] = "OccRec %"
_HEADER["coasting_error_px"] = "Coast px"


def _cell(key: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key in _PERCENT:
        return f"{100.0 * value:.1f}"
    if key == "IDSW":
        return str(int(value))
    return f"{value:.1f}"


def table_rows(results: dict[str, dict]) -> list[list[str]]:
    """``{tracker: metrics}`` -> header row + one row per tracker."""
    rows = [["Tracker"] + [_HEADER[k] for k in HEADLINE]]
    for name, m in results.items():
        rows.append([name] + [_cell(k, m.get(k)) for k in HEADLINE])
    return rows


def format_text(results: dict[str, dict]) -> str:
    """Fixed-width text table."""
    rows = table_rows(results)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(results: dict[str, dict]) -> str:
    """GitHub markdown table."""
    rows = table_rows(results)
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item"):  # numpy scalars
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json(path: str | Path, payload: dict) -> None:
    """Write ``payload`` as JSON (numpy scalars converted, NaN -> null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(payload), indent=2) + "\n")
