"""The learned DepthNet/PoseNet pair behind the "learned" source (and the pose of the others)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from occtrack_ros.depth.edge_refine import EdgeRefineConfig, joint_weighted_median
from occtrack_ros.depth.source import image_tensor
from occtrack_ros.geometry.rotation import axis_angle_to_matrix
from occtrack_ros.types import Frame

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "depth_pose_occlusion.pt"


class LearnedNets:
    """Loads a depth/pose checkpoint lazily (sources that never need a net never read the file)."""

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", pose_refine: bool = True,
                 edge_refine: bool = True):
        self.path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        self.device = device
        self.pose_refine = pose_refine  # False: PoseNet's raw motion even for checkpoints trained with refinement
        # image-guided weighted median on DepthNet's map (depth/edge_refine.py); False = the raw map
        self.edge_refine = EdgeRefineConfig() if edge_refine else None
        self._nets = None
        self.refine = None  # RefineConfig from the checkpoint's meta, set on loading
        self._last_disparity: tuple[np.ndarray, torch.Tensor] | None = None  # (image, disparity), see _disparity

    def load(self):
        """Read the checkpoint now, or return the nets already read: ``(depth_net, pose_net, input_size)``.

        Otherwise the first depth/motion call reads it. A missing or corrupt file raises here, with its
        path in the message.
        """
        if self._nets is None:
            from occtrack_ros.models.depth_pose.checkpoint import load_depth_pose
            from occtrack_ros.models.depth_pose.refine import RefineConfig

            depth_net, pose_net, meta = load_depth_pose(self.path, device=self.device)
            size = (int(meta.get("height", 128)), int(meta.get("width", 128)))
            refine = meta.get("refine")
            self.refine = RefineConfig(**refine) if refine and self.pose_refine else None
            self._nets = (depth_net, pose_net, size)
        return self._nets

    @property
    def input_size(self) -> tuple[int, int]:
        """(h, w) the nets were trained at; frames are resized to it and depth comes back at it."""
        return self.load()[2]

    def _disparity(self, frame: Frame) -> torch.Tensor:
        """DepthNet's finest disparity for ``frame``, at the network's input size.

        Remembered for the last image (the array object): the sources ask for a frame's depth and then
        for its motion, which refines through the same depth, so DepthNet runs once per frame.
        """
        if self._last_disparity is None or self._last_disparity[0] is not frame.image:
            depth_net, _, size = self.load()
            self._last_disparity = (frame.image, depth_net(image_tensor(frame, size, self.device))[0])
        return self._last_disparity[1]

    @torch.no_grad()
    def depth(self, frame: Frame, edge_refine: bool = True) -> torch.Tensor:
        """(1, 1, h, w) up-to-scale depth at the network's input size.

        Edge-refined (``joint_weighted_median`` guided by the frame) unless the nets were built with
        ``edge_refine=False`` or the caller passes False (a median needs no sharp edges).
        """
        depth_net, _, size = self.load()
        depth = depth_net.to_depth(self._disparity(frame))
        if edge_refine and self.edge_refine is not None:
            depth = joint_weighted_median(depth, image_tensor(frame, size, self.device), self.edge_refine)
        return depth

    @torch.no_grad()
    def motion(self, frame: Frame, prev: Frame, refine: bool = True) -> np.ndarray:
        """Up-to-scale ``T_prev_cur`` (4, 4): PoseNet with target = current, source = previous.

        Checkpoints trained with pose refinement (their meta has ``refine``) polish PoseNet's output by
        direct alignment at the frame's own resolution, through the current frame's predicted depth
        (``models.depth_pose.refine``); the translation is in the depth net's units either way.
        ``refine=False`` returns PoseNet's raw output.
        """
        depth_net, pose_net, size = self.load()
        current, previous = image_tensor(frame, size, self.device), image_tensor(prev, size, self.device)
        axis_angle, translation = pose_net(current, previous)
        if refine and self.refine is not None and frame.intrinsics is not None:
            from occtrack_ros.geometry.camera import intrinsics_matrix
            from occtrack_ros.models.depth_pose.refine import refine_pose

            h, w = frame.image.shape[:2]
            full, full_prev = image_tensor(frame, (h, w), self.device), image_tensor(prev, (h, w), self.device)
            depth = depth_net.to_depth(self._disparity(frame), (h, w))
            K = torch.tensor(intrinsics_matrix(frame.intrinsics, h, w), dtype=torch.float32, device=self.device)[None]
            axis_angle, translation = refine_pose(full, full_prev, depth, K, axis_angle, translation, self.refine)
        return axis_angle_to_matrix(axis_angle, translation)[0].double().cpu().numpy()
