"""Depth and ego-motion sources selected by one config key, ``depth_source: topic|learned|pretrained``.

Real sensors replace the learned nets wherever they are present: a depth topic gives metric depth,
odometry gives ego-motion (and fixes the monocular scale, see occtrack_ros.depth.scale), and
camera_info gives the intrinsics used in training. The learned nets run only for what is missing.
"""
from __future__ import annotations

from pathlib import Path

from occtrack_ros.depth.source import DepthPose

MODES = ("topic", "learned", "pretrained")


def make_depth_source(mode: str, weights: str | Path | None = None, device: str = "cpu", pose_refine: bool = True,
                      edge_refine: bool = True):
    """A source with ``.estimate(frame, prev) -> DepthPose``.

    ``weights``: depth/pose checkpoint for "topic"/"learned" (None = shipped occlusion weights);
    a local directory or hub id of a transformers depth-estimation model for "pretrained"
    (None = Depth Anything V2 Small). ``pose_refine``: polish PoseNet's ego-motion by direct alignment
    when the checkpoint was trained that way (accurate, about 0.1 s per frame on one CPU core); False
    keeps PoseNet's raw output. Only used without odometry. ``edge_refine`` ("learned" only): snap the
    learned depth map's soft ramps to the image's edges (``edge_refine.joint_weighted_median``);
    False keeps DepthNet's raw map.
    """
    from occtrack_ros.depth import sources

    if mode == "topic":
        return sources.TopicDepthSource(weights, device, pose_refine=pose_refine)
    if mode == "learned":
        return sources.LearnedDepthSource(weights, device, pose_refine=pose_refine, edge_refine=edge_refine)
    if mode == "pretrained":
        return sources.PretrainedDepthSource(weights, device, pose_refine=pose_refine)
    raise ValueError(f"unknown depth_source {mode!r}; choose one of {', '.join(MODES)}")


__all__ = ["DepthPose", "MODES", "make_depth_source"]
