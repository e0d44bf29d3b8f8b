"""Markdown tables."""
from __future__ import annotations


def _escape(cell) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """GitHub table; ``align`` has one of ``l``/``r``/``c`` per column (default: all left)."""
    n = len(header)
    align = align or "l" * n
    if len(align) != n or set(align) - set("lrc"):
        raise ValueError(f"align {align!r} must have one of l/r/c for each of the {n} columns")
    for i, r in enumerate(rows):
        if len(r) != n:
            raise ValueError(f"row {i} has {len(r)} cells for {n} columns: {r}")
    rule = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |", "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(_escape(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
