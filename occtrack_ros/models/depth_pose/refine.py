"""Direct photometric pose refinement: PoseNet's guess polished by minimising the warp error.

PoseNet regresses motion from a whole image pair in one shot; on the occlusion preset the motion
between consecutive frames is a fraction of a pixel (0.015 m and 0.2 degrees per frame), below
what a small regression net resolves (measured: its rotation error was no better than assuming
no motion). Direct alignment, as in direct visual odometry (DSO, LSD-SLAM), pools the evidence
of every pixel: starting from PoseNet's output, the six pose parameters are optimised to minimise
the robust photometric error of warping the source onto the target through the target's
(predicted) depth. No ground truth is involved; the result is still the nets' unsupervised estimate.

The optimiser is Levenberg-Marquardt on the Huber error by iteratively reweighted least squares,
as in direct VO: the residuals' Jacobian is the exact bilinear-sampling derivative times the
analytic derivative of the projection (``_grid_jacobian``), each pair gets its own damped 6 x 6
Gauss-Newton system, and a step is kept only when it lowers that pair's error. It replaced L-BFGS
(strong Wolfe), whose answer on a plane scene wandered with the iteration budget and the CPU
(0.27, 0.47 and 0.10 degrees after 10, 30 and 60 iterations on one Intel Xeon); this one gives the
same answer for any budget from 10 steps (test_depth_models) and takes about 0.7 x L-BFGS's time
per frame pair at inference (weights/depth_pose.md, session 13).

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
    iters: int = 20            # at most this many Levenberg-Marquardt steps per pyramid level (0 = off:
    #                            PoseNet alone); a level stops early once every pair has converged (below)
    levels: int = 3            # pyramid levels, coarse (2^(levels-1) x pooled) to fine; 2 levels were
    #                            caught in a local minimum by a 3-pixel motion at 64 px (test_depth_models)
    lcn_window: int = 7        # at the finest level
    lcn_eps: float = 0.01
    huber_delta: float = 0.1   # robust error: moving objects and disocclusions are outliers
    damping: float = 1e-3      # initial Levenberg-Marquardt damping (x0.3 on an accepted step, x10 on a rejected one)
    step_tol: float = 1e-6     # a pair has converged when no parameter moves more than this (rad or depth units)
    loss_tol: float = 1e-3     # ... or when an accepted step lowers its error by less than this fraction
    optimizer: str = "lm"      # "lbfgs": strong-Wolfe L-BFGS on the summed error, `iters` iterations per level
    #                            (until session 12; the shipped depth/pose weights were trained with it, and
    #                            `occtrack train depth-pose` still trains with it: weights/depth_pose.md)

    def __post_init__(self) -> None:
        if self.optimizer not in ("lm", "lbfgs"):
            raise ValueError(f"RefineConfig.optimizer must be 'lm' or 'lbfgs', got {self.optimizer!r}")


def _pool(x: torch.Tensor, factor: int) -> torch.Tensor:
    return x if factor == 1 else F.avg_pool2d(x, factor)


def _grid_jacobian(points: torch.Tensor, K: torch.Tensor, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The derivative of ``Project3D``'s sampling grid with respect to the pose parameters x.

    By the chain rule through p' = R(x) p + t and the pinhole: (B, 2, 6, N) [grid axis][parameter]
    for camera points (B, 3, N), K (B, 3, 3) and pose parameters (B, 6) (axis-angle, translation).
    """
    # d R / d axis-angle by central differences of Rodrigues in float64 (3 x 3 per pair: exact to
    # ~1e-10, and far cheaper than forward-mode AD through axis_angle_to_matrix)
    aa, eps = x[:, :3].double(), 1e-6
    zero = torch.zeros_like(aa)
    dR = torch.stack([(axis_angle_to_matrix(aa + eps * e, zero) - axis_angle_to_matrix(aa - eps * e, zero))[:, :3, :3]
                      / (2 * eps) for e in torch.eye(3, dtype=aa.dtype, device=aa.device)], dim=1)
    rot = dR.to(x.dtype) @ points[:, None]  # (B, 3, 3, N): d p' / d aa_k
    R = axis_angle_to_matrix(x[:, :3], x[:, 3:])[:, :3, :3]
    p = R @ points + x[:, 3:, None]  # (B, 3, N)
    z = p[:, 2:3].clamp_min(1e-6)  # (B, 1, N)
    uv = (K[:, :2] @ p) / z  # (B, 2, N)
    # d uv_i / d p' = (K_i - uv_i e_z) / z: (B, 2, 3, N); d p' / d t = I
    e_z = torch.tensor([0.0, 0.0, 1.0], dtype=x.dtype, device=x.device).view(1, 1, 3, 1)
    duv_dp = (K[:, :2, :, None] - uv[:, :, None, :] * e_z) / z[:, None]
    d_rot = (duv_dp[:, :, None] * rot[:, None]).sum(3)  # (B, 2, 3, N)
    scale = 2.0 / torch.tensor([width, height], dtype=x.dtype, device=x.device).view(1, 2, 1, 1)  # pixels -> grid units
    return torch.cat([d_rot, duv_dp], dim=2) * scale  # (B, 2, 6, N)


