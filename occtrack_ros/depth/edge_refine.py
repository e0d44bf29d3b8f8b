"""Image-guided edge refinement of a predicted depth map: a joint weighted median filter.

Self-supervised DepthNet puts a soft ramp of several pixels where the image has a sharp depth edge
(measured on the occlusion preset: about 15 % of the pixels of a frame sit between the near and the
far mode, 90 % of them on the far wall next to a pillar). The photometric loss places those pixels
poorly. Likely causes, not measured: local contrast normalisation squashes the wall's faint texture
within a window of a strong edge, and disoccluded pixels have no match. A ramp is not just
cosmetic: per-object depth read from the map mixes the two surfaces, and a median-scaled monocular
map lands its median in the ramp (evaluation's scale goes wrong for both modes at once).

The remedy is the classic post-processing of stereo matching (Ma et al., "Constant time weighted
median filtering for stereo matching and beyond", ICCV 2013): each pixel takes the weighted median
of the log depths in a window around it, weighted by colour similarity to the centre pixel, so a
wall pixel votes with the wall and snaps to its depth, while uniform regions keep their values.
No ground truth is involved. OpenCV has this filter in ``cv2.ximgproc.weightedMedianFilter``, but
only in the contrib build, which would replace the ``opencv-python`` wheel this package depends on;
the lines below are the same filter in torch, batched, on any device. The window is dilated
(every ``step``-th pixel), which keeps a wide reach at a few dozen samples per pixel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class EdgeRefineConfig:
    """Settings of :func:`joint_weighted_median`.

    The defaults were chosen for the shipped depth/pose file on validation seeds 900-929 (session 8;
    table in occtrack_ros/weights/depth_pose.md). Since the ``sharpen`` training stage, DepthNet's own
    edges are sharp and a small window with one pass does best. The session-6 settings (radius 9, step 3,
    sigma 0.05, 2 passes) were for a net with wide ramps, and are still the sharpen stage's teacher
    (``models.depth_pose.objective.TEACHER_REFINE``).
    """

    radius: int = 3          # window half-width [pixels at the depth map's resolution]
    step: int = 1            # sample every step-th pixel of the window (a dilated window: step^2 times cheaper)
    sigma_colour: float = 0.03  # RGB distance in [0, 1] units at which a neighbour's weight falls to e^-1/2
    iters: int = 1           # repeated passes widen the reach across a ramp

    def __post_init__(self) -> None:
        if self.radius < 1 or self.iters < 0 or self.sigma_colour <= 0 or self.step < 1:
            raise ValueError(f"EdgeRefineConfig: need radius >= 1, step >= 1, iters >= 0, sigma_colour > 0; "
                             f"got {self}")


def joint_weighted_median(depth: torch.Tensor, image: torch.Tensor,
                          config: EdgeRefineConfig | None = None) -> torch.Tensor:
    """Edge-refined depth (B, 1, H, W) from depth (B, 1, H, W) > 0 and a guide image (B, 3, H, W) in [0, 1].

    The median is taken over log depth, so the result is invariant to the map's (unknown) scale.
    """
    cfg = config or EdgeRefineConfig()
    B, _, H, W = depth.shape
    if image.shape != (B, 3, H, W):
        raise ValueError(f"guide image must be ({B}, 3, {H}, {W}) like the depth, got {tuple(image.shape)}")
    if cfg.iters == 0:
        return depth
    half = cfg.radius // cfg.step  # samples each side of the centre
    k, r = 2 * half + 1, half * cfg.step
    pad = (r, r, r, r)

    def window(x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C * k * k, H * W)
        return F.unfold(F.pad(x, pad, mode="replicate"), k, dilation=cfg.step)

    guide = window(image.float()).view(B, 3, k * k, H * W)
    weight = torch.exp(-((guide - image.float().reshape(B, 3, 1, H * W)) ** 2).sum(1)
                       / (2.0 * cfg.sigma_colour ** 2)).transpose(1, 2).contiguous()  # (B, H*W, k*k)
    log_depth = depth.float().clamp_min(1e-6).log()
    for _ in range(cfg.iters):
        values, order = window(log_depth).transpose(1, 2).contiguous().sort(dim=-1)  # (B, H*W, k*k) ascending
        cumulative = weight.gather(-1, order).cumsum(dim=-1)
        index = (cumulative < cumulative[..., -1:] / 2).sum(dim=-1, keepdim=True)  # first past half the weight
        log_depth = values.gather(-1, index).view(B, 1, H, W)
    return log_depth.exp().to(depth.dtype)
