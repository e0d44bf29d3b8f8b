"""The learned DepthNet/PoseNet pair behind the "learned" source (and the pose of the others)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from occtrack_ros.depth.source import image_tensor
from occtrack_ros.types import Frame

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "depth_pose_occlusion.pt"


class LearnedNets:
    """Loads a depth/pose checkpoint lazily (sources that never need a net never read the file)."""

    def __init__(self, weights: str | Path | None = None, device: str = "cpu"):
        self.path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        self.device = device
        self._nets = None

    def _load(self):
        if self._nets is None:
            from occtrack_ros.models.depth_pose.checkpoint import load_depth_pose

            depth_net, pose_net, meta = load_depth_pose(self.path, device=self.device)
            size = (int(meta.get("height", 128)), int(meta.get("width", 128)))
            self._nets = (depth_net, pose_net, size)
        return self._nets

    @torch.no_grad()
    def depth(self, frame: Frame) -> torch.Tensor:
        """(1, 1, h, w) up-to-scale depth at the network's input size."""
        depth_net, _, size = self._load()
        return depth_net.to_depth(depth_net(image_tensor(frame, size, self.device))[0])

    @torch.no_grad()
    def motion(self, frame: Frame, prev: Frame) -> np.ndarray:
        """Up-to-scale ``T_prev_cur`` (4, 4): PoseNet with target = current, source = previous."""
        _, pose_net, size = self._load()
        T = pose_net.transform(image_tensor(frame, size, self.device), image_tensor(prev, size, self.device))
        return T[0].double().cpu().numpy()
