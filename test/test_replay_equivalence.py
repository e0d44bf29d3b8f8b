"""`occtrack replay` (offline, no ROS) gives exactly the tracks the live node publishes.

The same rosbag2 recording is (1) published over real DDS by the bag player to a tracker node
whose ~/tracks are recorded by a third process, and (2) replayed offline. Both MOTChallenge
files must be byte-identical. Everything is real: the shipped detector weights (whose slot state
carries across frames, so order and drops matter) and the tracker.
"""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from test_ros_support import (
    NODE,
    REPO,
    Proc,
    frame_index,
    generate,
    node_command,
    node_env,
    read_records,
    recorder_command,
)

SEED = 21
FRAMES = 60
BAG_TOPICS = ("image_topic:=/camera/image_raw", "depth_topic:=/camera/depth/image_raw",
              "camera_info_topic:=/camera/camera_info", "odom_topic:=/odom")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, ros_env):
    tmp = tmp_path_factory.mktemp("replay")
    seq = generate(tmp / "seq", SEED, FRAMES, bag=True)
    env = node_env(ros_env, seq)
    node = Proc(node_command(*BAG_TOPICS, detector=""), env, tmp / "node.log")
    rec = Proc(recorder_command(tmp / "rec.jsonl"), env, tmp / "rec.log")
    try:
        assert node.wait_for("tracking /camera/image_raw", 60), node.text()
        assert rec.wait_for("RECORDER ready", 30), rec.text()
        player = Proc([sys.executable, "-m", "occtrack_ros.ros.sequence_player", "--bag", str(seq / "bag"),
                       "--rate", "200", "--lockstep", f"{NODE}/tracks"], env, tmp / "player.log")
        assert player.wait_for("PLAYER done", 120), player.text()
        assert player.p.wait(timeout=30) == 0, player.text()
        player.stop()
        rec.p.wait(timeout=30)
    finally:
        rec.stop()
        node.stop()
    replay = subprocess.run(
        [sys.executable, "-m", "occtrack_ros.cli", "replay", "--bag", str(seq / "bag"), "--out", str(tmp / "out"),
         "--params", str(REPO / "config" / "occtrack.yaml"), "--threads", "1", "--quiet"],
        env=env, capture_output=True, text=True, timeout=180)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    return {"seq": seq, "tmp": tmp, "records": read_records(tmp / "rec.jsonl")[0], "player": player.text(),
            "replay_log": replay.stdout + replay.stderr}


def live_rows(outputs) -> np.ndarray:
    from occtrack_ros.data.sequence import load_sequence
    from occtrack_ros.tracking.mot_files import mot_row_wanted

    seq = load_sequence(outputs["seq"], load_depth=False)
    rows = []
    for rec in outputs["records"]:
        frame = frame_index(seq, rec["stamp_ns"]) + 1
        for o in rec["objects"]:
            if mot_row_wanted(o["state"], o["frames_occluded"], o["visible_fraction"]):
                rows.append([frame, o["id"], *o["bbox"], o["existence_probability"]])
    return np.array(rows, np.float64).reshape(-1, 7)


def test_live_and_offline_tracks_are_identical(outputs):
    from occtrack_ros.evaluation.mot_io import write_results

    assert "lockstep_timeouts=0" in outputs["player"], outputs["player"]
    assert len(outputs["records"]) == FRAMES
    write_results(outputs["tmp"] / "live.txt", live_rows(outputs))
    live = (outputs["tmp"] / "live.txt").read_text()
    offline = (outputs["tmp"] / "out" / "tracks.txt").read_text()
    assert live.count("\n") > FRAMES // 2, "expected tracked objects in most frames"
    assert live == offline


def test_replay_writes_metrics_with_eval_keys_and_a_video(outputs):
    metrics = json.loads((outputs["tmp"] / "out" / "metrics.json").read_text())
    for key in ("HOTA", "IDF1", "MOTA", "IDSW"):
        assert any(k.upper().startswith(key) for k in metrics), (key, sorted(metrics))
    video = cv2.VideoCapture(str(outputs["tmp"] / "out" / "overlay.mp4"))
    count = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, image = video.read()
    video.release()
    assert ok and image.shape[:2] == (128, 128) and count == FRAMES


def test_replay_refuses_bad_bag_and_parameter(tmp_path, ros_env, outputs):
    run = lambda *a: subprocess.run([sys.executable, "-m", "occtrack_ros.cli", "replay", *a], env=ros_env,  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    missing = run("--bag", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2 and "nope" in missing.stderr
    bad = run("--bag", str(outputs["seq"] / "bag"), "--out", str(tmp_path / "o"), "--set", "depth_source=lidar")
    assert bad.returncode == 2 and "depth_source" in bad.stderr and "lidar" in bad.stderr
