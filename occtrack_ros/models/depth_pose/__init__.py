"""Self-supervised monocular depth and ego-motion (Monodepth2-style), sized for 128x128 frames."""
from occtrack_ros.models.depth_pose.checkpoint import load_depth_pose, save_depth_pose
from occtrack_ros.models.depth_pose.collapse import CollapseThresholds, collapse_flags, depth_cv, motion_stats
from occtrack_ros.models.depth_pose.depth_net import DepthNet, DepthNetConfig, disp_to_depth
from occtrack_ros.models.depth_pose.losses import (
    SSIM,
    PhotometricConfig,
    PhotometricError,
    edge_aware_smoothness,
    reprojection_loss,
)
from occtrack_ros.models.depth_pose.pose_net import PoseNet, PoseNetConfig
from occtrack_ros.models.depth_pose.warp import ViewSynthesis

__all__ = [
    "load_depth_pose", "save_depth_pose", "CollapseThresholds", "collapse_flags", "depth_cv", "motion_stats",
    "DepthNet", "DepthNetConfig", "disp_to_depth", "SSIM", "PhotometricConfig", "PhotometricError",
    "edge_aware_smoothness", "reprojection_loss", "PoseNet", "PoseNetConfig", "ViewSynthesis",
]
