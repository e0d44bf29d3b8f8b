"""Synchronised input messages -> Frame, with the checks for bad input. No ROS needed.

The node and ``occtrack replay`` both turn each synchronised (image, depth, odometry) set, plus
the latest camera_info, into a :class:`~occtrack_ros.types.Frame` here, so they see the same
frames. Messages are duck-typed: rclpy messages and rosbags messages both work.

Bad input never raises out of :meth:`FrameAssembler.assemble`'s caller's loop: a frame that
cannot be used raises :class:`FrameRejected` (the caller drops it and warns); a frame that can
be used with a fallback comes back with warnings (key, text) for the caller to log, throttled
per key.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from occtrack_ros.ros.conversions import (
    ImageConversionError,
    camera_info_to_intrinsics,
    compressed_to_rgb,
    depth_to_metres,
    image_to_rgb,
    odometry_to_matrix,
    pose_to_matrix,
    stamp_to_ns,
)
from occtrack_ros.types import CameraIntrinsics, Frame

# Depth frames with more invalid pixels than this are reported (sparse depth is normal below it).
INVALID_DEPTH_WARN_FRACTION = 0.5


class FrameRejected(ValueError):
    """The input set cannot become a frame; ``key`` groups repeated warnings of one kind."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass
class InputConfig:
    use_depth: bool = True
    use_odometry: bool = True
    base_to_camera: tuple = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # [x y z qx qy qz qw]
    time_jump_reset_s: float = 1.0


@dataclass
class AssembledFrame:
    frame: Frame
    frame_id: str                       # output frame: odometry frame, else the camera frame
    reset: bool = False                 # time jumped back: the caller resets the pipeline first
    warnings: list[tuple[str, str]] = field(default_factory=list)


class _Point:
    def __init__(self, x, y, z):
        self.x, self.y, self.z = x, y, z


class _Quat(_Point):
    def __init__(self, x, y, z, w):
        super().__init__(x, y, z)
        self.w = w


class FrameAssembler:
    """Stateful: remembers the last accepted stamp (order checks) and counts frames since reset."""

    def __init__(self, config: InputConfig | None = None) -> None:
        self.config = config or InputConfig()
        b = [float(v) for v in self.config.base_to_camera]
        self.T_base_cam = pose_to_matrix(_Point(*b[:3]), _Quat(*b[3:]))
        self.last_stamp_ns: int | None = None
        self.index = 0

    def reset(self) -> None:
        self.last_stamp_ns = None
        self.index = 0

    def assemble(self, image_msg, depth_msg=None, odom_msg=None, camera_info_msg=None,
                 compressed: bool = False) -> AssembledFrame:
        """Build the frame for one synchronised set, or raise :class:`FrameRejected`."""
        warnings: list[tuple[str, str]] = []
        stamp = stamp_to_ns(image_msg.header.stamp)
        reset = False
        if self.last_stamp_ns is not None and stamp <= self.last_stamp_ns:
            back_s = (self.last_stamp_ns - stamp) * 1e-9
            if back_s > self.config.time_jump_reset_s:
                warnings.append(("time_jump", f"image stamp jumped back by {back_s:.3f} s (bag loop?): "
                                              "resetting the tracker"))
                reset = True
                self.reset()
            elif stamp == self.last_stamp_ns:
                raise FrameRejected("stamp_order", f"repeated image stamp {stamp} ns: frame dropped")
            else:
                raise FrameRejected("stamp_order", f"out-of-order image stamp {stamp} ns, "
                                                   f"{back_s * 1e3:.1f} ms before the last one: frame dropped")
        try:
            image = compressed_to_rgb(image_msg) if compressed else image_to_rgb(image_msg)
        except ImageConversionError as exc:
            raise FrameRejected("image", f"image rejected: {exc}") from exc
        height, width = image.shape[:2]

        depth = None
        if depth_msg is not None:
            try:
                depth = depth_to_metres(depth_msg)
            except ImageConversionError as exc:
                warnings.append(("depth", f"depth rejected, frame processed without depth: {exc}"))
            if depth is not None and depth.shape != (height, width):
                warnings.append(("depth_size", f"depth size {depth.shape[1]}x{depth.shape[0]} differs from image "
                                               f"size {width}x{height}: frame processed without depth"))
                depth = None
            if depth is not None:
                invalid = float(np.mean(np.isnan(depth)))
                if invalid >= 1.0:
                    warnings.append(("depth_invalid", "depth has no valid pixel (all NaN or zero): "
                                                      "frame processed without depth"))
                    depth = None
                elif invalid > INVALID_DEPTH_WARN_FRACTION:
                    warnings.append(("depth_invalid", f"{100 * invalid:.0f}% of the depth pixels are NaN or zero"))

        intrinsics = None
        if camera_info_msg is not None:
            try:
                intrinsics = camera_info_to_intrinsics(camera_info_msg)
            except (ValueError, TypeError) as exc:
                warnings.append(("camera_info", f"{exc}; using a 60 degree default field of view"))
            if intrinsics is not None and (intrinsics.width, intrinsics.height) != (width, height):
                warnings.append(("camera_info", f"camera_info is for {intrinsics.width}x{intrinsics.height}, the "
                                                f"image is {width}x{height}; using a 60 degree default field of view"))
                intrinsics = None
        else:
            warnings.append(("camera_info", "no camera_info received yet: using a 60 degree horizontal "
                                            "field of view (CameraIntrinsics.default_for)"))
        if intrinsics is None:
            intrinsics = CameraIntrinsics.default_for(width, height)

        T_world_cam = None
        frame_id = image_msg.header.frame_id or "camera_optical_frame"
        if odom_msg is not None:
            try:
                T_world_cam = odometry_to_matrix(odom_msg) @ self.T_base_cam
                frame_id = odom_msg.header.frame_id or "odom"
            except ValueError as exc:
                warnings.append(("odometry", f"odometry rejected, frame processed in the camera frame: {exc}"))

        frame = Frame(image=image, stamp_ns=stamp, index=self.index, depth=depth, intrinsics=intrinsics,
                      T_world_cam=T_world_cam)
        self.index += 1
        self.last_stamp_ns = stamp
        return AssembledFrame(frame=frame, frame_id=frame_id, reset=reset, warnings=warnings)
