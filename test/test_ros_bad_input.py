"""Bad input over real DDS: the node warns clearly (throttled, per kind) and keeps tracking.

One node for the module. Run 1 publishes 10 frames without camera_info; run 2 injects an
unsupported encoding, wrong-size depth, all-NaN and all-zero depth, a repeated and an
out-of-order stamp, and a bag-style loop (time jumps back). Start-up with a missing or corrupt
weights file must fail with a message naming the file.
"""
from __future__ import annotations

import subprocess

import pytest
from test_ros_support import (
    Proc,
    frame_index,
    generate,
    node_command,
    node_env,
    param_command,
    player_command,
    read_records,
    recorder_command,
)

SEED = 11
FRAMES = 40
FAULTS = {"encoding": 5, "depth_size": 8, "depth_nan": 11, "depth_zero": 14, "repeat": 17, "out_of_order": 20,
          "loop": 30}


@pytest.fixture(scope="module")
def run(tmp_path_factory, ros_env):
    tmp = tmp_path_factory.mktemp("bad_input")
    seq = generate(tmp / "seq", SEED, FRAMES)
    env = node_env(ros_env, seq)
    node = Proc(node_command("time_jump_reset:=0.5"), env, tmp / "node.log")
    rec = Proc(recorder_command(tmp / "rec.jsonl", idle=6.0), env, tmp / "rec.log")
    try:
        assert node.wait_for("tracking /image", 60), node.text()
        assert rec.wait_for("RECORDER ready", 30), rec.text()
        first = Proc(player_command(seq, "--frames", "10", "--fault", "no_camera_info"), env, tmp / "player1.log")
        assert first.wait_for("PLAYER done", 60), first.text()
        assert first.p.wait(timeout=30) == 0, first.text()
        first.stop()
        log_after_first = node.text()
        faults = [a for k, f in FAULTS.items() for a in ("--fault", f"{k}@{f}")]
        second = Proc(player_command(seq, *faults), env, tmp / "player2.log")
        assert second.wait_for("PLAYER done", 120), second.text()
        assert second.p.wait(timeout=30) == 0, second.text()
        second.stop()
        rec.p.wait(timeout=30)
        params = subprocess.run(param_command("/occtrack_tracker", "score_threshold=1.5", "score_threshold=0.6",
                                              "device=cuda", "sync_slop=-1.0"),
                                env=env, capture_output=True, text=True, timeout=60)
        from occtrack_ros.data.sequence import load_sequence

        sequence = load_sequence(seq, load_depth=False)
        yield {"frame_of": lambda stamp: frame_index(sequence, stamp), "log1": log_after_first, "log": node.text(),
               "alive": node.alive(),
               "records": read_records(tmp / "rec.jsonl")[0], "player": second.text(),
               "params": params.stdout + params.stderr}
    finally:
        rec.stop()
        node.stop()


def frames_published(run, run_index: int) -> list[int]:
    """0-based frames of the tracks messages of player run 1 or 2 (split where stamps jump back)."""
    frames = [run["frame_of"](r["stamp_ns"]) for r in run["records"]]
    split = next(i for i in range(1, len(frames)) if frames[i] < frames[i - 1])
    return frames[:split] if run_index == 1 else frames[split:]


def test_missing_camera_info_falls_back_and_tracks(run):
    assert "[camera_info] no camera_info received yet" in run["log1"] and "60 degree" in run["log1"]
    assert frames_published(run, 1) == list(range(10))


def test_node_survives_everything(run):
    assert run["alive"], run["log"][-3000:]
    assert "lockstep_timeouts=0" in run["player"], run["player"]


@pytest.mark.parametrize("key,needle", [
    ("image", "unsupported colour encoding 'yuv422_yuy2'"),
    ("depth_size", "depth size 64x64 differs from image size 128x128"),
    ("depth_invalid", "depth has no valid pixel (all NaN or zero)"),
    ("stamp_order", "repeated image stamp"),
    ("time_jump", "resetting the tracker"),
])
def test_each_bad_input_is_warned(run, key, needle):
    lines = [ln for ln in run["log"].splitlines() if f"[{key}]" in ln]
    assert lines and "WARN" in lines[0] and needle in run["log"], run["log"][-3000:]


def test_out_of_order_dropped_and_warnings_throttled(run):
    log = run["log"]
    status = [ln for ln in log.splitlines() if "status:" in ln][-1]
    # repeated and out-of-order share a key: the second is counted but not printed within 5 s
    assert "stamp_order=2" in status and "rejected=3" in status, status
    # depth_nan and depth_zero share a key: within the throttle period only the first is printed
    assert sum("[depth_invalid]" in ln for ln in log.splitlines()) == 1
    assert "resets=2" in status and "time_jump=2" in status, status  # run 2 starts back in time, then loops


def test_tracking_continues_after_each_fault(run):
    frames = frames_published(run, 2)
    rejected = {FAULTS["encoding"], FAULTS["repeat"], FAULTS["out_of_order"]}  # dropped, never tracked
    first_pass = frames[: frames.index(FAULTS["loop"]) + 1]
    assert first_pass == [f for f in range(FAULTS["loop"] + 1) if f not in rejected], first_pass
    assert frames[len(first_pass):] == list(range(FRAMES)), "after the loop every frame is tracked again"


@pytest.mark.parametrize("content", [None, b"this is not a checkpoint" * 10])
def test_missing_or_corrupt_weights_fail_at_start_naming_the_file(tmp_path, ros_env, content):
    path = tmp_path / "tracker_weights.pt"
    if content is not None:
        path.write_bytes(content)
    command = node_command(f"tracker_weights:={path}", detector="make_empty_detector")
    proc = subprocess.run(command, env=node_env(ros_env), capture_output=True, text=True, timeout=90)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert str(path) in out and "cannot start" in out, out
    assert ("not found" in out) == (content is None), out


def test_parameter_changes_are_validated_live(run):
    import json

    line = next((ln for ln in run["params"].splitlines() if ln.startswith("PARAMS ")), None)
    assert line, run["params"]
    out = json.loads(line[len("PARAMS "):])
    too_high, ok, read_only, negative, final = out
    assert not too_high["successful"] and "score_threshold" in too_high["reason"] and "1.5" in too_high["reason"]
    assert ok["successful"] and final["score_threshold"] == pytest.approx(0.6)
    assert not read_only["successful"] and "read-only" in read_only["reason"].lower()
    assert not negative["successful"] and "sync_slop" in negative["reason"]
