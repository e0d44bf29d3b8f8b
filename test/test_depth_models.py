"""DepthNet, PoseNet, losses, view synthesis and checkpoints: shapes and behaviour on CPU."""
import numpy as np
import pytest
import torch

from occtrack_ros.geometry import make_pose, relative_pose
from occtrack_ros.geometry.camera import pixel_grid
from occtrack_ros.models.depth_pose import (
    SSIM,
    CollapseThresholds,
    DepthNet,
    DepthNetConfig,
    PhotometricConfig,
    PhotometricError,
    PoseNet,
    PoseNetConfig,
    ViewSynthesis,
    collapse_flags,
    depth_cv,
    disp_to_depth,
    edge_aware_smoothness,
    load_depth_pose,
    reprojection_loss,
    save_depth_pose,
)
from occtrack_ros.models.depth_pose.objective import DepthPoseObjective


def test_depthnet_multiscale_shapes_any_batch():
    net = DepthNet()
    for B in (1, 3):
        disps = net(torch.rand(B, 3, 64, 96))
        assert [tuple(d.shape) for d in disps] == [(B, 1, 64 // 2 ** s, 96 // 2 ** s) for s in range(4)]
        assert all(((d >= 0) & (d <= 1)).all() for d in disps)
    with pytest.raises(AssertionError, match="multiples of 32"):
        net(torch.rand(1, 3, 50, 64))


def test_disp_to_depth_range():
    _, depth = disp_to_depth(torch.tensor([0.0, 1.0]), 0.1, 100.0)
    torch.testing.assert_close(depth, torch.tensor([100.0, 0.1]))


def test_posenet_outputs_small_motion_at_init_and_identity_transform_shape():
    net = PoseNet()
    a = torch.rand(2, 3, 64, 64)
    aa, t = net(a, a)
    assert aa.shape == (2, 3) and t.shape == (2, 3)
    assert aa.abs().max() < 0.05 and t.abs().max() < 0.05  # 0.01 output scaling
    T = net.transform(a, torch.rand(2, 3, 64, 64))
    assert T.shape == (2, 4, 4)
    torch.testing.assert_close(T[:, 3], torch.tensor([[0.0, 0, 0, 1]] * 2))


def test_ssim_and_photometric_error_zero_for_identical_images_and_grow_with_noise():
    x = torch.rand(2, 3, 32, 32)
    err = PhotometricError(0.85)
    assert err(x, x).abs().max() < 1e-5
    small = err(x + 0.01 * torch.randn_like(x), x).mean()
    large = err(x + 0.2 * torch.randn_like(x), x).mean()
    assert 0 < small < large
    assert SSIM()(x, 1 - x).mean() > 0.2
    l1_only = PhotometricError(0.0)
    torch.testing.assert_close(l1_only(x + 0.1, x), torch.full((2, 1, 32, 32), 0.1), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="alpha"):
        PhotometricError(1.5)


def test_edge_aware_smoothness_prefers_disparity_edges_at_image_edges():
    img = torch.zeros(1, 3, 16, 16)
    img[..., 8:] = 1.0  # image edge between columns 7 and 8
    disp_aligned = torch.ones(1, 1, 16, 16)
    disp_aligned[..., 8:] = 2.0
    disp_misaligned = torch.ones(1, 1, 16, 16)
    disp_misaligned[..., 4:] = 2.0
    assert edge_aware_smoothness(disp_aligned, img) < edge_aware_smoothness(disp_misaligned, img)


def test_min_reprojection_takes_best_source_and_automask_drops_static_pixels():
    err = PhotometricError(0.85)
    target = torch.rand(1, 3, 16, 16)
    good, bad = target.clone(), torch.rand(1, 3, 16, 16)
    valid = torch.ones(1, 1, 16, 16, dtype=torch.bool)
    cfg = PhotometricConfig(automask=False)
    loss_min, _ = reprojection_loss(err, target, [good, bad], [valid, valid], [bad, bad], cfg)
    assert loss_min < 1e-4
    loss_mean, _ = reprojection_loss(err, target, [good, bad], [valid, valid], [bad, bad],
                                     PhotometricConfig(automask=False, min_reprojection=False))
    assert loss_mean > 0.05
    # the source is already identical to the target (static pixels): auto-masking removes them
    _, mask = reprojection_loss(err, target, [bad], [valid], [target.clone()], PhotometricConfig())
    assert mask.sum() == 0
    # out-of-view reprojections are never chosen when another source sees the pixel
    invalid = torch.zeros_like(valid)
    loss_inv, m = reprojection_loss(err, target, [good, bad], [invalid, valid], [bad, bad], cfg)
    assert loss_inv > 0.05 and m.all()


def test_collapse_flags():
    flat = torch.full((2, 1, 8, 8), 3.0)
    varied = torch.rand(2, 1, 8, 8) * 10 + 1
    assert depth_cv(flat) < 1e-6 and depth_cv(varied) > 0.2
    th = CollapseThresholds()
    assert collapse_flags(0.01, 0.01, th) == {"depth_collapsed": True, "pose_collapsed": False}
    assert collapse_flags(0.3, 1e-6, th) == {"depth_collapsed": False, "pose_collapsed": True}


def _render_planes(T_world_cam, K, height, width):
    """Ray-cast a textured wall (z=10) and a nearer textured square (z=4) seen by one camera."""
    pix = pixel_grid(height, width).double().numpy()  # (3, H*W)
    rays_cam = np.linalg.inv(K) @ pix  # z = 1
    R, c = T_world_cam[:3, :3], T_world_cam[:3, 3]
    rays = R @ rays_cam  # (3, N) world directions
    best_t = np.full(rays.shape[1], np.inf)
    colour = np.zeros((3, rays.shape[1]))
    planes = [(10.0, (-50, 50), lambda X, Y: np.stack([0.5 + 0.4 * np.sin(1.3 * X) * np.cos(1.1 * Y),
                                                       0.5 + 0.4 * np.cos(0.9 * X + 0.5 * Y),
                                                       0.5 + 0.3 * np.sin(0.7 * Y - 0.4 * X)])),
              (4.0, (-0.8, 0.8), lambda X, Y: np.stack([0.5 + 0.45 * np.sin(4.0 * X + 1),
                                                        0.5 + 0.45 * np.cos(3.0 * Y),
                                                        0.5 + 0.4 * np.sin(3.5 * (X + Y))]))]
    for z, (lo, hi), tex in planes:
        t = (z - c[2]) / rays[2]
        X, Y = c[0] + t * rays[0], c[1] + t * rays[1]
        hit = (t > 0) & (t < best_t) & (X >= lo) & (X <= hi) & (Y >= lo) & (Y <= hi)
        best_t[hit] = t[hit]
        colour[:, hit] = tex(X[hit], Y[hit])
    # t along rays with unit camera z is the optical depth of the hit
    depth = (best_t).reshape(1, 1, height, width)
    return torch.tensor(colour.reshape(1, 3, height, width), dtype=torch.float32), \
        torch.tensor(depth, dtype=torch.float32)


def test_warping_with_true_depth_and_pose_reproduces_the_target():
    H = W = 64
    K = np.array([[55.0, 0, 32.0], [0, 55.0, 32.0], [0, 0, 1]])
    T_world_tgt = make_pose(t=[0.0, 0.0, 0.0])
    pan = np.deg2rad(3.0)
    R = np.array([[np.cos(pan), 0, np.sin(pan)], [0, 1, 0], [-np.sin(pan), 0, np.cos(pan)]])
    T_world_src = make_pose(R, [0.4, 0.05, 0.3])
    target, depth = _render_planes(T_world_tgt, K, H, W)
    source, _ = _render_planes(T_world_src, K, H, W)
    T_src_tgt = torch.tensor(relative_pose(T_world_src, T_world_tgt), dtype=torch.float32)[None]
    Kt = torch.tensor(K, dtype=torch.float32)[None]
    synth = ViewSynthesis(H, W)
    warped, valid = synth(source, depth, Kt, T_src_tgt)
    err = (warped - target).abs().mean(1)[0]  # (H, W)
    v = valid[0, 0]
    assert v.float().mean() > 0.7
    # occlusion (background behind the square revealed in the source) and edges: a few % of pixels
    assert torch.quantile(err[v], 0.9) < 0.03
    identity, _ = synth(source, depth, Kt, torch.eye(4)[None])
    assert (identity - target).abs().mean(1)[0][v].median() > 5 * err[v].median()
    # the objective is lower with the true pose than with no motion (PoseNet replaced by a fixed one)

    class FixedPose(torch.nn.Module):
        def __init__(self, T):
            super().__init__()
            from scipy.spatial.transform import Rotation
            self.aa = torch.tensor(Rotation.from_matrix(T[:3, :3]).as_rotvec(), dtype=torch.float32)[None]
            self.t = torch.tensor(T[:3, 3], dtype=torch.float32)[None]

        def forward(self, target, source):
            return self.aa, self.t

    obj = DepthPoseObjective(H, W, PhotometricConfig(automask=False))
    loss_true, _ = _plane_free_loss(obj, FixedPose(T_src_tgt[0].double().numpy()), target, source, depth, Kt)
    loss_zero, _ = _plane_free_loss(obj, FixedPose(np.eye(4)), target, source, depth, Kt)
    assert loss_true < 0.5 * loss_zero


def _plane_free_loss(obj, pose, target, source, depth, K):
    """The objective's reprojection term with a given depth map (DepthNet bypassed)."""
    aa, t = pose(target, source)
    from occtrack_ros.geometry import axis_angle_to_matrix
    T = axis_angle_to_matrix(aa, t)
    warped, valid = obj.synth(source, depth, K, T)
    return reprojection_loss(obj.error, target, [warped], [valid], [source], obj.config)


def test_objective_backpropagates_into_both_nets():
    H = W = 64
    dnet, pnet = DepthNet(), PoseNet()
    obj = DepthPoseObjective(H, W)
    tgt = torch.rand(2, 3, H, W)
    K = torch.tensor([[55.0, 0, 32.0], [0, 55.0, 32.0], [0, 0, 1]]).expand(2, 3, 3)
    loss, stats = obj(dnet, pnet, tgt, [torch.rand(2, 3, H, W), torch.rand(2, 3, H, W)], K)
    loss.backward()
    assert torch.isfinite(loss)
    assert stats["depth"].shape == (2, 1, H, W) and stats["translation"].shape == (4, 3)
    assert dnet.heads["0"].weight.grad.abs().sum() > 0
    assert pnet.head.weight.grad.abs().sum() > 0
    loss_p, stats_p = obj(None, pnet, tgt, [torch.rand(2, 3, H, W)], K, plane_depth=10.0)
    assert torch.all(stats_p["depth"] == 10.0)


def test_checkpoint_round_trip_and_refuses_mismatched_shape(tmp_path):
    dnet, pnet = DepthNet(), PoseNet()
    path = tmp_path / "dp.pt"
    save_depth_pose(path, dnet, pnet, meta={"height": 64, "width": 64})
    d2, p2, meta = load_depth_pose(path)
    assert meta["height"] == 64
    x = torch.rand(1, 3, 64, 64)
    dnet.eval()
    torch.testing.assert_close(d2(x)[0], dnet(x)[0])
    with pytest.raises(ValueError, match="enc_channels"):
        load_depth_pose(path, depth_config=DepthNetConfig(enc_channels=(8, 16, 32, 64, 64)))
    with pytest.raises(ValueError, match="channels"):
        load_depth_pose(path, pose_config=PoseNetConfig(channels=(8, 8)))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        load_depth_pose(bad)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_depth_pose(tmp_path / "missing.pt")


def test_plane_sweep_prior_prefers_true_translation_over_rotation_only():
    H = W = 64
    K = np.array([[55.0, 0, 32.0], [0, 55.0, 32.0], [0, 0, 1]])
    target, _ = _render_planes(make_pose(), K, H, W)
    source, _ = _render_planes(make_pose(t=[0.5, 0.0, 0.0]), K, H, W)
    T_true = relative_pose(make_pose(t=[0.5, 0.0, 0.0]), make_pose())
    Kt = torch.tensor(K, dtype=torch.float32)[None]

    class FixedPose(torch.nn.Module):
        def __init__(self, t):
            super().__init__()
            self.t = torch.tensor(t, dtype=torch.float32)[None]

        def forward(self, target, source):
            return torch.zeros(1, 3), self.t

    obj = DepthPoseObjective(H, W, PhotometricConfig(automask=False))
    sweep = [2.0, 4.0, 10.0, 25.0]
    loss_true, stats = obj(None, FixedPose(T_true[:3, 3]), target, [source], Kt, plane_depth=sweep)
    loss_still, _ = obj(None, FixedPose([0.0, 0.0, 0.0]), target, [source], Kt, plane_depth=sweep)
    assert loss_true < 0.5 * loss_still
    assert stats["depth"].shape == (1, 1, H, W)


def test_posenet_is_antisymmetric_in_its_inputs():
    net = PoseNet()
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    aa_ab, t_ab = net(a, b)
    aa_ba, t_ba = net(b, a)
    torch.testing.assert_close(aa_ab, -aa_ba)
    torch.testing.assert_close(t_ab, -t_ba)
    same_aa, same_t = net(a, a)
    assert same_aa.abs().max() == 0 and same_t.abs().max() == 0


def test_local_contrast_normalise_removes_contrast_and_offset():
    from occtrack_ros.models.depth_pose.losses import local_contrast_normalise

    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    faint = 0.5 + 0.08 * (x - 0.5)  # the far wall's 8 % contrast
    a, b = local_contrast_normalise(x, 7, 1e-4), local_contrast_normalise(faint, 7, 1e-4)
    assert torch.allclose(a, b, atol=1e-2)
    # flat images stay flat (the eps floor) instead of amplifying nothing into noise
    flat = local_contrast_normalise(torch.full((1, 3, 16, 16), 0.3), 7, 0.01)
    assert torch.allclose(flat, torch.full_like(flat, 0.5))
    with pytest.raises(ValueError, match="odd"):
        local_contrast_normalise(x, 4)


def test_contrast_normalised_error_sees_a_low_contrast_shift():
    """A 1-pixel misalignment of a faint texture: raw SSIM + L1 barely notices, the normalised one does."""
    from occtrack_ros.models.depth_pose.losses import local_contrast_normalise

    torch.manual_seed(1)
    tex = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 70, 70), 3, 1)  # smooth-ish texture, 68 px
    faint = 0.5 + 0.08 * (tex - 0.5)
    a, b = faint[..., 2:66, 2:66], faint[..., 2:66, 3:67]
    err = PhotometricError(0.85)
    raw = float(err(b, a).mean())
    lcn = float(err(local_contrast_normalise(b), local_contrast_normalise(a)).mean())
    full = float(err(tex[..., 2:66, 3:67], tex[..., 2:66, 2:66]).mean())
    assert raw < 0.25 * full  # SSIM's constants swamp the faint texture
    assert lcn > 0.5 * full


