"""Topic names, frame ids and the time base shared by the bag writer, the bag reader and the ROS layer.

The synthetic recordings publish the camera pose twice: as nav_msgs/Odometry on ``/odom``
(header.frame_id ``odom``, child_frame_id ``camera_optical_frame``: the pose of the optical
frame, x right, y down, z forward, in the odom frame, which is the generator's world frame) and as
a TF ``odom -> camera_optical_frame`` on ``/tf``. There is no base link in the synthetic world.
"""
from __future__ import annotations

IMAGE_TOPIC = "/camera/image_raw"
DEPTH_TOPIC = "/camera/depth/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
ODOM_TOPIC = "/odom"
TF_TOPIC = "/tf"
TF_STATIC_TOPIC = "/tf_static"

ODOM_FRAME = "odom"
CAMERA_FRAME = "camera_optical_frame"

# Frame i of a sequence is stamped EPOCH_NS + i / fps: a fixed, plausible wall-clock origin
# (2023-11-14T22:13:20Z) keeps stamps positive and identical between a sequence directory and its bag.
EPOCH_NS = 1_700_000_000 * 10**9


def frame_stamp_ns(index: int, fps: float) -> int:
    """Stamp of 0-based frame ``index`` [ns]."""
    return EPOCH_NS + int(round(index * 1e9 / fps))
