"""Depth sources: topic / learned / pretrained, odometry replacement and metric scale."""
import numpy as np
import pytest
import torch

from occtrack_ros.depth import make_depth_source
from occtrack_ros.depth.learned import LearnedNets
from occtrack_ros.depth.scale import ScaleEstimator
from occtrack_ros.geometry import make_pose, relative_pose
from occtrack_ros.models.depth_pose import DepthNet, PoseNet, save_depth_pose
from occtrack_ros.types import Frame


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("dp") / "dp.pt"
    save_depth_pose(path, DepthNet(), PoseNet(), meta={"height": 64, "width": 64})
    return path


def _frames(with_depth=True, with_odom=True):
    rng = np.random.default_rng(0)
    out = []
    for i in range(3):
        T = make_pose(t=[0.05 * i, 0.0, 0.02 * i]) if with_odom else None
        depth = rng.uniform(2, 20, (48, 80)).astype(np.float32) if with_depth else None
        out.append(Frame(image=rng.integers(0, 255, (48, 80, 3), dtype=np.uint8), index=i, depth=depth,
                         T_world_cam=T))
    return out


def test_scale_estimator_log_ema_and_ignores_standstill():
    s = ScaleEstimator(momentum=0.5, min_metric=0.01)
    assert s.scale is None
    assert s.update(0.001, 0.1) is None  # robot stands still: no measurement
    assert s.update(0.2, 0.1) == pytest.approx(2.0)
    assert s.update(0.8, 0.1) == pytest.approx(4.0)  # exp(0.5 ln 2 + 0.5 ln 8)
    with pytest.raises(ValueError, match="momentum"):
        ScaleEstimator(momentum=1.0)


def test_topic_source_uses_sensor_depth_and_odometry(weights):
    src = make_depth_source("topic", weights)
    f = _frames()
    out = src.estimate(f[1], f[0])
    assert out.is_metric
    np.testing.assert_array_equal(out.depth, f[1].depth)
    np.testing.assert_allclose(out.T_prev_cur, relative_pose(f[0].T_world_cam, f[1].T_world_cam))
    assert src.estimate(f[0], None).T_prev_cur is None
    # no odometry: PoseNet fills in the motion, made metric through the depth ratio
    g = _frames(with_odom=False)
    out = src.estimate(g[1], g[0])
    assert out.T_prev_cur.shape == (4, 4) and src.motion.scale.scale is not None
    with pytest.raises(ValueError, match="topic"):
        src.estimate(_frames(with_depth=False)[1], None)


def test_learned_source_up_to_scale_then_metric_from_odometry(weights):
    g = _frames(with_depth=False, with_odom=False)
    src = make_depth_source("learned", weights)
    first = src.estimate(g[0], None)
    assert first.depth.shape == (48, 80) and first.depth.dtype == np.float32 and first.T_prev_cur is None
    assert not first.is_metric and np.all(first.depth > 0)
    second = src.estimate(g[1], g[0])
    assert second.T_prev_cur.shape == (4, 4) and not second.is_metric

    f = _frames(with_depth=False)
    src = make_depth_source("learned", weights)
    out = src.estimate(f[1], f[0])
    assert out.is_metric
    np.testing.assert_allclose(out.T_prev_cur, relative_pose(f[0].T_world_cam, f[1].T_world_cam))
    nets = LearnedNets(weights)
    t_pred = np.linalg.norm(nets.motion(f[1], f[0])[:3, 3])
    t_odo = np.linalg.norm(out.T_prev_cur[:3, 3])
    raw = make_depth_source("learned", weights).estimate(f[1], None).depth
    np.testing.assert_allclose(out.depth, raw * t_odo / t_pred, rtol=1e-4)


def test_unknown_mode_and_missing_weights():
    with pytest.raises(ValueError, match="bogus"):
        make_depth_source("bogus")
    src = make_depth_source("learned", "/nonexistent/dp.pt")
    with pytest.raises(FileNotFoundError, match="nonexistent"):
        src.estimate(_frames()[0], None)


@pytest.fixture(scope="module")
def tiny_depth_anything(tmp_path_factory):
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    backbone = Dinov2Config(image_size=28, patch_size=14, hidden_size=32, num_hidden_layers=4,
                            num_attention_heads=2, intermediate_size=64,
                            out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                                 head_hidden_size=8, reassemble_hidden_size=32, patch_size=14)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-depth-anything")
    DepthAnythingForDepthEstimation(config).save_pretrained(path)
    processor = DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=False, ensure_multiple_of=14)
    processor.save_pretrained(path)
    return path


def test_pretrained_source_loads_a_saved_depth_anything(tiny_depth_anything, weights):
    from occtrack_ros.depth.sources import PretrainedDepthSource

    src = make_depth_source("pretrained", tiny_depth_anything)
    f = _frames(with_depth=False)
    out = src.estimate(f[1], f[0])
    assert out.depth.shape == (48, 80) and np.isfinite(out.depth).all() and (out.depth > 0).all()
    assert not out.is_metric  # relative Depth Anything predicts inverse depth up to scale
    np.testing.assert_allclose(out.T_prev_cur, relative_pose(f[0].T_world_cam, f[1].T_world_cam))
    g = _frames(with_depth=False, with_odom=False)
    src_no_odom = PretrainedDepthSource(tiny_depth_anything, pose_weights=weights)
    assert src_no_odom.estimate(g[1], g[0]).T_prev_cur.shape == (4, 4)
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        make_depth_source("pretrained", "/tmp/no-such-model-dir")


def test_refined_checkpoints_polish_posenet_motion_unless_pose_refine_is_off(tmp_path):
    from occtrack_ros.types import CameraIntrinsics

    torch.manual_seed(0)
    path = tmp_path / "dp_refine.pt"
    save_depth_pose(path, DepthNet(), PoseNet(), meta={"height": 64, "width": 64, "refine": {"iters": 3}})
    intr = CameraIntrinsics.default_for(80, 48)
    f = [Frame(image=x.image, index=x.index, intrinsics=intr) for x in _frames(with_depth=False, with_odom=False)]
    raw = LearnedNets(path, pose_refine=False)
    refined = LearnedNets(path)
    T_raw, T_ref = raw.motion(f[1], f[0]), refined.motion(f[1], f[0])
    assert raw.refine is None and refined.refine.iters == 3
    np.testing.assert_allclose(refined.motion(f[1], f[0], refine=False), T_raw, atol=1e-6)
    assert not np.allclose(T_ref, T_raw, atol=1e-6)  # the alignment moved the pose
    # the node parameter reaches the nets through make_depth_source
    assert make_depth_source("learned", path, pose_refine=False).nets.pose_refine is False
    assert make_depth_source("learned", path).nets.pose_refine is True
