"""PoseNet: two RGB frames -> 6-DoF relative pose (axis-angle + translation), as Monodepth2.

The input order is (target, source) and the output is ``T_source_target``: it maps points of the
target camera into the source camera, which is exactly what warping the source onto the target
needs. Outputs are scaled by 0.01 (Monodepth2) so training starts from near-identity motion.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from occtrack_ros.geometry.rotation import axis_angle_to_matrix


@dataclass
class PoseNetConfig:
    channels: tuple[int, ...] = (16, 32, 64, 96, 128)  # stride-2 conv stages on the stacked pair
    output_scale: float = 0.01   # Monodepth2's scaling of the raw 6-vector; keeps early motion small


class PoseNet(nn.Module):
    """(target, source): two (B, 3, H, W) images in [0, 1] -> (axis_angle (B, 3), translation (B, 3))."""

    def __init__(self, config: PoseNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or PoseNetConfig()
        if len(cfg.channels) < 2:
            raise ValueError(f"PoseNetConfig.channels needs at least 2 stages, got {cfg.channels}")
        layers: list[nn.Module] = []
        cin = 6
        for c in cfg.channels:
            layers += [nn.Conv2d(cin, c, 3, 2, 1), nn.ReLU(inplace=True)]
            cin = c
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, 6, 1)

    def forward(self, target: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert target.dim() == 4 and target.shape[1] == 3, f"target must be (B, 3, H, W), got {tuple(target.shape)}"
        assert source.shape == target.shape, f"source {tuple(source.shape)} != target {tuple(target.shape)}"
        x = torch.cat([target, source], dim=1) - 0.45  # (B, 6, H, W)
        out = self.head(self.encoder(x)).mean(dim=(2, 3)) * self.config.output_scale  # (B, 6)
        return out[:, :3], out[:, 3:]

    def transform(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """``T_source_target`` as (B, 4, 4)."""
        axis_angle, translation = self(target, source)
        return axis_angle_to_matrix(axis_angle, translation)
