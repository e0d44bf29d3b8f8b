"""Soft position embedding (Locatello et al. 2020): a learned projection of a 4-channel ramp grid."""
from __future__ import annotations

import torch
from torch import nn


def ramp_grid(height: int, width: int) -> torch.Tensor:
    """(H, W, 4) grid of (y, x, 1-y, 1-x) in [0, 1], pixel centres."""
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gy, gx, 1.0 - gy, 1.0 - gx], dim=-1)  # (H, W, 4)


class SoftPositionEmbed(nn.Module):
    """Adds ``Linear(grid)`` to channel-last features of a fixed spatial size."""

    def __init__(self, dim: int, height: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Linear(4, dim)
        self.register_buffer("grid", ramp_grid(height, width), persistent=False)  # (H, W, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, D) -> (B, H, W, D)."""
        assert x.shape[1:3] == self.grid.shape[:2], f"expected spatial {tuple(self.grid.shape[:2])}, got {x.shape}"
        return x + self.proj(self.grid)
