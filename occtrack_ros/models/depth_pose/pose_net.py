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
    difference_input: bool = True  # also feed (source - target): sub-pixel motion shows up in it directly
    difference_gain: float = 4.0   # frame differences are small; scale them to the images' range
    groups: int = 8              # GroupNorm groups (0 = none); normalisation lets a small net learn fast
    antisymmetric: bool = True   # pose(t, s) = (g(t, s) - g(s, t)) / 2: swapping the frames negates the
    #                              motion, so no constant output can lower the loss (see forward)


class PoseNet(nn.Module):
    """(target, source): two (B, 3, H, W) images in [0, 1] -> (axis_angle (B, 3), translation (B, 3))."""

    def __init__(self, config: PoseNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or PoseNetConfig()
        if len(cfg.channels) < 2:
            raise ValueError(f"PoseNetConfig.channels needs at least 2 stages, got {cfg.channels}")
        layers: list[nn.Module] = []
        cin = 9 if cfg.difference_input else 6
        for c in cfg.channels:
            layers.append(nn.Conv2d(cin, c, 3, 2, 1, bias=cfg.groups == 0))
            if cfg.groups:
                layers.append(nn.GroupNorm(min(cfg.groups, c), c))
            layers.append(nn.ReLU(inplace=True))
            cin = c
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, 6, 1)

    def forward(self, target: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Relative motion ``T_source_target`` as (axis_angle, translation), antisymmetric by default.

        Why antisymmetric: the camera of the occlusion preset oscillates, so the previous and the next
        frame are displaced in opposite directions; with the per-pixel minimum over sources, a constant
        motion always matches one of them, and plain PoseNets settle there (we measured outputs with
        ~0 variance). Negation under swapping removes every such constant; to first order it is the
        exact inverse-motion constraint ``T_target_source = T_source_target^-1``.
        """
        assert target.dim() == 4 and target.shape[1] == 3, f"target must be (B, 3, H, W), got {tuple(target.shape)}"
        assert source.shape == target.shape, f"source {tuple(source.shape)} != target {tuple(target.shape)}"
        out = self._raw(target, source)
        if self.config.antisymmetric:
            out = 0.5 * (out - self._raw(source, target))
        return out[:, :3], out[:, 3:]

    def _raw(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        parts = [target - 0.45, source - 0.45]
        if self.config.difference_input:
            parts.append((source - target) * self.config.difference_gain)
        x = torch.cat(parts, dim=1)  # (B, 6 or 9, H, W)
        return self.head(self.encoder(x)).mean(dim=(2, 3)) * self.config.output_scale  # (B, 6)

    def transform(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """``T_source_target`` as (B, 4, 4)."""
        axis_angle, translation = self(target, source)
        return axis_angle_to_matrix(axis_angle, translation)