def test_direct_refinement_recovers_the_true_pose_from_zero_motion():
    from occtrack_ros.geometry.rotation import axis_angle_to_matrix
    from occtrack_ros.models.depth_pose.refine import RefineConfig, refine_pose

    H = W = 64
    K = np.array([[55.0, 0, 32.0], [0, 55.0, 32.0], [0, 0, 1]])
    pan = np.deg2rad(1.0)
    R = np.array([[np.cos(pan), 0, np.sin(pan)], [0, 1, 0], [-np.sin(pan), 0, np.cos(pan)]])
    target, depth = _render_planes(make_pose(t=[0.0, 0.0, 0.0]), K, H, W)
    source, _ = _render_planes(make_pose(R, [0.15, 0.02, 0.1]), K, H, W)
    T_true = relative_pose(make_pose(R, [0.15, 0.02, 0.1]), make_pose(t=[0.0, 0.0, 0.0]))
    Kt = torch.tensor(K, dtype=torch.float32)[None]
    zero = torch.zeros(1, 3)
    aa, t = refine_pose(target, source, depth, Kt, zero, zero, RefineConfig(iters=30))
    T = axis_angle_to_matrix(aa, t)[0].double().numpy()
    rot_err = np.degrees(np.arccos(np.clip((np.trace(T[:3, :3].T @ T_true[:3, :3]) - 1) / 2, -1, 1)))
    assert rot_err < 0.2  # zero motion is 1 degree off
    cos = T[:3, 3] @ T_true[:3, 3] / (np.linalg.norm(T[:3, 3]) * np.linalg.norm(T_true[:3, 3]))
    assert np.degrees(np.arccos(cos)) < 25.0  # zero motion has no direction (90 degrees expected)
    # a larger budget settles at the same minimum (L-BFGS wandered: 0.27 / 0.47 / 0.095 deg at 10 / 30 /
    # 60 iterations on an Intel Xeon)
    for budget in (10, 60):
        aa_b, t_b = refine_pose(target, source, depth, Kt, zero, zero, RefineConfig(iters=budget))
        assert np.degrees(float((aa_b - aa).norm())) < 0.02, f"{budget} steps moved the answer"
    # iters=0 leaves the guess untouched
    aa0, t0 = refine_pose(target, source, depth, Kt, zero, zero, RefineConfig(iters=0))
    assert torch.all(aa0 == 0) and torch.all(t0 == 0)
    # the training optimiser (L-BFGS, `occtrack train depth-pose --refine-optimizer lbfgs`) also leaves
    # zero motion far behind; its exact answer depends on the budget and the CPU, so only the bound
    aa_l, t_l = refine_pose(target, source, depth, Kt, zero, zero, RefineConfig(iters=30, optimizer="lbfgs"))
    T_l = axis_angle_to_matrix(aa_l, t_l)[0].double().numpy()
    rot_l = np.degrees(np.arccos(np.clip((np.trace(T_l[:3, :3].T @ T_true[:3, :3]) - 1) / 2, -1, 1)))
    assert rot_l < 0.6, rot_l
    with pytest.raises(ValueError, match="optimizer"):
        RefineConfig(optimizer="adam")


