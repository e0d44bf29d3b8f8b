"""View synthesis: reconstruct the target frame by sampling a source frame at reprojected pixels."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from occtrack_ros.geometry.camera import BackprojectDepth, Project3D


class ViewSynthesis(nn.Module):
    """Warp source images onto the target view given target depth, K and ``T_source_target``.

    forward(source (B, C, H, W), depth (B, 1, H, W), K (B, 3, 3), T_source_target (B, 4, 4))
    -> (warped (B, C, H, W), valid (B, 1, H, W) bool: the reprojection lands inside the source
    image and in front of its camera).
    """

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width
        self.backproject = BackprojectDepth(height, width)
        self.project = Project3D(height, width)

    def forward(self, source: torch.Tensor, depth: torch.Tensor, K: torch.Tensor,
                T_source_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert source.shape[-2:] == (self.height, self.width), \
            f"source must be (B, C, {self.height}, {self.width}), got {tuple(source.shape)}"
        B = source.shape[0]
        K = K.expand(B, 3, 3)
        points = self.backproject(depth, torch.linalg.inv(K))  # (B, 3, H*W)
        warped, valid, _ = self.sample(source, points, K, T_source_target)
        return warped, valid

    def sample(self, source: torch.Tensor, points: torch.Tensor, K: torch.Tensor,
               T_source_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``forward`` from the target's back-projected ``points`` (B, 3, H*W).

        For callers that warp one depth map under many poses; also returns the sampling grid (B, H, W, 2).
        """
        grid, z = self.project(points, K, T_source_target)  # (B, H, W, 2), (B, 1, H, W)
        warped = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
        inside = (grid.abs() <= 1.0).all(dim=-1).unsqueeze(1)  # (B, 1, H, W)
        return warped, inside & (z > 1e-3), grid
