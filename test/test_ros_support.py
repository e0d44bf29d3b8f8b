"""Helpers for the ROS tests (no tests here): processes, sequences, and a TEST-ONLY stand-in detector.

``OracleDetector`` reads the generated ground-truth instance masks of the frame being tracked.
It exists only so the node's plumbing (sync, conversion, threading, outputs) can be tested end
to end independently of the learned detector; it is never shipped and never reported as a
result. The tracker in these tests is the real one (``occtrack_ros.tracking.make_tracker``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from occtrack_ros.child_process import ChildProcess

TEST_DIR = Path(__file__).resolve().parent
REPO = TEST_DIR.parent
NODE = "/occtrack_tracker"


# ---------------------------------------------------------------- stand-in detector (test only)
class OracleDetector:
    """A perfect amodal detector from the gt of $OCCTRACK_STANDIN_SEQ (frame index from the stamp).

    Objects with visibility >= MIN_VISIBILITY are detected with their gt amodal box; masks are
    their visible pixels and depths the median depth of those pixels in the input frame.
    """

    MIN_VISIBILITY = 0.2

    def __init__(self, seq_dir: str | Path) -> None:
        from occtrack_ros.data.sequence import load_gt, load_sequence

        self.seq = load_sequence(seq_dir, load_depth=False)
        self.gt = load_gt(seq_dir)

    def reset(self) -> None:
        pass

    def detect(self, frames):
        return [self._detect(f) for f in frames]

    def _detect(self, frame):
        from occtrack_ros.types import Detections

        index = frame_index(self.seq, frame.stamp_ns)
        if not 0 <= index < len(self.seq):
            index = int(frame.index) % len(self.seq)
        labels = self.seq.mask(index)
        boxes, masks, depths, centroids, areas = [], [], [], [], []
        for row in self.gt.rows_at(index):
            m = labels == self.gt.track_id[row]
            if self.gt.visibility[row] < self.MIN_VISIBILITY or not m.any():
                continue
            box = self.gt.boxes[row]
            boxes.append(box)
            masks.append(m.astype(np.float32))
            centroids.append([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
            areas.append(float(m.sum()))
            d = frame.depth[m] if frame.depth is not None else np.array([np.nan])
            d = d[np.isfinite(d)]
            depths.append(float(np.median(d)) if d.size else np.nan)
        if not boxes:
            return Detections.empty()
        det = Detections(boxes=np.array(boxes, np.float32), scores=np.ones(len(boxes), np.float32),
                         masks=np.stack(masks), centroids=np.array(centroids, np.float32),
                         areas=np.array(areas, np.float32))
        if frame.depth is not None and np.all(np.isfinite(depths)):
            det.depths = np.array(depths, np.float32)
        return det


def make_oracle_detector():
    return OracleDetector(os.environ["OCCTRACK_STANDIN_SEQ"])


class EmptyDetector:
    def reset(self) -> None:
        pass

    def detect(self, frames):
        from occtrack_ros.types import Detections

        return [Detections.empty() for _ in frames]


def make_empty_detector():
    return EmptyDetector()


def frame_index(seq, stamp_ns: int) -> int:
    """0-based frame of a sequence stamp (the player publishes the sequence's own stamps)."""
    return int(round((stamp_ns - seq.stamp_ns(0)) * seq.fps / 1e9))


# ---------------------------------------------------------------- sequences and gt
def generate(out: Path, seed: int, frames: int = 120, bag: bool = False) -> Path:
    cmd = [sys.executable, "-m", "occtrack_ros.cli", "generate", "--seed", str(seed), "--out", str(out),
           "--frames", str(frames), "--quiet", "--overwrite"] + (["--bag"] if bag else [])
    subprocess.run(cmd, check=True, cwd=REPO, timeout=120)
    return out


def occlusion_events(seq_dir: Path, min_gap: int = 4, window: int = 5, seen: float = 0.3) -> list[dict]:
    """Objects seen, then fully hidden (visibility 0) for >= min_gap frames in view, then seen again.

    "Seen" means visibility >= ``seen`` on at least 2 of the ``window`` frames before the gap
    and on 2 of the ``window`` frames after it. Sorted by gap length, shortest first.
    """
    from occtrack_ros.data.sequence import load_gt

    gt = load_gt(seq_dir)
    events = []
    for oid in gt.ids:
        rows = np.nonzero(gt.track_id == oid)[0]
        vis = {int(gt.frame[r]): float(gt.visibility[r]) for r in rows}
        box = {int(gt.frame[r]): gt.boxes[r] for r in rows}
        f, last = min(vis), max(vis)
        while f <= last:
            if vis.get(f, -1.0) == 0.0:
                start = f
                while vis.get(f, -1.0) == 0.0:
                    f += 1
                end = f  # first frame after the gap
                before = [g for g in range(start - window, start) if vis.get(g, 0.0) >= seen]
                after = [g for g in range(end, end + window) if vis.get(g, 0.0) >= seen]
                if end - start >= min_gap and len(before) >= 2 and len(after) >= 2:
                    events.append({"id": int(oid), "start": start, "end": end, "before_frame": before[-1],
                                   "after_frame": after[-1], "amodal_before": box[before[-1]],
                                   "amodal_after": box[after[-1]]})
            f += 1
    return sorted(events, key=lambda e: (e["end"] - e["start"], e["start"]))


def visible_box(seq_dir: Path, frame: int, object_id: int) -> np.ndarray:
    """xyxy of the visible pixels of ``object_id`` in 0-based ``frame`` (from the gt masks)."""
    from occtrack_ros.data.sequence import load_sequence

    ys, xs = np.nonzero(load_sequence(seq_dir, load_depth=False).mask(frame) == object_id)
    assert xs.size, f"object {object_id} has no visible pixel in frame {frame}"
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def read_records(path: Path) -> tuple[list[dict], list[dict]]:
    """(tracks records, markers records) of a recorder file."""
    by_topic = read_all_records(path)
    return by_topic.get("tracks", []), by_topic.get("markers", [])


def read_all_records(path: Path) -> dict[str, list[dict]]:
    by_topic: dict[str, list[dict]] = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        by_topic.setdefault(rec["topic"], []).append(rec)
    return by_topic


# ---------------------------------------------------------------- processes
class Proc(ChildProcess):
    """The project's ChildProcess started from the repository root; ``stop`` waits 10 s per signal."""

    def __init__(self, args: list[str], env: dict, log: Path) -> None:
        super().__init__(Path(log).stem, args, env, log, cwd=REPO)

    def stop(self, timeout: float = 10.0) -> int:
        return super().stop(timeout)


def node_env(ros_env: dict, seq_dir: Path | None = None) -> dict:
    env = dict(ros_env)
    env["PYTHONPATH"] = os.pathsep.join([str(TEST_DIR), env.get("PYTHONPATH", "")])
    env["RCUTILS_LOGGING_BUFFERED_STREAM"] = "0"
    if seq_dir is not None:
        env["OCCTRACK_STANDIN_SEQ"] = str(seq_dir)
    return env


def node_command(*params: str, name: str = "occtrack_tracker", detector: str = "make_oracle_detector") -> list[str]:
    args = [sys.executable, "-m", "occtrack_ros.ros.tracker_node", "--ros-args",
            "--params-file", str(REPO / "config" / "occtrack.yaml"),
            "-p", "qos_reliability:=reliable",
            "-p", "diagnostics_period:=1.0", "-p", "threads:=1"]
    if detector:  # '' = the learned detector with the shipped weights
        args += ["-p", f"detector_plugin:=test_ros_support:{detector}"]
    for p in params:
        args += ["-p", p]
    if name != "occtrack_tracker":
        args += ["-r", f"__node:={name}"]
    return args


def player_command(seq_dir: Path, *extra: str, lockstep: str = f"{NODE}/tracks") -> list[str]:
    return [sys.executable, "-m", "occtrack_ros.ros.sequence_player", "--seq", str(seq_dir), "--rate", "200",
            "--lockstep", lockstep, "--lockstep-timeout", "20", *extra]


def recorder_command(out: Path, node: str = NODE, idle: float = 2.5, everything: bool = False) -> list[str]:
    return [sys.executable, "-m", "occtrack_ros.ros.track_recorder", "--tracks", f"{node}/tracks",
            "--markers", f"{node}/markers", "--out", str(out), "--idle", str(idle)] + (
        ["--node", node] if everything else [])


def set_parameters_main(node_name: str, assignments: list[str]) -> None:
    """Set parameters on a running node (as `ros2 param set` would); prints one JSON line of results."""
    import rclpy
    import yaml
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    with rclpy.init():
        node = rclpy.create_node("occtrack_test_param_client")
        client = AsyncParameterClient(node, node_name)
        assert client.wait_for_services(timeout_sec=20.0), f"no parameter services on {node_name}"
        results = []
        for item in assignments:
            name, _, text = item.partition("=")
            future = client.set_parameters([Parameter(name, value=yaml.safe_load(text))])
            rclpy.spin_until_future_complete(node, future, timeout_sec=10.0)
            r = future.result().results[0]
            results.append({"name": name, "successful": bool(r.successful), "reason": r.reason})
        future = client.get_parameters(["score_threshold"])
        rclpy.spin_until_future_complete(node, future, timeout_sec=10.0)
        results.append({"score_threshold": future.result().values[0].double_value})
        print("PARAMS " + json.dumps(results), flush=True)


def param_command(node_name: str, *assignments: str) -> list[str]:
    return [sys.executable, "-c", "import sys, test_ros_support as s; s.set_parameters_main(sys.argv[1], sys.argv[2:])",
            node_name, *assignments]
