"""The self-supervised objective on a (target, sources) batch, shared by every training stage.

One target frame is reconstructed from each source frame (its temporal neighbours) through the
target's depth, the predicted ``T_source_target`` and the intrinsics; the loss is Monodepth2's
multi-scale min-reprojection, auto-masked photometric error plus edge-aware smoothness. The pose
pretraining stage replaces the depth network by fixed fronto-parallel planes (``plane_depth``):

- one plane: rotation does not depend on depth, but in a far scene a sideways translation moves
  the plane's image almost like a pan, so translation stays near zero (measured: it collapses);
- a plane sweep (several depths): each pixel takes the depth hypothesis that reprojects it best,
  as plane-sweep stereo does, so near and far pixels see different parallax and translation
  becomes identifiable before any depth network exists to collapse against. A geometric set of
  depths makes the loss nearly invariant to the global scale, as monocular geometry is.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from occtrack_ros.depth.edge_refine import EdgeRefineConfig, joint_weighted_median
from occtrack_ros.geometry.rotation import axis_angle_to_matrix
from occtrack_ros.models.depth_pose.depth_net import DepthNet
from occtrack_ros.models.depth_pose.losses import (
    PhotometricConfig,
    PhotometricError,
    edge_aware_smoothness,
    local_contrast_normalise,
    reprojection_loss,
)
from occtrack_ros.models.depth_pose.pose_net import PoseNet
from occtrack_ros.models.depth_pose.refine import RefineConfig, refine_pose
from occtrack_ros.models.depth_pose.warp import ViewSynthesis

# The sharpen stage's teacher, pinned here so that retuning the inference-time refinement
# (EdgeRefineConfig's defaults) does not silently change what the shipped weights were trained on.
TEACHER_REFINE = EdgeRefineConfig(radius=9, step=3, sigma_colour=0.05, iters=2)


def self_distillation(depth: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Mean |log depth - log teacher| where the teacher is the edge-refined, gradient-stopped depth."""
    with torch.no_grad():
        teacher = joint_weighted_median(depth.detach(), image, TEACHER_REFINE)
    return (depth.clamp_min(1e-6).log() - teacher.log()).abs().mean()


