"""Direct photometric pose refinement: PoseNet's guess polished by minimising the warp error.

PoseNet regresses motion from a whole image pair in one shot; on the occlusion preset the motion
between consecutive frames is a fraction of a pixel (0.015 m and 0.2 degrees per frame), below
what a small regression net resolves (measured: its rotation error was no better than assuming
no motion). Direct alignment, as in direct visual odometry (DSO, LSD-SLAM), pools the evidence
of every pixel: starting from PoseNet's output, the six pose parameters are optimised (L-BFGS) to
minimise the robust photometric error of warping the source onto the target through the target's
(predicted) depth. No ground truth is involved; the result is still the nets' unsupervised estimate.

The error is taken between locally contrast-normalised images (``local_contrast_normalise``), so
low-contrast surfaces count, and coarse to fine (a 2x average-pooled level first) so that the
multi-pixel motions between frames several steps apart stay inside the basin of convergence.
Levels coarser than 8 pixels are skipped.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from occtrack_ros.geometry.rotation import axis_angle_to_matrix
from occtrack_ros.models.depth_pose.losses import local_contrast_normalise
from occtrack_ros.models.depth_pose.warp import ViewSynthesis


@dataclass
class RefineConfig:
    iters: int = 20            # L-BFGS iterations per pyramid level (0 = off: PoseNet alone)
    levels: int = 3            # pyramid levels, coarse (2^(levels-1) x pooled) to fine; 2 levels were
    #                            caught in a local minimum by a 3-pixel motion at 64 px (test_depth_models)
    lcn_window: int = 7        # at the finest level
    lcn_eps: float = 0.01
    huber_delta: float = 0.1   # robust error: moving objects and disocclusions are outliers


def _pool(x: torch.Tensor, factor: int) -> torch.Tensor:
    return x if factor == 1 else F.avg_pool2d(x, factor)


def _align_level(tgt, src, dep, K, params, cfg):
    """One pyramid level of L-BFGS on the (B, 6) pose parameters; returns them updated."""
    B, _, h, w = tgt.shape
    synth = ViewSynthesis(h, w).to(tgt.device)
    x = params.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=cfg.iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        warped, valid = synth(src, dep, K, axis_angle_to_matrix(x[:, :3], x[:, 3:]))
        err = F.huber_loss(warped, tgt, reduction="none", delta=cfg.huber_delta).mean(1, keepdim=True)
        loss = (err * valid).sum() / valid.sum().clamp_min(1.0) * B
        loss.backward()
        return loss

    opt.step(closure)
    return x.detach()


def refine_pose(target: torch.Tensor, source: torch.Tensor, depth: torch.Tensor, K: torch.Tensor,
                axis_angle: torch.Tensor, translation: torch.Tensor,
                config: RefineConfig | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Refine ``T_source_target`` for a batch of pairs; returns detached (axis_angle, translation).

    target, source: (B, 3, H, W) in [0, 1]; depth: (B, 1, H, W) of the target (any scale: the
    translation comes out in the same units); K: (B, 3, 3) for H x W; axis_angle, translation:
    (B, 3) initial guesses. Pairs are independent; their errors are summed so one optimiser serves
    the batch.
    """
    cfg = config or RefineConfig()
    B, _, H, W = target.shape
    assert source.shape == target.shape, f"source {tuple(source.shape)} != target {tuple(target.shape)}"
    assert depth.shape == (B, 1, H, W), f"depth must be ({B}, 1, {H}, {W}), got {tuple(depth.shape)}"
    assert K.shape == (B, 3, 3), f"K must be ({B}, 3, 3), got {tuple(K.shape)}"
    params = torch.cat([axis_angle, translation], dim=1).detach().clone()
    if cfg.iters > 0:
        with torch.enable_grad():
            for level in reversed(range(cfg.levels)):
                f = 2 ** level
                if H // f < 8 or W // f < 8:
                    continue
                window = max(3, (cfg.lcn_window // f) | 1)
                tgt = local_contrast_normalise(_pool(target.detach(), f), window, cfg.lcn_eps)
                src = local_contrast_normalise(_pool(source.detach(), f), window, cfg.lcn_eps)
                Kl = K.detach().clone()
                Kl[:, :2] = Kl[:, :2] / f
                params = _align_level(tgt, src, _pool(depth.detach(), f), Kl, params, cfg)
    return params[:, :3], params[:, 3:]
