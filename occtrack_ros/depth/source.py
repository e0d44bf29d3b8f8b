"""The result type and the shared image handling of every depth/pose source."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from occtrack_ros.types import Frame


@dataclass
class DepthPose:
    """Depth of the current frame and the camera motion from the previous frame.

    ``T_prev_cur`` maps points of the current camera frame into the previous one
    (``inv(T_world_prev) @ T_world_cur``); None for the first frame.
    """

    depth: np.ndarray                  # (H, W) float32, metres if is_metric else up to scale
    T_prev_cur: np.ndarray | None      # (4, 4) float64
    is_metric: bool


def image_tensor(frame: Frame, size: tuple[int, int] | None = None, device: str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, h, w) float in [0, 1], resized to ``size = (h, w)`` if given."""
    img = np.asarray(frame.image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"frame.image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(img)).to(device).permute(2, 0, 1)[None].float() / 255.0
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x


def resize_map(depth: torch.Tensor, height: int, width: int) -> np.ndarray:
    """(1, 1, h, w) tensor -> (height, width) float32 numpy map (bilinear)."""
    if tuple(depth.shape[-2:]) != (height, width):
        depth = F.interpolate(depth, size=(height, width), mode="bilinear", align_corners=False)
    return depth[0, 0].detach().cpu().numpy().astype(np.float32)


def odometry_motion(frame: Frame, prev: Frame | None) -> np.ndarray | None:
    """``T_prev_cur`` from the two frames' odometry poses, or None when either is missing."""
    if prev is None or frame.T_world_cam is None or prev.T_world_cam is None:
        return None
    from occtrack_ros.geometry.se3 import relative_pose

    return relative_pose(prev.T_world_cam, frame.T_world_cam)