class DepthPoseObjective(nn.Module):
    """forward(target (B,3,H,W), sources [(B,3,H,W)], K (B,3,3)) -> (loss, stats dict of tensors).

    ``plane_depth`` not None: a depth (or a sequence of depths to sweep) replaces DepthNet's.
    ``refine`` not None: PoseNet's motions are refined by direct alignment (``refine.refine_pose``)
    through the current depth before they warp the sources; the warp loss then trains DepthNet
    only, and PoseNet learns to regress the refined motions (L1, weight ``pose_distill``).
    ``edge_distill`` > 0: self-distillation onto the net's own edge-refined map. Each scale's depth
    is pulled (L1 on log depth, this weight) towards ``joint_weighted_median`` of itself, guided by
    the target image, with the gradient stopped through the teacher. The photometric loss leaves a
    soft ramp on the far side of every depth edge; this term sharpens DepthNet's own edges, so the
    ramps stop biasing the far/near ratio (see weights/depth_pose.md). Too strong a weight flattens
    depth (measured: 1.0 collapsed it to a constant within 100 iterations).
    """

    def __init__(self, height: int, width: int, config: PhotometricConfig | None = None, loss_scales: int = 4):
        super().__init__()
        if loss_scales < 1:
            raise ValueError(f"loss_scales must be >= 1, got {loss_scales}")
        self.loss_scales = loss_scales  # Monodepth2 uses all 4; fewer halves the CPU cost
        self.config = config or PhotometricConfig()
        self.error = PhotometricError(self.config.alpha)
        self.synth = ViewSynthesis(height, width)
        self.height, self.width = height, width

    def _plane_sweep(self, target, sources, K, Ts, poses, plane_depth):
        B = target.shape[0]
        values = [float(plane_depth)] if isinstance(plane_depth, (int, float)) else [float(d) for d in plane_depth]
        warped, valid = [], []
        for d in values:
            depth = torch.full((B, 1, self.height, self.width), d, device=target.device)
            for src, T in zip(sources, Ts):
                w, v = self.synth(src, depth, K, T)
                warped.append(w)
                valid.append(v)
        loss, mask = reprojection_loss(self.error, target, warped, valid, sources, self.config)
        stats = {
            "depth": torch.full((B, 1, self.height, self.width), float(np.median(values)), device=target.device),
            "axis_angle": torch.cat([a for a, _ in poses]).detach(),
            "translation": torch.cat([t for _, t in poses]).detach(),
            "mask_fraction": mask.mean().detach(),
        }
        return loss, stats

    def forward(self, depth_net: DepthNet | None, pose_net: PoseNet, target: torch.Tensor,
                sources: list[torch.Tensor], K: torch.Tensor, plane_depth=None,
                refine: RefineConfig | None = None, pose_distill: float = 10.0, edge_distill: float = 0.0):
        B = target.shape[0]
        assert target.shape[1:] == (3, self.height, self.width), \
            f"target must be (B, 3, {self.height}, {self.width}), got {tuple(target.shape)}"
        assert K.shape == (B, 3, 3), f"K must be ({B}, 3, 3), got {tuple(K.shape)}"
        poses = [pose_net(target, s) for s in sources]  # [(axis_angle (B,3), translation (B,3))]
        Ts = [axis_angle_to_matrix(a, t) for a, t in poses]  # [(B, 4, 4)] T_source_target
        image, raw_sources = target, sources  # DepthNet's input; edge-aware smoothness looks at its raw edges
        if self.config.contrast_normalise:
            cfg = self.config
            target = local_contrast_normalise(target, cfg.lcn_window, cfg.lcn_eps)
            sources = [local_contrast_normalise(s, cfg.lcn_window, cfg.lcn_eps) for s in sources]
        if plane_depth is not None:
            return self._plane_sweep(target, sources, K, Ts, poses, plane_depth)
        assert depth_net is not None, "depth_net is required unless plane_depth is given"
        disps = depth_net(image)  # [(B, 1, H/2^s, W/2^s)]
        # full-resolution depth per scale, as Monodepth2
        depths = [depth_net.to_depth(d, (self.height, self.width)) for d in disps[:self.loss_scales]]
        total = target.new_zeros(())
        if refine is not None:
            refined = [refine_pose(image, raw, depths[0], K, a, t, refine) for raw, (a, t) in zip(raw_sources, poses)]
            if pose_distill > 0 and any(p.requires_grad for p in pose_net.parameters()):
                total = total + pose_distill * torch.stack(
                    [(a - ra).abs().mean() + (t - rt).abs().mean() for (a, t), (ra, rt) in zip(poses, refined)]).mean()
            poses = refined
            Ts = [axis_angle_to_matrix(a, t) for a, t in poses]
        mask = None
        for s, depth in enumerate(depths):
            warped, valid = zip(*[self.synth(src, depth, K, T) for src, T in zip(sources, Ts)])
            loss, m = reprojection_loss(self.error, target, list(warped), list(valid), sources, self.config)
            if s == 0:
                mask = m
            if self.config.smoothness > 0:
                img_s = F.interpolate(image, size=disps[s].shape[-2:], mode="area")
                loss = loss + self.config.smoothness / (2 ** s) * edge_aware_smoothness(disps[s], img_s)
            total = total + loss
        total = total / len(depths)
        if edge_distill > 0 and any(p.requires_grad for p in depth_net.parameters()):
            total = total + edge_distill * torch.stack([self_distillation(d, image) for d in depths]).mean()
        stats = {
            "depth": depths[0].detach(),
            "axis_angle": torch.cat([a for a, _ in poses]).detach(),  # (S*B, 3)
            "translation": torch.cat([t for _, t in poses]).detach(),
            "mask_fraction": mask.mean().detach(),
        }
        return total, stats