def test_refinement_jacobian_matches_autograd_through_the_projection():
    """The Levenberg-Marquardt steps use an analytic d grid / d pose; it must equal autograd's."""
    from occtrack_ros.geometry.camera import BackprojectDepth, Project3D
    from occtrack_ros.geometry.rotation import axis_angle_to_matrix
    from occtrack_ros.models.depth_pose.refine import _grid_jacobian

    torch.manual_seed(0)
    B, h, w = 2, 6, 7
    K = torch.tensor([[9.0, 0, 3.5], [0, 8.0, 3.0], [0, 0, 1]]).expand(B, 3, 3).clone()
    points = BackprojectDepth(h, w)(1.0 + torch.rand(B, 1, h, w), torch.linalg.inv(K))
    x = torch.tensor([[0.01, -0.02, 0.005, 0.05, 0.01, -0.03], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    project = Project3D(h, w)
    grid = lambda v: project(points.double(), K.double(), axis_angle_to_matrix(v[:, :3], v[:, 3:]))[0]  # noqa: E731
    full = torch.autograd.functional.jacobian(grid, x)  # (B, h, w, 2, B, 6)
    expected = torch.stack([full[b, ..., b, :] for b in range(B)]).reshape(B, h * w, 2, 6).permute(0, 2, 3, 1)
    got = _grid_jacobian(points.double(), K.double(), x, h, w)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-8)


def test_objective_with_refinement_trains_depth_by_warping_and_pose_by_regression():
    from occtrack_ros.models.depth_pose.refine import RefineConfig

    H = W = 64
    dnet, pnet = DepthNet(), PoseNet()
    obj = DepthPoseObjective(H, W, PhotometricConfig(contrast_normalise=True))
    tgt = torch.rand(2, 3, H, W)
    K = torch.tensor([[55.0, 0, 32.0], [0, 55.0, 32.0], [0, 0, 1]]).expand(2, 3, 3)
    srcs = [torch.rand(2, 3, H, W), torch.rand(2, 3, H, W)]
    loss, stats = obj(dnet, pnet, tgt, srcs, K, refine=RefineConfig(iters=3), pose_distill=10.0)
    loss.backward()
    assert torch.isfinite(loss) and stats["translation"].shape == (4, 3)
    assert dnet.heads["0"].weight.grad.abs().sum() > 0
    assert pnet.head.weight.grad.abs().sum() > 0  # through the regression onto the refined motion
    pnet.zero_grad()
    dnet.zero_grad()
    loss, _ = obj(dnet, pnet, tgt, srcs, K, refine=RefineConfig(iters=3), pose_distill=0.0)
    loss.backward()
    assert pnet.head.weight.grad is None or pnet.head.weight.grad.abs().sum() == 0
