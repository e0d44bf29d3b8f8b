"""Image-guided edge refinement of learned depth (joint weighted median), on hand-built cases."""
import numpy as np
import pytest
import torch

from occtrack_ros.depth import make_depth_source
from occtrack_ros.depth.edge_refine import EdgeRefineConfig, joint_weighted_median
from occtrack_ros.depth.learned import LearnedNets
from occtrack_ros.models.depth_pose import DepthNet, PoseNet, save_depth_pose
from occtrack_ros.types import Frame


def _pillar_scene(H=32, W=48, edge=20, ramp=3, seed=0):
    """A near pillar (x < edge, 4 m, brown) against a far wall (25 m, grey-green), faint texture on both.

    The 'predicted' depth has the soft ramp DepthNet puts on the wall side: ``ramp`` pixels going
    linearly (in log depth) from the pillar's depth to the wall's. The filter snaps ramps narrower
    than its radius (a wider ramp holds the majority of its window).
    """
    rng = np.random.default_rng(seed)
    image = np.empty((H, W, 3))
    image[:, :edge] = (0.55, 0.45, 0.30)
    image[:, edge:] = (0.45, 0.55, 0.50)
    image += rng.normal(0, 0.01, image.shape)
    true = np.where(np.arange(W) < edge, 4.0, 25.0)[None].repeat(H, 0)
    pred = true.copy()
    steps = np.exp(np.linspace(np.log(4.0), np.log(25.0), ramp + 2)[1:-1])
    pred[:, edge:edge + ramp] = steps
    as_t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return as_t(image).permute(2, 0, 1)[None].clamp(0, 1), as_t(pred)[None, None], as_t(true)[None, None]


def test_a_soft_ramp_snaps_to_the_colour_edge():
    image, pred, true = _pillar_scene()
    out = joint_weighted_median(pred, image, EdgeRefineConfig(radius=5, step=1, sigma_colour=0.07, iters=2))
    assert out.shape == pred.shape
    raw_err = ((pred - true).abs() / true).mean().item()
    err = ((out - true).abs() / true).mean().item()
    assert raw_err > 0.03  # the ramp costs this much abs rel in the scene as built
    assert err < 0.01, f"abs rel after refinement {err:.4f} (raw {raw_err:.4f})"
    # every ramp pixel is back at the wall's depth, the pillar untouched
    torch.testing.assert_close(out[..., 20:23], true[..., 20:23], rtol=0.02, atol=0)
    torch.testing.assert_close(out[..., :20], true[..., :20], rtol=1e-5, atol=0)


def test_uniform_colour_keeps_a_smooth_slope_and_scale_commutes():
    H, W = 24, 24
    image = torch.full((1, 3, H, W), 0.5)
    depth = torch.exp(torch.linspace(1.0, 2.0, W)).view(1, 1, 1, W).repeat(1, 1, H, 1)
    cfg = EdgeRefineConfig(radius=3, step=1, sigma_colour=0.07, iters=2)
    out = joint_weighted_median(depth, image, cfg)
    # a symmetric window over a monotone slope: the median is the centre (away from the replicated border)
    torch.testing.assert_close(out[..., 6:-6, 6:-6], depth[..., 6:-6, 6:-6], rtol=1e-5, atol=0)
    torch.testing.assert_close(joint_weighted_median(7.5 * depth, image, cfg), 7.5 * out, rtol=1e-5, atol=0)


def test_batches_are_independent_and_zero_iterations_is_identity():
    a_img, a_dep, _ = _pillar_scene(seed=1)
    b_img, b_dep, _ = _pillar_scene(seed=2, edge=30, ramp=2)
    cfg = EdgeRefineConfig(radius=4, step=1, iters=1)
    both = joint_weighted_median(torch.cat([a_dep, b_dep]), torch.cat([a_img, b_img]), cfg)
    torch.testing.assert_close(both[:1], joint_weighted_median(a_dep, a_img, cfg))
    torch.testing.assert_close(both[1:], joint_weighted_median(b_dep, b_img, cfg))
    assert joint_weighted_median(a_dep, a_img, EdgeRefineConfig(iters=0)) is a_dep


def test_bad_inputs_raise_clear_errors():
    image, pred, _ = _pillar_scene()
    with pytest.raises(ValueError, match="guide image"):
        joint_weighted_median(pred, image[..., :-1])
    with pytest.raises(ValueError, match="radius"):
        EdgeRefineConfig(radius=0)


