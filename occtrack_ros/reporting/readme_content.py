"""The README's generated sections, built from out/demo, out/bench and the sources."""
from __future__ import annotations

import json
import re
from pathlib import Path

from occtrack_ros.reporting import ros_interface

HEADINGS = {"BENCHMARKS": "## Benchmarks", "TOPICS": "## Topics", "PARAMETERS": "## Parameters",
            "MESSAGES": "## Messages"}


def demo_section(demo_dir: str | Path, image: str = "docs/contact_sheet.png") -> str:
    """Summary of the last ``occtrack demo`` (summary.json, metrics.json) with the contact sheet."""
    from occtrack_ros.evaluation.report import format_markdown

    demo_dir = Path(demo_dir)
    summary = json.loads((demo_dir / "summary.json").read_text())
    metrics = json.loads((demo_dir / "metrics.json").read_text())
    sheet = summary.get("contact_sheet")
    weights = summary["weights"]
    lines = [f"`make demo` ({summary['date'][:10]}, {summary['wall_s']:.0f} s, git {summary['git_revision']}): "
             f"held-out occlusion seed {summary['seed']}, {summary['frames']} frames played from a rosbag2 recording "
             "through the live ROS 2 node over DDS (detector weights: "
             f"{weights['detector']}, tracker weights: {weights['tracker']}"
             + "".join(f", `{p}`" for p in summary.get("extra_params", []))
             + "). `occtrack replay` on the same bag gave "
             f"{'identical' if summary['live_equals_replay'] else 'DIFFERENT'} tracks and metrics.", "",
             *[line for w in summary.get("warnings", []) for line in (f"**Warning:** {w}.", "")],
             format_markdown({"live node": metrics}), "",
             f"Full-occlusion episodes in the ground truth: {summary['episodes']}, judged for recovery: "
             f"{summary['episodes_judged']}, recovered with the same id: {summary['episodes_recovered']}.", ""]
    if sheet is not None:
        if sheet["track_id"] is None:
            kept = "the tracker had no track on it before the occlusion"
        else:
            kept = f"track {sheet['track_id']} " + ("keeps its id" if sheet["recovered"] else "does NOT keep its id")
        lines += [f"Object {sheet['gt_object']} is fully hidden in frames {sheet['hidden'][0]}-{sheet['hidden'][1]}; "
                  f"{kept} (tiles: frames {', '.join(map(str, sheet['frames']))}; dashed "
                  "translucent box = the ghost predicted while hidden):", "",
                  f"![contact sheet]({image})"]
    return "\n".join(lines)


def bench_section(bench_dir: str | Path) -> str:
    """bench.md of the last ``occtrack bench`` without its title, headings one level down."""
    text = (Path(bench_dir) / "bench.md").read_text()
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body = "\n".join(lines).strip("\n")
    return re.sub(r"^(#{2,5}) ", lambda m: "#" + m.group(1) + " ", body, flags=re.MULTILINE)


def interface_sections() -> dict[str, str]:
    """TOPICS, PARAMETERS and MESSAGES, generated from the node's sources and msg/*.msg."""
    return {"TOPICS": ros_interface.topics_markdown(), "PARAMETERS": ros_interface.parameters_markdown(),
            "MESSAGES": ros_interface.messages_markdown()}
