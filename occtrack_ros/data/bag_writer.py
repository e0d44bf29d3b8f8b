"""Write a rendered sequence as a rosbag2 recording (mcap or sqlite3) through the rosbags library.

Topics (see :mod:`occtrack_ros.data.bag_topics`): ``/camera/image_raw`` (sensor_msgs/Image,
rgb8), ``/camera/depth/image_raw`` (32FC1 metres), ``/camera/camera_info``, ``/odom``
(nav_msgs/Odometry) and ``/tf`` (tf2_msgs/TFMessage). All messages of frame i share the header
stamp and the bag log time ``EPOCH_NS + i / fps``; messages are CDR-serialised with the
ROS 2 Kilted typestore (the distribution of the project's ROS wheels).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from occtrack_ros.data.bag_topics import (
    CAMERA_FRAME,
    CAMERA_INFO_TOPIC,
    DEPTH_TOPIC,
    IMAGE_TOPIC,
    ODOM_FRAME,
    ODOM_TOPIC,
    TF_TOPIC,
    frame_stamp_ns,
)
from occtrack_ros.data.image_encoding import encode_32fc1, encode_rgb8
from occtrack_ros.types import CameraIntrinsics
from occtrack_ros.world.records import FrameRecord

STORAGES = ("mcap", "sqlite3")


def default_typestore():
    """The rosbags typestore used for writing (and as the fallback for reading)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


class SequenceBagWriter:
    """Streams frames into a new rosbag2 directory; use ``open()`` / ``write_record()`` / ``close()``."""

    def __init__(self, path: str | Path, intrinsics: CameraIntrinsics, fps: float, storage: str = "mcap"):
        if storage not in STORAGES:
            raise ValueError(f"unknown bag storage {storage!r}; expected one of {STORAGES}")
        self.path = Path(path)
        self.intrinsics = intrinsics
        self.fps = float(fps)
        self.storage = storage
        self.typestore = default_typestore()
        self._writer = None
        self._previous_pose: np.ndarray | None = None

    def __enter__(self) -> SequenceBagWriter:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Create the bag directory (it must not exist) and register the topics."""
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._writer.open()
        add = self._writer.add_connection
        ts = self.typestore
        self._conn = {
            IMAGE_TOPIC: add(IMAGE_TOPIC, "sensor_msgs/msg/Image", typestore=ts),
            DEPTH_TOPIC: add(DEPTH_TOPIC, "sensor_msgs/msg/Image", typestore=ts),
            CAMERA_INFO_TOPIC: add(CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=ts),
            ODOM_TOPIC: add(ODOM_TOPIC, "nav_msgs/msg/Odometry", typestore=ts),
            TF_TOPIC: add(TF_TOPIC, "tf2_msgs/msg/TFMessage", typestore=ts),
        }

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _header(self, stamp_ns: int, frame_id: str):
        T = self.typestore.types
        return T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=frame_id)

    def _camera_info(self, header):
        T = self.typestore.types
        k = self.intrinsics
        return T["sensor_msgs/msg/CameraInfo"](
            header=header, height=k.height, width=k.width, distortion_model="plumb_bob",
            d=np.zeros(5, np.float64), k=np.array([k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1], np.float64),
            r=np.eye(3).reshape(-1), p=np.array([k.fx, 0, k.cx, 0, 0, k.fy, k.cy, 0, 0, 0, 1, 0], np.float64),
            binning_x=0, binning_y=0,
            roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))

    def _pose_msgs(self, stamp_ns: int, pose: np.ndarray):
        from scipy.spatial.transform import Rotation

        T = self.typestore.types
        t = pose[:3, 3]
        q = Rotation.from_matrix(pose[:3, :3]).as_quat()  # x y z w
        vector3, point = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Point"]
        quat = T["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3])
        # Twist in the child (camera) frame by backward difference; zero on the first frame.
        lin = np.zeros(3)
        ang = np.zeros(3)
        if self._previous_pose is not None:
            delta = np.linalg.inv(self._previous_pose) @ pose
            lin = pose[:3, :3].T @ (t - self._previous_pose[:3, 3]) * self.fps
            ang = Rotation.from_matrix(delta[:3, :3]).as_rotvec() * self.fps
        self._previous_pose = pose.copy()
        cov = np.zeros(36, np.float64)
        odom = T["nav_msgs/msg/Odometry"](
            header=self._header(stamp_ns, ODOM_FRAME), child_frame_id=CAMERA_FRAME,
            pose=T["geometry_msgs/msg/PoseWithCovariance"](
                pose=T["geometry_msgs/msg/Pose"](position=point(x=t[0], y=t[1], z=t[2]), orientation=quat),
                covariance=cov),
            twist=T["geometry_msgs/msg/TwistWithCovariance"](
                twist=T["geometry_msgs/msg/Twist"](linear=vector3(x=lin[0], y=lin[1], z=lin[2]),
                                                   angular=vector3(x=ang[0], y=ang[1], z=ang[2])),
                covariance=cov.copy()))
        tf = T["tf2_msgs/msg/TFMessage"](transforms=[T["geometry_msgs/msg/TransformStamped"](
            header=self._header(stamp_ns, ODOM_FRAME), child_frame_id=CAMERA_FRAME,
            transform=T["geometry_msgs/msg/Transform"](translation=vector3(x=t[0], y=t[1], z=t[2]), rotation=quat))])
        return odom, tf

    def write_frame(self, index: int, image: np.ndarray, depth: np.ndarray | None, T_world_cam: np.ndarray) -> None:
        """Write the messages of 0-based frame ``index``."""
        if self._writer is None:
            raise RuntimeError("SequenceBagWriter.write_frame called before open()")
        T = self.typestore.types
        ser = self.typestore.serialize_cdr
        stamp = frame_stamp_ns(index, self.fps)
        header = self._header(stamp, CAMERA_FRAME)
        w = self._writer.write
        w(self._conn[IMAGE_TOPIC], stamp,
          ser(T["sensor_msgs/msg/Image"](header=header, **encode_rgb8(image)), "sensor_msgs/msg/Image"))
        if depth is not None:
            w(self._conn[DEPTH_TOPIC], stamp,
              ser(T["sensor_msgs/msg/Image"](header=header, **encode_32fc1(depth)), "sensor_msgs/msg/Image"))
        w(self._conn[CAMERA_INFO_TOPIC], stamp, ser(self._camera_info(header), "sensor_msgs/msg/CameraInfo"))
        odom, tf = self._pose_msgs(stamp, T_world_cam)
        w(self._conn[ODOM_TOPIC], stamp, ser(odom, "nav_msgs/msg/Odometry"))
        w(self._conn[TF_TOPIC], stamp, ser(tf, "tf2_msgs/msg/TFMessage"))

    def write_record(self, index: int, record: FrameRecord) -> None:
        """``write_sequence`` callback: write one rendered frame."""
        self.write_frame(index, record.image, record.depth, record.T_world_cam)
