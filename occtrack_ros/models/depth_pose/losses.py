"""Self-supervised depth/pose losses (Monodepth2, Godard et al. 2019).

- photometric error ``alpha * (1 - SSIM) / 2 + (1 - alpha) * L1`` with alpha = 0.85;
- per-pixel minimum of the reprojection error over the source frames (occlusions: a pixel hidden
  in one source is usually visible in the other);
- auto-masking: pixels whose error against the *unwarped* source is already lower than against
  every warped source (static scene parts moving with the camera, textureless areas) are dropped;
- edge-aware smoothness of the mean-normalised disparity;
- optionally (``contrast_normalise``), the error is taken between locally contrast-normalised
  images (``local_contrast_normalise``). SSIM's constants c1, c2 assume full-contrast images, so
  a low-contrast surface (the occlusion preset's far wall: 8 % contrast, 60 % of the pixels)
  gives almost no gradient, and its depth drifts wherever its neighbours pull it. Normalising
  brings every textured surface to one contrast before SSIM + L1 compare them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

_INVALID = 1e3  # error given to reprojections outside the source view so the minimum avoids them


class SSIM(nn.Module):
    """Per-pixel SSIM dissimilarity map ``(1 - SSIM) / 2`` in [0, 1] with 3x3 windows (Monodepth2)."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1)
        self.pad = nn.ReflectionPad2d(1)
        self.c1 = 0.01 ** 2
        self.c2 = 0.03 ** 2

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert x.shape == y.shape, f"SSIM inputs differ: {tuple(x.shape)} vs {tuple(y.shape)}"
        x, y = self.pad(x), self.pad(y)
        mu_x, mu_y = self.pool(x), self.pool(y)
        sigma_x = self.pool(x * x) - mu_x ** 2
        sigma_y = self.pool(y * y) - mu_y ** 2
        sigma_xy = self.pool(x * y) - mu_x * mu_y
        n = (2 * mu_x * mu_y + self.c1) * (2 * sigma_xy + self.c2)
        d = (mu_x ** 2 + mu_y ** 2 + self.c1) * (sigma_x + sigma_y + self.c2)
        return torch.clamp((1 - n / d) / 2, 0, 1)


@dataclass
class PhotometricConfig:
    alpha: float = 0.85            # SSIM weight; 0 = L1 only (the seed's collapsing variant)
    smoothness: float = 1e-3       # edge-aware smoothness weight at scale 0, halved per scale
    automask: bool = True          # drop pixels the unwarped source already explains
    min_reprojection: bool = True  # per-pixel min over sources (else mean, Monodepth's original)
    contrast_normalise: bool = False  # compare locally contrast-normalised images (see the module doc)
    lcn_window: int = 7            # odd window [px] of the local mean and std at the training size
    lcn_eps: float = 0.01          # std floor: flat areas stay flat instead of amplifying aliasing


def local_contrast_normalise(image: torch.Tensor, window: int = 7, eps: float = 0.01) -> torch.Tensor:
    """(B, C, H, W) in [0, 1] -> (B, C, H, W) centred on 0.5 with local std ~0.25 (unclipped).

    Each channel minus its ``window`` x ``window`` mean, divided by the local std pooled over the
    channels (so hue differences keep their relative size) plus ``eps``.
    """
    assert image.dim() == 4, f"image must be (B, C, H, W), got {tuple(image.shape)}"
    if window < 3 or window % 2 == 0:
        raise ValueError(f"lcn_window must be odd and >= 3, got {window}")
    pad = window // 2
    mean = F.avg_pool2d(F.pad(image, (pad,) * 4, mode="replicate"), window, 1)
    centred = image - mean
    var = F.avg_pool2d(F.pad(centred * centred, (pad,) * 4, mode="replicate"), window, 1).mean(1, keepdim=True)
    return 0.5 + 0.25 * centred / (var.sqrt() + eps)


class PhotometricError(nn.Module):
    """(pred, target): (B, 3, H, W) -> (B, 1, H, W) error ``alpha*(1-SSIM)/2 + (1-alpha)*L1``."""

    def __init__(self, alpha: float = 0.85):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"photometric alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha
        self.ssim = SSIM()

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        l1 = (pred - target).abs().mean(dim=1, keepdim=True)  # (B, 1, H, W)
        if self.alpha == 0.0:
            return l1
        return self.alpha * self.ssim(pred, target).mean(dim=1, keepdim=True) + (1 - self.alpha) * l1


def edge_aware_smoothness(disp: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Scalar smoothness of disparity (B, 1, H, W), normalised by its mean, down-weighted at image edges."""
    assert disp.shape[0] == image.shape[0] and disp.shape[-2:] == image.shape[-2:], \
        f"disp {tuple(disp.shape)} and image {tuple(image.shape)} must share batch and size"
    disp = disp / (disp.mean(dim=(2, 3), keepdim=True) + 1e-7)
    dx = (disp[:, :, :, :-1] - disp[:, :, :, 1:]).abs()
    dy = (disp[:, :, :-1, :] - disp[:, :, 1:, :]).abs()
    ix = (image[:, :, :, :-1] - image[:, :, :, 1:]).abs().mean(1, keepdim=True)
    iy = (image[:, :, :-1, :] - image[:, :, 1:, :]).abs().mean(1, keepdim=True)
    return (dx * torch.exp(-ix)).mean() + (dy * torch.exp(-iy)).mean()


def reprojection_loss(error: PhotometricError, target: torch.Tensor, warped: list[torch.Tensor],
                      valid: list[torch.Tensor], sources: list[torch.Tensor],
                      config: PhotometricConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Min-reprojection + auto-masked photometric loss for one scale.

    target (B, 3, H, W); warped, valid: one (B, 3|1, H, W) tensor per reprojection (a source frame, or
    a source frame under one depth hypothesis); sources: the unwarped source frames for auto-masking.
    Returns (scalar loss, (B, 1, H, W) float mask of the pixels that contributed).
    """
    assert len(warped) == len(valid) >= 1 and len(sources) >= 1, "need one valid mask per warped image"
    reproj = torch.cat([torch.where(v, error(w, target), torch.full_like(v, _INVALID, dtype=target.dtype))
                        for w, v in zip(warped, valid)], dim=1)  # (B, R, H, W)
    if config.min_reprojection:
        reproj_best, _ = reproj.min(dim=1, keepdim=True)  # (B, 1, H, W)
    else:
        reproj_best = reproj.mean(dim=1, keepdim=True)
    used = reproj_best < _INVALID
    if config.automask:
        identity = torch.cat([error(s, target) for s in sources], dim=1)  # (B, S, H, W)
        # tiny noise breaks ties on perfectly static, textureless pixels (Monodepth2)
        identity = identity + torch.randn_like(identity) * 1e-5
        used = used & (reproj_best < identity.min(dim=1, keepdim=True).values)
    mask = used.float()
    loss = (reproj_best * mask).sum() / mask.sum().clamp_min(1.0)
    return loss, mask