def test_learned_source_refines_unless_switched_off(tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "dp.pt"
    save_depth_pose(weights, DepthNet(), PoseNet(), meta={"height": 64, "width": 64})
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 255, (6, 10, 3), dtype=np.uint8)  # 8x8-pixel patches of one colour each
    frame = Frame(image=blocks.repeat(8, axis=0).repeat(8, axis=1), index=0)
    raw_nets = LearnedNets(weights, edge_refine=False)
    raw = raw_nets.depth(frame)
    refined = LearnedNets(weights).depth(frame)
    assert refined.shape == raw.shape == (1, 1, 64, 64)
    assert not torch.allclose(refined, raw)  # an untrained net's speckle inside a patch is smoothed away
    image = torch.from_numpy(frame.image).permute(2, 0, 1)[None].float() / 255
    image = torch.nn.functional.interpolate(image, size=(64, 64), mode="bilinear", align_corners=False)
    torch.testing.assert_close(refined, joint_weighted_median(raw, image))
    off = make_depth_source("learned", weights, edge_refine=False).estimate(frame, None).depth
    on = make_depth_source("learned", weights).estimate(frame, None).depth
    assert off.shape == on.shape == (48, 80) and not np.allclose(off, on)


def test_self_distillation_is_zero_on_a_sharp_map_and_pulls_a_ramp_to_the_edge():
    from occtrack_ros.models.depth_pose.objective import self_distillation

    image, pred, true = _pillar_scene(H=32, W=64, ramp=3)
    assert self_distillation(true, image).item() < 1e-6  # a map with sharp edges is its own teacher
    ramp = pred.clone().requires_grad_(True)
    loss = self_distillation(ramp, image)
    assert loss.item() > 0.01
    loss.backward()
    # only ramp pixels get a gradient, and it pushes them up towards the wall (log depth falls as loss falls)
    grad = ramp.grad[0, 0]
    assert grad[:, 20:23].lt(0).all()
    assert grad[:, :20].abs().max() == 0 and grad[:, 30:].abs().max() == 0


def test_objective_adds_the_weighted_self_distillation_term_only_when_depth_trains():
    from occtrack_ros.models.depth_pose import PhotometricConfig
    from occtrack_ros.models.depth_pose.objective import DepthPoseObjective, self_distillation

    torch.manual_seed(0)
    H = W = 64
    dnet, pnet = DepthNet().eval(), PoseNet().eval()
    obj = DepthPoseObjective(H, W, PhotometricConfig(automask=False), loss_scales=2)
    tgt, srcs = torch.rand(2, 3, H, W), [torch.rand(2, 3, H, W), torch.rand(2, 3, H, W)]
    K = torch.tensor([[55.0, 0, 32.0], [0, 55.0, 32.0], [0, 0, 1]]).expand(2, 3, 3)
    base, _ = obj(dnet, pnet, tgt, srcs, K)
    with_term, _ = obj(dnet, pnet, tgt, srcs, K, edge_distill=0.5)
    depths = [dnet.to_depth(d, (H, W)) for d in dnet(tgt)[:2]]
    expected = 0.5 * torch.stack([self_distillation(d, tgt) for d in depths]).mean()
    assert expected.item() > 0
    torch.testing.assert_close(with_term - base, expected, rtol=1e-4, atol=1e-6)
    dnet.requires_grad_(False)  # frozen depth (the pose stage): the term is skipped
    frozen, _ = obj(dnet, pnet, tgt, srcs, K, edge_distill=0.5)
    torch.testing.assert_close(frozen, base)


def _faint_object_scene(H=40, W=40, size=5, contrast=0.06):
    """A wall (25 m) with a size x size object (10 m) whose colour differs from it by ``contrast`` (RGB)."""
    image = torch.full((1, 3, H, W), 0.5)
    depth = torch.full((1, 1, H, W), 25.0)
    y0 = x0 = (H - size) // 2
    image[:, 0, y0:y0 + size, x0:x0 + size] += contrast
    depth[..., y0:y0 + size, x0:x0 + size] = 10.0
    return image, depth


def test_default_refinement_keeps_a_small_faint_object_the_teacher_settings_erase():
    """Why the inference default is a small window (weights/depth_pose.md, session 8).

    The sharpen stage's teacher (radius 9, step 3, sigma 0.05, 2 passes) lets a wide window of a
    similar-coloured wall outvote a 5x5 object; the default keeps the object at its depth.
    """
    from occtrack_ros.models.depth_pose.objective import TEACHER_REFINE

    image, depth = _faint_object_scene()
    kept = joint_weighted_median(depth, image)
    torch.testing.assert_close(kept, depth)
    erased = joint_weighted_median(depth, image, TEACHER_REFINE)
    assert (erased[..., 18:21, 18:21] > 20).all(), "the teacher's wide window no longer erases the object"


def test_sharpen_teacher_is_pinned_to_the_settings_the_shipped_weights_were_trained_with():
    """Retuning inference-time refinement must not change the training objective (bit-for-bit regeneration)."""
    from occtrack_ros.models.depth_pose.objective import TEACHER_REFINE, self_distillation

    assert TEACHER_REFINE == EdgeRefineConfig(radius=9, step=3, sigma_colour=0.05, iters=2)
    image, pred, _ = _pillar_scene()
    expected = (pred.log() - joint_weighted_median(pred, image, TEACHER_REFINE).log()).abs().mean()
    torch.testing.assert_close(self_distillation(pred, image), expected)
    assert not torch.allclose(joint_weighted_median(pred, image, TEACHER_REFINE), joint_weighted_median(pred, image))