def _align_level_lbfgs(tgt, src, dep, K, params, cfg):
    """One pyramid level of strong-Wolfe L-BFGS on the batch's summed error (the optimiser until session 12)."""
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


def _align_level(tgt, src, dep, K, params, cfg):
    """One pyramid level of Levenberg-Marquardt on the (B, 6) pose parameters; returns them updated.

    IRLS for the Huber error. Each pair has its own 6 x 6 system, damping and stopping test.
    """
    B, C, h, w = tgt.shape
    synth = ViewSynthesis(h, w).to(tgt.device)
    points = synth.backproject(dep, torch.linalg.inv(K))  # (B, 3, N = h*w): the depth is fixed

    def evaluate(x):
        warped, valid, grid = synth.sample(src, points, K, axis_angle_to_matrix(x[:, :3], x[:, 3:]))
        valid = valid.to(tgt.dtype)  # (B, 1, h, w)
        err = F.huber_loss(warped, tgt, reduction="none", delta=cfg.huber_delta).mean(1, keepdim=True)
        loss = (err * valid).sum((1, 2, 3)) / valid.sum((1, 2, 3)).clamp_min(1.0)  # (B,)
        return loss, grid, valid

    x = params.clone()
    lam = torch.full((B,), cfg.damping, dtype=x.dtype, device=x.device)
    done = torch.zeros(B, dtype=torch.bool, device=x.device)
    eye6 = torch.eye(6, dtype=x.dtype, device=x.device)
    loss, grid, valid = evaluate(x)
    for _ in range(cfg.iters):
        # d warped / d grid: exact for bilinear sampling, one backward per channel (pixels are independent)
        g = grid.detach().requires_grad_(True)
        warped = F.grid_sample(src, g, mode="bilinear", padding_mode="border", align_corners=False)
        dwdg = torch.stack([torch.autograd.grad(warped[:, c].sum(), g, retain_graph=c < C - 1)[0]
                            for c in range(C)], dim=1).reshape(B, C, 1, -1, 2)  # (B, C, 1, N, 2)
        dgdx = _grid_jacobian(points, K, x, h, w)  # (B, 2, 6, N)
        J = dwdg[..., 0] * dgdx[:, None, 0] + dwdg[..., 1] * dgdx[:, None, 1]  # (B, C, 6, N)
        r = (warped.detach() - tgt).reshape(B, C, -1)
        # IRLS weights of the Huber error, scaled as in the loss (mean over channels and valid pixels)
        a = r.abs()
        weight = torch.where(a <= cfg.huber_delta, torch.ones_like(r), cfg.huber_delta / a.clamp_min(1e-12))
        v = valid.reshape(B, 1, -1)
        weight = weight * v / (C * v.sum((1, 2), keepdim=True).clamp_min(1.0))
        Jw = J * weight[:, :, None]
        H = (Jw @ J.transpose(2, 3)).sum(1)  # (B, 6, 6)
        grad = (Jw @ r[..., None])[..., 0].sum(1)  # (B, 6)
        damped = H + lam[:, None, None] * torch.diag_embed(H.diagonal(dim1=1, dim2=2)) + 1e-12 * eye6
        step = torch.nan_to_num(-torch.linalg.solve(damped, grad[..., None])[..., 0])  # (B, 6)
        step = torch.where(done[:, None], torch.zeros_like(step), step)
        cand_loss, cand_grid, cand_valid = evaluate(x + step)
        better = (cand_loss < loss) & ~done  # (B,)
        gain = (loss - cand_loss) / loss.clamp_min(1e-12)
        b = better[:, None, None, None]
        x = torch.where(better[:, None], x + step, x)
        loss = torch.where(better, cand_loss, loss)
        grid = torch.where(b, cand_grid, grid)
        valid = torch.where(b, cand_valid, valid)
        lam = torch.where(better, (lam * 0.3).clamp_min(1e-7), lam * 10.0)
        done |= (step.abs().amax(1) < cfg.step_tol) | (better & (gain < cfg.loss_tol))
        if bool(done.all()):
            break
    return x


def refine_pose(target: torch.Tensor, source: torch.Tensor, depth: torch.Tensor, K: torch.Tensor,
                axis_angle: torch.Tensor, translation: torch.Tensor,
                config: RefineConfig | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Refine ``T_source_target`` for a batch of pairs; returns detached (axis_angle, translation).

    target, source: (B, 3, H, W) in [0, 1]; depth: (B, 1, H, W) of the target (any scale: the
    translation comes out in the same units); K: (B, 3, 3) for H x W; axis_angle, translation:
    (B, 3) initial guesses. Pairs are independent: each has its own system, damping and stopping
    test, batched.
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
                align = _align_level_lbfgs if cfg.optimizer == "lbfgs" else _align_level
                params = align(tgt, src, _pool(depth.detach(), f), Kl, params, cfg)
    return params[:, :3], params[:, 3:]
