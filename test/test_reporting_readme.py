"""README generation: only marker sections change; tables come from the sources; bench output parses."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from occtrack_ros.reporting import ros_interface
from occtrack_ros.reporting.readme import replace_sections, section_names
from occtrack_ros.reporting.tables import markdown_table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import update_readme  # noqa: E402

README = """# title

intro text with `code` and <!-- a plain comment -->

<!-- A:BEGIN -->
old a
<!-- A:END -->

## Middle

keep me exactly\u0020\u0020
<!-- B:BEGIN --><!-- B:END -->
tail
"""


def test_only_marker_sections_change():
    new = replace_sections(README, {"A": "new a\nline 2", "B": "new b"})
    assert section_names(new) == ["A", "B"]
    assert "old a" not in new and "new a\nline 2" in new and "new b" in new
    # Everything outside the markers is byte-identical.
    strip = re.compile(r"(<!-- (\w+):BEGIN -->).*?(<!-- \2:END -->)", re.S)
    assert strip.sub(r"\1\3", new) == strip.sub(r"\1\3", README)
    assert replace_sections(new, {"A": "new a\nline 2", "B": "new b"}) == new   # idempotent


def test_missing_section_is_appended_under_its_heading():
    new = replace_sections(README, {"C": "| t |"}, {"C": "## Cee"})
    assert new.startswith(README.rstrip("\n"))
    assert new.endswith("## Cee\n\n<!-- C:BEGIN -->\n| t |\n<!-- C:END -->\n")
    with pytest.raises(KeyError, match="D"):
        replace_sections(README, {"D": "x"})


@pytest.mark.parametrize("bad, message", [
    ("<!-- A:BEGIN -->\nx\n", "no A:END"),
    ("<!-- A:END -->\n", "without its A:BEGIN"),
    ("<!-- A:BEGIN --><!-- B:BEGIN --><!-- B:END --><!-- A:END -->", "inside the open section A"),
    ("<!-- A:BEGIN --><!-- A:END --><!-- A:BEGIN --><!-- A:END -->", "two A sections"),
])
def test_malformed_markers_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        replace_sections(bad, {"A": "x"})


def test_generated_text_cannot_carry_markers():
    with pytest.raises(ValueError, match="markers"):
        replace_sections(README, {"A": "<!-- B:END -->"})


def test_markdown_table_checks_and_escapes():
    t = markdown_table(["a", "b"], [[1, "x|y"]], "lr")
    assert t.splitlines() == ["| a | b |", "|---|---:|", "| 1 | x\\|y |"]
    with pytest.raises(ValueError, match="row 0"):
        markdown_table(["a", "b"], [[1]])


def test_messages_table_lists_every_field_and_constant():
    text = ros_interface.messages_markdown()
    for msg in sorted((REPO / "msg").glob("*.msg")):
        assert f"### `occtrack_ros/msg/{msg.stem}`" in text
        for line in msg.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            kind, name = line.split()[:2]
            name = name.split("=")[0]
            assert re.search(rf"\| `{re.escape(kind)}` \| `{name}( = [^`]+)?` \|", text), (msg.name, line)
    spec = ros_interface.parse_msg(REPO / "msg" / "TrackedObject.msg")
    assert ("uint8", "OCCLUDED", "2") == spec.constants[2][:3]
    assert "still exists" in dict((n, c) for _, n, c in spec.fields)["existence_probability"]


def test_topics_come_from_the_node_source(tmp_path):
    topics = {(t.direction, t.name): t.types for t in ros_interface.node_topics()}
    assert topics[("out", "~/tracks")] == ["occtrack_ros/msg/TrackedObjectArray"]
    assert topics[("out", "~/markers")] == ["visualization_msgs/msg/MarkerArray"]
    assert set(topics[("in", "image_topic")]) == {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"}
    assert topics[("in", "odom_topic")] == ["nav_msgs/msg/Odometry"]
    assert "`/occtrack_tracker/tracks`" in ros_interface.topics_markdown()
    # A new publisher in the node appears in the table without anyone typing it.
    src = (REPO / "occtrack_ros" / "ros" / "tracker_node.py").read_text()
    src = src.replace('self.create_publisher(Image, "~/instances", 2)',
                      'self.create_publisher(Image, "~/instances", 2)\n'
                      '        # a topic added for this test\n'
                      '        self.pub_x = self.create_publisher(MarkerArray, "~/extra", 1)')
    (tmp_path / "node.py").write_text(src)
    table = ros_interface.topics_markdown(tmp_path / "node.py")
    assert "| out | `/occtrack_tracker/extra` | `visualization_msgs/msg/MarkerArray` | a topic added for this test |" \
        in table


def _fake_outputs(tmp_path: Path) -> tuple[Path, Path]:
    demo, bench = tmp_path / "out" / "demo", tmp_path / "out" / "bench"
    demo.mkdir(parents=True)
    bench.mkdir(parents=True)
    metrics = {"HOTA": 0.61, "DetA": 0.6, "AssA": 0.62, "IDF1": 0.7, "MOTA": 0.5, "IDSW": 3,
               "occlusion_recovery": 0.5, "coasting_error_px": 4.2}
    (demo / "metrics.json").write_text(json.dumps(metrics))
    (demo / "summary.json").write_text(json.dumps({
        "date": "2026-11-21T13:00:00+00:00", "seed": 1001, "frames": 120, "wall_s": 61.0,
        "weights": {"detector": "shipped", "tracker": "shipped"}, "metrics": metrics, "live_equals_replay": True,
        "episodes": 8, "episodes_judged": 6, "episodes_recovered": 3, "git_revision": "abc1234",
        "contact_sheet": {"gt_object": 1, "hidden": [40, 64], "track_id": 5, "recovered": True,
                          "frames": [39, 40, 48, 56, 64, 68]}}))
    import cv2

    cv2.imwrite(str(demo / "contact_sheet.png"), np.zeros((8, 8, 3), np.uint8))
    (bench / "bench.md").write_text("# occtrack bench\n\nmachine line\n\n## Pipeline\n\n| a |\n|---|\n| 1 |\n")
    return demo, bench


def test_update_readme_script(tmp_path):
    readme = tmp_path / "README.md"
    original = ("# occtrack_ros\n\nintro\n\n<!-- DEMO-SUMMARY:BEGIN -->\nplaceholder\n<!-- DEMO-SUMMARY:END -->\n\n"
                "## Set-up\n\nhand-written text\n")
    readme.write_text(original)
    demo, bench = _fake_outputs(tmp_path)
    done = update_readme.update(readme, demo, bench, tmp_path / "docs")
    assert done == ["DEMO-SUMMARY", "BENCHMARKS", "TOPICS", "PARAMETERS", "MESSAGES"]
    text = readme.read_text()
    assert text.startswith("# occtrack_ros\n\nintro\n\n<!-- DEMO-SUMMARY:BEGIN -->\n`make demo` (2026-11-21, 61 s")
    assert "\n## Set-up\n\nhand-written text\n" in text
    assert "placeholder" not in text and "![contact sheet](docs/contact_sheet.png)" in text
    assert "track 5 keeps its id" in text and "| live node | 61.0 |" in text
    assert "### Pipeline" in text and "# occtrack bench" not in text
    for heading in ("## Benchmarks", "## Topics", "## Parameters", "## Messages"):
        assert text.count(heading) == 1
    from occtrack_ros.ros.parameters import BY_NAME  # the table is generated from the parameter declarations

    assert f"| `score_threshold` | `{BY_NAME['score_threshold'].default}` |" in text
    assert (tmp_path / "docs" / "contact_sheet.png").read_bytes() == (demo / "contact_sheet.png").read_bytes()
    # A second run changes nothing; --check agrees.
    assert update_readme.update(readme, demo, bench, tmp_path / "docs") and readme.read_text() == text
    args = ["--readme", str(readme), "--demo", str(demo), "--bench", str(bench), "--docs", str(tmp_path / "docs")]
    assert update_readme.main(args + ["--check"]) == 0
    (demo / "summary.json").write_text((demo / "summary.json").read_text().replace('"seed": 1001', '"seed": 1002'))
    assert update_readme.main(args + ["--check"]) == 1


def test_repository_readme_markers_are_well_formed():
    assert "DEMO-SUMMARY" in section_names((REPO / "README.md").read_text())


def test_bench_tracker_output_parses():
    from occtrack_ros.commands.bench import parse_bench_tracker

    out = subprocess.run([sys.executable, "-m", "occtrack_ros.cli", "bench-tracker", "--objects", "5,20",
                          "--frames", "25", "--weights", "none", "--threads", "1", "--repeats", "2"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    parsed = parse_bench_tracker(out)
    assert parsed["threads"] == 1 and parsed["frames"] == 25 and parsed["repeats"] == 2
    assert sorted(parsed["rows"]) == [5, 20]
    assert parsed["columns"] == ["ours (motion only)", "SORT (trackers pkg)"]
    for cells in parsed["rows"].values():
        for median, p95 in cells.values():
            assert 0 < median <= p95
    with pytest.raises(ValueError, match="header"):
        parse_bench_tracker("nothing here")


def test_bench_node_output_parses():
    from occtrack_ros.commands.bench import parse_bench_node

    assert parse_bench_node('log line\n{"frames_sent": 3, "added_ms": {"mean": 1.0}}\n') == {
        "frames_sent": 3, "added_ms": {"mean": 1.0}}
    with pytest.raises(ValueError, match="no JSON"):
        parse_bench_node("node died\n")


def test_bench_markdown_renders_every_section_and_failures():
    from occtrack_ros.commands.bench import STAGES, bench_markdown

    st = {"mean": 2.0, "p50": 1.5, "p95": 4.0}
    report = {
        "machine": {"date": "2026-11-21T13:00:00+00:00", "cpu": "Test CPU", "cores": 2, "cores_usable": 2,
                    "load_average_1m_at_start": 1.0, "torch": "2.x", "torch_threads": 1, "cuda_device": None,
                    "git_revision": "abc"},
        "data": "seeds 1000-1002", "weights": {"detector": "shipped", "tracker": "shipped"}, "wall_s": 100.0,
        "load_average_1m_at_end": 1.5,
        "pipeline": {"cpu": {"device": "cpu", "sequence": "occlusion-1000", "frames_timed": 10, "warmup_frames": 5,
                             "image": "128x128", "stages_ms": {s: st for s in STAGES}, "detector_ms": st,
                             "tracker_ms": st, "total_ms": {"mean": 50.0, "p50": 45.0, "p95": 70.0}, "fps": 20.0,
                             "detections_per_frame": 3.0, "live_tracks_per_frame": 4.0, "peak_rss_mb_process": 300,
                             "python_heap_peak_mb_10_frames": 1.0, "notes": ["a note"],
                             "accuracy_full_pipeline": {"HOTA": 0.5, "IDF1": 0.6, "IDSW": 2}}},
        "detector_alone": {"cpu": {"ms_per_frame": {"cnn": {"backbone": 1, "slots": 1, "decoder": 1, "head": 1,
                                                            "total": 4.0}}}},
        "learned_depth": {"cpu": {"device": "cpu", "frames_timed": 7, "sequence": "occlusion-1000", "size": [128, 128],
                                  "stages_ms": {"depthnet": st, "edge_refine": st, "motion": st},
                                  "total_ms": {"mean": 6.0, "p50": 5.0, "p95": 9.0}}},
        "tracker_scaling": {"error": "RuntimeError: boom"},
        "node": {"frames_tracked": 9, "frames_sent": 10, "rate_hz": 5, "image": "128x128",
                 **{k: {"mean": 1.0, "p50": 1.0, "p95": 2.0, "max": 3.0}
                    for k in ("pipeline_ms", "end_to_end_ms", "added_ms", "added_inside_node_ms")}},
        "accuracy": {"seeds": "1000-1002", "occluded_rows": "ignored", "ours": "x", "notes": [],
                     "trackers": {"sort": {"HOTA": 0.4, "IDSW": 5}, "ours": {"HOTA": 0.5, "IDSW": 3}}},
        "failed_sections": ["tracker scaling"],
    }
    md = bench_markdown(report)
    assert "Test CPU" in md and "20.0 FPS" in md and "| **end to end** | 50.00 | 45.00 | 70.00 |" in md
    assert "| cnn | 1.00 | 1.00 | 1.00 | 1.00 | 4.00 | 250.0 |" in md
    assert "FAILED: RuntimeError: boom" in md and "**Failed sections: tracker scaling**" in md
    assert "| added | 1.00 | 1.00 | 2.00 | 3.00 |" in md
    assert "| edge refinement | 2.00 | 1.50 | 4.00 |" in md and "| **total** | 6.00 | 5.00 | 9.00 |" in md
    assert "| ours | 50.0 |" in md and "Note: a note" in md
