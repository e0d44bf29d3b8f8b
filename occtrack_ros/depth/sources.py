"""The three depth sources; each fills in from the learned nets only what the inputs lack.

- "topic": metric depth from the depth topic (frame.depth);
- "learned": the self-supervised DepthNet (up to scale, made metric from odometry, see scale.py);
- "pretrained": a transformers depth-estimation model (Depth Anything V2 by default).

Ego-motion comes from odometry (frame.T_world_cam on both frames) when present, otherwise from
PoseNet. Intrinsics are not needed at inference: the nets map images to depth and motion.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from occtrack_ros.depth.learned import LearnedNets
from occtrack_ros.depth.scale import ScaleEstimator
from occtrack_ros.depth.source import DepthPose, image_tensor, odometry_motion, resize_map
from occtrack_ros.types import Frame


class _MotionFromNets:
    """PoseNet ego-motion with a metric scale fed by the caller."""

    def __init__(self, nets: LearnedNets):
        self.nets = nets
        self.scale = ScaleEstimator()

    def scaled_motion(self, frame: Frame, prev: Frame) -> tuple[np.ndarray, bool]:
        T = self.nets.motion(frame, prev)
        s = self.scale.scale
        if s is not None:
            T = T.copy()
            T[:3, 3] *= s
        return T, s is not None


class TopicDepthSource:
    """Metric depth from the depth topic; motion from odometry, else PoseNet scaled by depth medians."""

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", pose_refine: bool = True):
        self.nets = LearnedNets(weights, device, pose_refine, edge_refine=False)  # only medians of its depth
        self.motion = _MotionFromNets(self.nets)

    def estimate(self, frame: Frame, prev: Frame | None) -> DepthPose:
        if frame.depth is None:
            raise ValueError("depth_source 'topic' needs frame.depth (a depth image topic); "
                             f"frame {frame.index} has none: use 'learned' or 'pretrained'")
        depth = np.asarray(frame.depth, dtype=np.float32)
        if depth.shape != frame.image.shape[:2]:
            raise ValueError(f"frame.depth shape {depth.shape} != image size {frame.image.shape[:2]}")
        T = odometry_motion(frame, prev)
        if T is None and prev is not None:
            # PoseNet shares DepthNet's scale, so the metric/learned depth ratio makes its motion metric
            learned = self.nets.depth(frame)
            valid = np.isfinite(depth) & (depth > 0)
            if valid.any():
                self.motion.scale.update(float(np.median(depth[valid])), float(learned.median()))
            T, _ = self.motion.scaled_motion(frame, prev)
        return DepthPose(depth=depth, T_prev_cur=T, is_metric=True)


class LearnedDepthSource:
    """DepthNet depth; with odometry its scale comes from odometry/PoseNet translation ratios."""

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", pose_refine: bool = True,
                 edge_refine: bool = True):
        self.nets = LearnedNets(weights, device, pose_refine, edge_refine)
        self.motion = _MotionFromNets(self.nets)

    def estimate(self, frame: Frame, prev: Frame | None) -> DepthPose:
        h, w = frame.image.shape[:2]
        depth = self.nets.depth(frame)
        T = odometry_motion(frame, prev)
        if T is not None:
            predicted = self.nets.motion(frame, prev)
            self.motion.scale.update(float(np.linalg.norm(T[:3, 3])), float(np.linalg.norm(predicted[:3, 3])))
        elif prev is not None:
            T, _ = self.motion.scaled_motion(frame, prev)
        s = self.motion.scale.scale
        out = resize_map(depth, h, w)
        return DepthPose(depth=out * s if s is not None else out, T_prev_cur=T, is_metric=s is not None)


class PretrainedDepthSource:
    """Depth from a transformers depth-estimation model; motion from odometry, else PoseNet.

    Relative models (Depth Anything V2 "-hf") predict affine-invariant inverse depth; we return its
    reciprocal, which is up to scale (and ignores the unknown shift). Metric checkpoints
    (``config.depth_estimation_type == "metric"``) return metres and ``is_metric=True``.
    """

    DEFAULT_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", pose_weights: str | Path | None = None,
                 pose_refine: bool = True):
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        name = str(weights) if weights is not None else self.DEFAULT_MODEL
        try:
            self.processor = AutoImageProcessor.from_pretrained(name)
            self.model = AutoModelForDepthEstimation.from_pretrained(name).to(device).eval()
        except OSError as exc:
            raise FileNotFoundError(f"cannot load pretrained depth model {name!r} (a local directory saved with "
                                    f"save_pretrained, or a hub id reachable from this machine): {exc}") from exc
        self.device = device
        self.is_metric = getattr(self.model.config, "depth_estimation_type", "relative") == "metric"
        self.motion = _MotionFromNets(LearnedNets(pose_weights, device, pose_refine))

    @torch.no_grad()
    def predict(self, frame: Frame) -> np.ndarray:
        """(H, W) float32 depth: metres for metric models, else 1 / relative inverse depth."""
        h, w = frame.image.shape[:2]
        image_tensor(frame)  # validates the image
        inputs = self.processor(images=np.asarray(frame.image), return_tensors="pt").to(self.device)
        pred = self.model(**inputs).predicted_depth  # (1, h', w')
        out = resize_map(pred[:, None].float(), h, w)
        if self.is_metric:
            return out
        return (1.0 / np.clip(out, 1e-3 * max(float(out.max()), 1e-6), None)).astype(np.float32)

    def estimate(self, frame: Frame, prev: Frame | None) -> DepthPose:
        depth = self.predict(frame)
        T = odometry_motion(frame, prev)
        if T is None and prev is not None:
            T, _ = self.motion.scaled_motion(frame, prev)
        return DepthPose(depth=depth, T_prev_cur=T, is_metric=self.is_metric)
