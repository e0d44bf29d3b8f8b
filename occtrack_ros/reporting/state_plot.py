"""Per-track state over time (visible / occluded / lost) as a PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from occtrack_ros.reporting.records import LOST, OCCLUDED, VISIBLE

COLORS = {VISIBLE: "#2ca02c", OCCLUDED: "#ff7f0e", LOST: "#d62728"}


def runs(row: np.ndarray) -> list[tuple[int, int, int]]:
    """(code, first index, length) of each maximal run of equal codes in a 1-D timeline row."""
    out = []
    start = 0
    for i in range(1, len(row) + 1):
        if i == len(row) or row[i] != row[start]:
            out.append((int(row[start]), start, i - start))
            start = i
    return out


def plot_states(path: str | Path, ids: list[int], timeline: np.ndarray, title: str = "",
                highlight: tuple[int, int, int] | None = None) -> Path:
    """Write the timeline ``(K, F)`` (codes from ``records.state_timeline``) as horizontal bars.

    ``highlight`` = (track id, first, last 1-based frame) shades a gt occlusion episode on that
    track's row.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    timeline = np.asarray(timeline)
    assert timeline.ndim == 2 and timeline.shape[0] == len(ids), (
        f"timeline must be (K={len(ids)}, F), got {timeline.shape}")
    fig, ax = plt.subplots(figsize=(10, 0.45 * max(len(ids), 2) + 1.4), dpi=110)
    for k in range(len(ids)):
        for code, start, length in runs(timeline[k]):
            if code in (VISIBLE, OCCLUDED):
                ax.broken_barh([(start + 0.5, length)], (k - 0.35, 0.7), color=COLORS[code], linewidth=0)
            elif code == LOST:
                ax.plot([start + 1], [k], marker="x", color=COLORS[LOST], markersize=9, mew=2.5)
    if highlight is not None and highlight[0] in ids:
        k = ids.index(highlight[0])
        ax.add_patch(plt.Rectangle((highlight[1] - 0.5, k - 0.5), highlight[2] - highlight[1] + 1, 1.0,
                                   fill=False, edgecolor="black", linestyle="--", linewidth=1.2))
    ax.set_yticks(range(len(ids)))
    ax.set_yticklabels([str(i) for i in ids])
    ax.set_ylim(-0.7, len(ids) - 0.3)
    ax.invert_yaxis()
    ax.set_xlim(0.5, timeline.shape[1] + 0.5)
    ax.set_xlabel("frame")
    ax.set_ylabel("track id")
    entries = {VISIBLE: Patch(color=COLORS[VISIBLE], label="visible (observed)"),
               OCCLUDED: Patch(color=COLORS[OCCLUDED], label="occluded (ghost, predicted)"),
               LOST: plt.Line2D([], [], marker="x", color=COLORS[LOST], linestyle="", mew=2.5, label="lost (ended)")}
    handles = [h for code, h in entries.items() if (timeline == code).any()]   # only what the plot shows
    if highlight is not None:
        handles.append(Patch(fill=False, edgecolor="black", linestyle="--", label="gt full occlusion"))
    fig.legend(handles=handles, loc="lower center", ncol=max(len(handles), 1), frameon=False, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    legend_space = 0.3 / fig.get_size_inches()[1]   # ~0.3 inch under the axes for the legend row
    fig.tight_layout(rect=(0.0, legend_space, 1.0, 1.0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
