"""`occtrack train all` on a tiny generated bag: sensor-based skipping, interruption + resume, smoke schedule."""
from __future__ import annotations

import json
import shutil

import pytest

from occtrack_ros.cli import main as cli_main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 20-frame 64x64 occlusion sequence (training seed 5) with its rosbag2 recording."""
    out = tmp_path_factory.mktemp("tiny") / "occ-5"
    assert cli_main(["generate", "--seed", "5", "--out", str(out), "--frames", "20", "--width", "64",
                     "--height", "64", "--bag", "--quiet"]) == 0
    return out


SMOKE = ["--threads", "1", "--detector-steps", "20", "--detector-chunk", "10", "--detector-batch", "2",
         "--tracker-steps", "3", "--joint-steps", "3", "--joint-args", "--clip-len 6", "--seed", "0"]


def test_sensor_report_decides_the_depth_pose_skip(tiny, tmp_path):
    from occtrack_ros.training.all import sensor_report

    assert sensor_report(tiny / "bag", {})[0], "the generated bag records depth and odometry"
    ok, why = sensor_report(tiny / "bag", {"depth_topic": "/no/such/depth"})
    assert not ok and "/no/such/depth absent" in why
    assert sensor_report(tiny, {})[0], "the sequence directory has depth/ and poses.txt"
    no_depth = tmp_path / "nodepth"
    shutil.copytree(tiny, no_depth, ignore=shutil.ignore_patterns("depth", "bag"))
    ok, why = sensor_report(no_depth, {})
    assert not ok and "depth/ absent" in why


def test_interrupted_schedule_resumes_without_rerunning_finished_stages(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    # 1) Stopped after the detector, as an interruption would.
    assert cli_main(["train", "all", "--data", str(tiny / "bag"), "--out", str(run), "--stop-after", "detector",
                     *SMOKE]) == 0
    out = capsys.readouterr().out
    assert "[depth-pose] SKIPPED: the data has depth and odometry" in out
    status = json.loads((run / "status.json").read_text())
    assert status["depth-pose"]["state"] == "skipped"
    assert status["detector"]["state"] == "done" and status["detector"]["steps"] == 20
    assert "tracker" not in status and not (run / "bundle").exists()
    det_ckpt = run / "detector" / "checkpoint.pt"
    stamp = det_ckpt.stat().st_mtime_ns
    config = json.loads((run / "config.json").read_text())
    assert config["git_revision"] and config["split"]["train_frame_fraction"] == pytest.approx(0.8)

    # 2) Resumed: finished stages are not rerun, the rest runs, the bundle and metrics appear.
    assert cli_main(["train", "all", "--data", str(tiny / "bag"), "--out", str(run), "--resume", *SMOKE]) == 0
    out = capsys.readouterr().out
    assert "[detector] already done" in out and "[depth-pose] already skipped" in out
    assert "=== occtrack train detector" not in out
    assert det_ckpt.stat().st_mtime_ns == stamp, "the finished detector stage was rerun"
    status = json.loads((run / "status.json").read_text())
    assert [status[s]["state"] for s in ("depth-pose", "detector", "tracker", "joint")] == \
        ["skipped", "done", "done", "done"]
    assert status["tracker"]["via"] == "joint --freeze-detector"  # a bag: the tracker stage needs gt3d seeds
    for stage in ("detector", "tracker", "joint"):
        assert (run / "curves" / f"{stage}.png").stat().st_size > 1000
    metrics = json.loads((run / "metrics.json").read_text())
    held = metrics["held_out"]["final"]
    assert held["first_frame_fraction"] == pytest.approx(0.8) and "recon_mse" in held

    from occtrack_ros.training.bundle import load_bundle

    bundle = load_bundle(run / "bundle")
    assert bundle["depth_source"] == "topic" and bundle["pipeline"]["depth_weights"] is None
    assert bundle["files"]["detector"].read_bytes() == (run / "joint" / "detector.pt").read_bytes()

    # 3) The bundle drives the pipeline the node and `occtrack replay` use.
    from occtrack_ros.data.frames import open_frames
    from occtrack_ros.pipeline import Pipeline, PipelineConfig

    pipe = Pipeline(PipelineConfig(**bundle["pipeline"]))
    frame = next(iter(open_frames(tiny / "bag")))
    result = pipe.process(frame)
    assert result.output is not None


def test_depth_pose_runs_when_the_data_lacks_depth(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    rc = cli_main(["train", "all", "--data", str(tiny / "bag"), "--out", str(run), "--stages", "depth-pose",
                   "--depth-topic", "/no/such/depth", "--depth-iters", "pose=2,depth=2,joint=2,sharpen=2",
                   "--depth-args", "--batch-size 2 --check-every 1", "--threads", "1"])
    out = capsys.readouterr()
    assert rc == 0, out.err[-2000:]
    status = json.loads((run / "status.json").read_text())
    assert status["depth-pose"]["state"] == "done", out.err[-2000:]
    assert "SKIPPED" not in out.out
    assert (run / "depth-pose" / "depth_pose.pt").is_file()
    assert (run / "curves" / "depth-pose.png").is_file()


def test_held_out_seeds_are_refused_as_training_data(tmp_path, capsys):
    seq = tmp_path / "occ-1003"
    assert cli_main(["generate", "--seed", "1003", "--out", str(seq), "--frames", "4", "--width", "64",
                     "--height", "64", "--quiet"]) == 0
    assert cli_main(["train", "all", "--data", str(seq), "--out", str(tmp_path / "run"), "--stages",
                     "detector"]) == 2
    assert "seed 1003 is a held-out evaluation seed" in capsys.readouterr().err


def test_a_later_process_picks_the_gnn_not_the_adapters_resume_state(tmp_path):
    """The frozen-detector adapter keeps resume state in tracker/checkpoint.pt and the GNN in tracker.pt."""
    import argparse

    from occtrack_ros.training.all import _tracker_input
    from occtrack_ros.training.run_dir import RunDir

    run = RunDir(tmp_path / "run")
    (run.stage_dir("tracker") / "checkpoint.pt").write_bytes(b"resume state")
    (run.path / "tracker" / "tracker.pt").write_bytes(b"gnn")
    args = argparse.Namespace(init_tracker=None)
    assert _tracker_input(args, run, None) == run.path / "tracker" / "tracker.pt"
    (run.path / "tracker" / "tracker.pt").unlink()   # the tracker stage itself writes only checkpoint.pt
    assert _tracker_input(args, run, None) == run.path / "tracker" / "checkpoint.pt"


def test_bags_in_folders_of_the_same_name_get_distinct_exports(tmp_path):
    """`occtrack generate --bag` names every recording `bag/`: their exports must not share a directory."""
    from pathlib import Path

    from occtrack_ros.training.all import export_names

    srcs = [Path("/d/occlusion-0000/bag"), Path("/d/occlusion-0001/bag"), Path("/e/seq-7")]
    names = export_names(srcs)
    assert names == {srcs[0]: "occlusion-0000_bag", srcs[1]: "occlusion-0001_bag", srcs[2]: "seq-7"}
    clash = [Path("/a/x/bag"), Path("/b/x/bag")]
    assert len(set(export_names(clash).values())) == 2


def test_held_out_scores_are_those_of_occtrack_track(tmp_path):
    """train all's evaluation scores the rows `occtrack track` writes (the issue's contract) and the live rows."""
    import numpy as np

    from occtrack_ros.evaluation.metrics import SequenceInput, evaluate_sequences
    from occtrack_ros.evaluation.mot_io import read_gt
    from occtrack_ros.models.detector.checkpoint import DEFAULT_WEIGHTS as DETECTOR_WEIGHTS
    from occtrack_ros.tracking import DEFAULT_WEIGHTS as TRACKER_WEIGHTS
    from occtrack_ros.training.all import evaluate_weights

    seq = tmp_path / "occlusion-1004"
    assert cli_main(["generate", "--seed", "1004", "--out", str(seq), "--frames", "40", "--quiet"]) == 0
    m = evaluate_weights(DETECTOR_WEIGHTS["occlusion"], TRACKER_WEIGHTS, [seq])
    res = tmp_path / "res.txt"
    assert cli_main(["track", "--seq", str(seq), "--out", str(res), "--threads", "1"]) == 0
    rows = np.loadtxt(res, delimiter=",", ndmin=2)
    ref = evaluate_sequences([SequenceInput(seq.name, read_gt(seq / "gt" / "gt.txt"), rows, 40)])["combined"]
    for key in ("HOTA", "IDF1", "MOTA", "IDSW", "TP", "FP", "occlusion_recovery"):
        assert m["tracking"][key] == pytest.approx(ref[key]), key
    assert m["tracking_live"]["TP"] > 0 and m["fg_ari"] > 0.5


def test_offline_teacher_round_feeds_the_bundle(tmp_path):
    """--tracker-teacher offline: a second tracker round learns from the first one's offline rows; it is bundled."""
    import torch

    from occtrack_ros.training.all import OFFLINE_TEACHER_DIR
    from occtrack_ros.training.bundle import load_bundle

    seq = tmp_path / "data" / "occ-6"
    assert cli_main(["generate", "--seed", "6", "--out", str(seq), "--frames", "40", "--quiet"]) == 0
    run = tmp_path / "run"
    assert cli_main(["train", "all", "--data", str(seq), "--out", str(run), "--holdout", "0", "--stages", "tracker",
                     "--init-detector", "default", "--tracker-teacher", "offline", "--tracker-epochs", "1",
                     "--threads", "1", "--no-eval"]) == 0
    second = run / OFFLINE_TEACHER_DIR / "checkpoint.pt"
    extra = torch.load(second, map_location="cpu", weights_only=False)["extra"]
    assert extra["signals"]["pseudo_tracklets"] == "offline"
    assert extra["signals"]["teacher_weights"] == str(run / "tracker" / "checkpoint.pt")
    assert load_bundle(run / "bundle")["files"]["tracker"].read_bytes() == second.read_bytes()
