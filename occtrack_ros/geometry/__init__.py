"""Camera geometry: SE(3) helpers, quaternions, pinhole back-projection and projection.

Conventions follow occtrack_ros.types: optical camera frame (x right, y down, z forward),
``T_a_b`` maps points expressed in frame b to frame a, pixel centres at +0.5.
"""
from occtrack_ros.geometry.camera import (
    BackprojectDepth,
    Project3D,
    backproject,
    intrinsics_matrix,
    pixel_grid,
    project,
)
from occtrack_ros.geometry.rotation import (
    axis_angle_to_matrix,
    pose_from_quaternion,
    pose_to_quaternion,
    rotation_angle_deg,
)
from occtrack_ros.geometry.se3 import (
    cam_to_world,
    compose,
    invert,
    make_pose,
    relative_pose,
    transform_points,
    world_to_cam,
)

__all__ = [
    "BackprojectDepth", "Project3D", "backproject", "intrinsics_matrix", "pixel_grid", "project",
    "axis_angle_to_matrix", "pose_from_quaternion", "pose_to_quaternion", "rotation_angle_deg",
    "cam_to_world", "compose", "invert", "make_pose", "relative_pose", "transform_points", "world_to_cam",
]
