"""On a generated occlusion sequence: true depth + pose warp, train CLI and eval-depth end to end."""
import json

import numpy as np
import pytest
import torch

from occtrack_ros.data.sequence import load_sequence
from occtrack_ros.geometry import relative_pose
from occtrack_ros.models.depth_pose import ViewSynthesis, load_depth_pose


class _Result:
    def __init__(self, returncode, out, err):
        self.returncode, self.stdout, self.stderr = returncode, out, err


@pytest.fixture
def occtrack(capsys):
    """Run the occtrack CLI in-process (saves a torch import per call) and capture its output."""
    from occtrack_ros.cli import main

    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return _Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def seq_dir(tmp_path_factory):
    from occtrack_ros.cli import main

    out = tmp_path_factory.mktemp("occ") / "seq"
    assert main(["generate", "--preset", "occlusion", "--seed", "7", "--frames", "5", "--out", str(out),
                 "--quiet"]) == 0
    return out


def _img(frame):
    return torch.from_numpy(frame.image).permute(2, 0, 1)[None].float() / 255.0


def test_true_depth_and_pose_warp_reproduces_generated_target(seq_dir):
    seq = load_sequence(seq_dir)
    K = torch.tensor(seq.intrinsics.K, dtype=torch.float32)[None]
    synth = ViewSynthesis(seq.intrinsics.height, seq.intrinsics.width)
    target, source = seq[0], seq[4]
    T = torch.tensor(relative_pose(source.T_world_cam, target.T_world_cam), dtype=torch.float32)[None]
    depth = torch.from_numpy(target.depth)[None, None]
    warped, valid = synth(_img(source), depth, K, T)
    err = (warped - _img(target)).abs().mean(1)[0][valid[0, 0]]
    unwarped, _ = synth(_img(source), depth, K, torch.eye(4)[None])
    err0 = (unwarped - _img(target)).abs().mean(1)[0][valid[0, 0]]
    assert valid.float().mean() > 0.9
    # residuals come from moving objects, disocclusions and border pixels only
    assert torch.quantile(err, 0.9) < 0.04
    assert torch.quantile(err, 0.9) < 0.5 * torch.quantile(err0, 0.9)


def test_train_cli_writes_checkpoint_metrics_and_eval_json(seq_dir, tmp_path, occtrack):
    ckpt, run_dir = tmp_path / "dp.pt", tmp_path / "run"
    res = occtrack("train", "depth-pose", "--seqs", seq_dir, "--train-seeds", "", "--size", 64, 64,
                    "--max-stride", 2, "--batch-size", 2, "--iters", "pose=2,depth=2,joint=2,sharpen=2",
                    "--check-every", 1,
                    "--collapse-depth-cv", 10.0, "--out", ckpt, "--run-dir", run_dir, "--threads", 1)
    assert res.returncode == 0, res.stderr
    assert "git" in res.stdout and "config:" in res.stdout
    # an impossible flatness threshold must be reported as depth collapse, in the log and in metrics.json
    assert "WARNING [collapse] stage=pose" in res.stdout + res.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [s["stage"] for s in metrics["stages"]] == ["pose", "depth", "joint", "sharpen"]
    assert any(e["kind"] == "depth_collapsed" for e in metrics["collapse_events"])
    assert metrics["collapsed"]["depth"] is True
    assert (run_dir / "loss.png").stat().st_size > 0
    depth_net, pose_net, meta = load_depth_pose(ckpt)
    assert (meta["height"], meta["width"]) == (64, 64)

    out = tmp_path / "eval.json"
    fig = tmp_path / "depth.png"
    res = occtrack("eval-depth", "--seq", seq_dir, "--json", out, "--weights", ckpt, "--threads", 1, "--figure", fig)
    assert res.returncode == 0, res.stderr
    import cv2
    # 4 frames x (image, truth, raw prediction, edge-refined prediction), 2x
    assert cv2.imread(str(fig)).shape == (4 * 128 * 2, 4 * 128 * 2, 3)

    result = json.loads(out.read_text())
    assert meta["refine"]["iters"] == 10 and meta["loss"]["contrast_normalise"] is True  # the defaults
    assert result["edge_refine"] is True
    for key in ("abs_rel", "delta1", "raw_abs_rel", "raw_delta1",
                "pose_rot_err_deg", "pose_trans_dir_err_deg", "zero_pose_rot_err_deg",
                "zero_pose_trans_dir_err_deg", "posenet_pose_rot_err_deg", "posenet_pose_trans_dir_err_deg"):
        assert np.isfinite(result[key]), key
    assert result["frames"] == 5 and result["pose_pairs"] == 4
    assert result["object_frames"] > 0 and np.isfinite(result["object_abs_rel"])  # the preset's objects are visible
    assert 0.0 <= result["delta1"] <= 1.0 and result["zero_pose_trans_dir_err_deg"] == 90.0


def test_train_cli_rejects_held_out_seeds_and_bad_stage(tmp_path, occtrack):
    res = occtrack("train", "depth-pose", "--train-seeds", "1000-1001", "--data-root", tmp_path)
    assert res.returncode == 2 and "held-out" in res.stderr
    res = occtrack("train", "depth-pose", "--stages", "pose,warp", "--data-root", tmp_path)
    assert res.returncode == 2 and "warp" in res.stderr


def test_bench_learned_depth_times_each_stage_with_the_shipped_weights(seq_dir):
    from occtrack_ros.commands.bench import bench_learned_depth

    report = bench_learned_depth(seq_dir, "cpu", frames=50)  # 5 frames: 3 warm-up, then the 1 left
    assert report["frames_timed"] == 1 and report["size"] == [128, 128]
    stages = report["stages_ms"]
    assert set(stages) == {"depthnet", "edge_refine", "motion"}
    assert all(stages[k]["mean"] > 0 for k in stages)
    assert report["total_ms"]["mean"] == pytest.approx(sum(stages[k]["mean"] for k in stages), abs=1e-2)


def test_depth_errors_on_object_pixels_use_the_whole_frame_scale():
    from occtrack_ros.commands.eval_depth import depth_errors

    gt = np.full((10, 10), 20.0)
    objects = np.zeros((10, 10), bool)
    objects[2:4, 2:4] = True  # 4 of 100 pixels
    gt[objects] = 5.0
    pred = 3.0 * gt  # the right shape, another scale
    pred[objects] *= 2.0  # objects twice too far
    a, d1, oa, od1 = depth_errors(pred, gt, objects)
    # the median (over all pixels) is the background's, so it sets the scale: background exact, objects x2
    assert (oa, od1) == (1.0, 0.0)
    assert a == 0.04 and d1 == 0.96
    assert depth_errors(pred, gt) == (a, d1)
    assert depth_errors(pred, gt, np.zeros_like(objects))[2:] == (None, None)
