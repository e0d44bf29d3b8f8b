"""Pinhole back-projection and projection, in numpy (single points) and torch (dense, batched).

Pixel centres are at +0.5 (types.py), so pixel (row i, column j) has image coordinates
``(u, v) = (j + 0.5, i + 0.5)``; the same convention makes ``grid_sample(align_corners=False)``
sample exactly at the projected location.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from occtrack_ros.types import CameraIntrinsics


def backproject(uv: np.ndarray, depth: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """(N, 2) pixel coordinates with (N,) depths [m] -> (N, 3) camera-frame points."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    z = np.asarray(depth, dtype=np.float64).reshape(-1)
    if len(z) != len(uv):
        raise ValueError(f"backproject: {len(uv)} pixels but {len(z)} depths")
    x = (uv[:, 0] - intrinsics.cx) / intrinsics.fx * z
    y = (uv[:, 1] - intrinsics.cy) / intrinsics.fy * z
    return np.stack([x, y, z], axis=1)


def project(points: np.ndarray, intrinsics: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) camera-frame points -> ((N, 2) pixel coordinates, (N,) depths). Points behind give NaN."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    z = p[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        zs = np.where(z > 1e-9, z, np.nan)
        u = intrinsics.fx * p[:, 0] / zs + intrinsics.cx
        v = intrinsics.fy * p[:, 1] / zs + intrinsics.cy
    return np.stack([u, v], axis=1), z


def pixel_grid(height: int, width: int) -> torch.Tensor:
    """(3, H*W) homogeneous pixel centres (u, v, 1), row-major."""
    v, u = torch.meshgrid(torch.arange(height, dtype=torch.float32) + 0.5,
                          torch.arange(width, dtype=torch.float32) + 0.5, indexing="ij")
    return torch.stack([u.reshape(-1), v.reshape(-1), torch.ones(height * width)], dim=0)  # (3, H*W)


def intrinsics_matrix(intrinsics: CameraIntrinsics, height: int, width: int) -> np.ndarray:
    """(3, 3) K rescaled from the intrinsics' native size to an image of ``height`` x ``width``."""
    sx = width / intrinsics.width
    sy = height / intrinsics.height
    return np.array([[intrinsics.fx * sx, 0.0, intrinsics.cx * sx],
                     [0.0, intrinsics.fy * sy, intrinsics.cy * sy],
                     [0.0, 0.0, 1.0]], dtype=np.float64)


class BackprojectDepth(nn.Module):
    """Dense depth maps (B, 1, H, W) and inverse intrinsics (B, 3, 3) -> camera points (B, 3, H*W)."""

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width
        self.register_buffer("pix", pixel_grid(height, width), persistent=False)  # (3, H*W)

    def forward(self, depth: torch.Tensor, inv_K: torch.Tensor) -> torch.Tensor:
        B = depth.shape[0]
        assert depth.shape[1:] == (1, self.height, self.width), \
            f"depth must be (B, 1, {self.height}, {self.width}), got {tuple(depth.shape)}"
        assert inv_K.shape[-2:] == (3, 3), f"inv_K must be (B, 3, 3), got {tuple(inv_K.shape)}"
        rays = inv_K.expand(B, 3, 3) @ self.pix  # (B, 3, H*W)
        return rays * depth.reshape(B, 1, -1)  # (B, 3, H*W)


class Project3D(nn.Module):
    """Camera points (B, 3, N=H*W) in frame a, K (B, 3, 3) and T_b_a (B, 4, 4) -> sampling grid in b.

    Returns ``(grid, z)``: grid (B, H, W, 2) in grid_sample's normalised coordinates and z (B, 1, H, W)
    the depth of each point in frame b (non-positive = behind the camera, invalid).
    """

    def __init__(self, height: int, width: int, eps: float = 1e-6):
        super().__init__()
        self.height, self.width, self.eps = height, width, eps

    def forward(self, points: torch.Tensor, K: torch.Tensor, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B = points.shape[0]
        assert points.shape[1:] == (3, self.height * self.width), \
            f"points must be (B, 3, {self.height * self.width}), got {tuple(points.shape)}"
        assert T.shape[-2:] == (4, 4), f"T must be (B, 4, 4), got {tuple(T.shape)}"
        T = T.expand(B, 4, 4)
        p = T[:, :3, :3] @ points + T[:, :3, 3:]  # (B, 3, N)
        z = p[:, 2:3]  # (B, 1, N)
        uvw = K.expand(B, 3, 3) @ p  # (B, 3, N)
        uv = uvw[:, :2] / z.clamp_min(self.eps)  # (B, 2, N)
        size = torch.tensor([self.width, self.height], dtype=uv.dtype, device=uv.device).view(1, 2, 1)
        grid = 2.0 * uv / size - 1.0  # (B, 2, N)
        grid = grid.view(B, 2, self.height, self.width).permute(0, 2, 3, 1)  # (B, H, W, 2)
        return grid, z.view(B, 1, self.height, self.width)
