"""Lazy rosbag2 (and rosbag1) reading into :class:`occtrack_ros.types.Frame` objects via rosbags.

The image topic drives the output: each image becomes one Frame, and the depth image, camera
info and odometry whose header stamps are nearest to the image stamp, within ``tolerance_s``,
are attached (approximate-time pairing). Camera info, often published slowly or once, falls back
to the most recent message seen. Messages are streamed in log-time order and only a short window
is buffered, so memory stays bounded however long the recording; several bags are read one after
the other.

Odometry gives ``T_world_cam`` as the pose of ``child_frame_id`` in ``header.frame_id``; when the
child is not the image's frame, the static transform child -> image frame is taken from
``/tf_static`` if the bag has it (else the child is assumed to be the camera, with a warning).
"""
from __future__ import annotations

import bisect
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from occtrack_ros.data.bag_topics import CAMERA_INFO_TOPIC, DEPTH_TOPIC, IMAGE_TOPIC, ODOM_TOPIC, TF_STATIC_TOPIC
from occtrack_ros.data.image_encoding import decode_colour, decode_depth
from occtrack_ros.types import CameraIntrinsics, Frame

log = logging.getLogger(__name__)


def _stamp_ns(msg) -> int:
    return int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)


def _transform_matrix(translation, rotation) -> np.ndarray:
    """(4, 4) from geometry_msgs translation/position and quaternion."""
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([rotation.x, rotation.y, rotation.z, rotation.w]).as_matrix()
    T[:3, 3] = [translation.x, translation.y, translation.z]
    return T


def intrinsics_from_camera_info(msg) -> CameraIntrinsics:
    """CameraIntrinsics from a sensor_msgs/CameraInfo (uses K; distortion is not applied)."""
    k = np.asarray(msg.k, dtype=np.float64)
    if k.shape != (9,) or k[0] <= 0 or k[4] <= 0:
        raise ValueError(f"camera_info with invalid K {k.tolist()}")
    return CameraIntrinsics(fx=float(k[0]), fy=float(k[4]), cx=float(k[2]), cy=float(k[5]), width=int(msg.width),
                            height=int(msg.height))


class _Stream:
    """Recent messages of one auxiliary topic, ordered by header stamp, trimmed from the front."""

    def __init__(self):
        self.stamps: deque[int] = deque()
        self.values: deque = deque()
        self.latest_stamp = -1

    def push(self, stamp: int, value) -> None:
        if self.stamps and stamp < self.stamps[-1]:  # rare out-of-order stamp: insert in place
            i = bisect.bisect(list(self.stamps), stamp)
            self.stamps.insert(i, stamp)
            self.values.insert(i, value)
        else:
            self.stamps.append(stamp)
            self.values.append(value)
        self.latest_stamp = max(self.latest_stamp, stamp)

    def nearest(self, stamp: int, tolerance: int):
        best, best_dt = None, tolerance + 1
        for s, v in zip(self.stamps, self.values):
            dt = abs(s - stamp)
            if dt < best_dt:
                best, best_dt = v, dt
        return best if best_dt <= tolerance else None

    def trim(self, before: int) -> None:
        while self.stamps and self.stamps[0] < before:
            self.stamps.popleft()
            self.values.popleft()


class BagReader:
    """Iterate Frames of one or several rosbag2 directories (or rosbag1 files), lazily.

    ``paths``: a bag path or a list of them (read in the given order). ``depth_topic``,
    ``camera_info_topic``, ``odom_topic`` may be None to skip them. ``tolerance_s``: the largest
    stamp difference accepted when pairing with the image. ``max_pending``: images held while
    waiting for their partners; beyond it the oldest is emitted with what has arrived.
    """

    def __init__(self, paths: str | Path | Sequence[str | Path], image_topic: str = IMAGE_TOPIC,
                 depth_topic: str | None = DEPTH_TOPIC, camera_info_topic: str | None = CAMERA_INFO_TOPIC,
                 odom_topic: str | None = ODOM_TOPIC, tolerance_s: float = 0.02, max_pending: int = 32):
        self.paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("BagReader: no bag paths given")
        for p in self.paths:
            if not p.exists():
                raise FileNotFoundError(f"bag not found: {p}")
        if tolerance_s < 0:
            raise ValueError(f"tolerance_s={tolerance_s} must be >= 0")
        self.image_topic = image_topic
        self.aux_topics = {"depth": depth_topic, "info": camera_info_topic, "odom": odom_topic}
        self.tolerance_ns = int(round(tolerance_s * 1e9))
        self.max_pending = int(max_pending)

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        for path in self.paths:
            for frame in self._read_bag(path, index):
                index = frame.index + 1
                yield frame

    def _read_bag(self, path: Path, first_index: int) -> Iterator[Frame]:
        from rosbags.highlevel import AnyReader

        from occtrack_ros.data.bag_writer import default_typestore

        with AnyReader([path], default_typestore=default_typestore()) as reader:
            by_topic: dict[str, list] = {}
            for c in reader.connections:
                by_topic.setdefault(c.topic, []).append(c)
            if self.image_topic not in by_topic:
                raise ValueError(f"{path}: no image topic {self.image_topic!r}; topics: {sorted(by_topic)}")
            present = {k: t for k, t in self.aux_topics.items() if t is not None and t in by_topic}
            static = self._static_transforms(reader, by_topic.get(TF_STATIC_TOPIC, []))
            wanted = [c for t in [self.image_topic, *present.values()] for c in by_topic[t]]
            kind_of = {t: k for k, t in present.items()}
            streams = {k: _Stream() for k in present}
            pending: deque = deque()  # (stamp, image msg)
            last_info: CameraIntrinsics | None = None
            index = first_index
            warned = set()

            def ready(stamp: int) -> bool:
                # Camera info is often latched or slow: never wait for it, the latest one will do.
                return all(s.latest_stamp > stamp + self.tolerance_ns for k, s in streams.items() if k != "info")

            def emit(stamp: int, msg) -> Frame:
                nonlocal last_info, index
                info_msg = streams["info"].nearest(stamp, self.tolerance_ns) if "info" in streams else None
                if info_msg is not None:
                    last_info = intrinsics_from_camera_info(info_msg)
                elif "info" in streams and streams["info"].values:
                    last_info = intrinsics_from_camera_info(streams["info"].values[-1])
                image = decode_colour(msg.encoding, msg.height, msg.width, msg.step, msg.data, msg.is_bigendian)
                depth = None
                if "depth" in streams:
                    dmsg = streams["depth"].nearest(stamp, self.tolerance_ns)
                    if dmsg is not None:
                        depth = decode_depth(dmsg.encoding, dmsg.height, dmsg.width, dmsg.step, dmsg.data,
                                             dmsg.is_bigendian)
                        if depth.shape != image.shape[:2]:
                            raise ValueError(f"{path}: depth {depth.shape} and image {image.shape[:2]} differ "
                                             f"at stamp {stamp}")
                pose = None
                if "odom" in streams:
                    omsg = streams["odom"].nearest(stamp, self.tolerance_ns)
                    if omsg is not None:
                        pose = _transform_matrix(omsg.pose.pose.position, omsg.pose.pose.orientation)
                        child, camera = omsg.child_frame_id, msg.header.frame_id
                        if child != camera:
                            if (child, camera) in static:
                                pose = pose @ static[(child, camera)]
                            elif (child, camera) not in warned:
                                warned.add((child, camera))
                                log.warning("%s: odometry child %r is not the image frame %r and /tf_static has no "
                                            "%r -> %r; using the odometry pose as the camera pose",
                                            path, child, camera, child, camera)
                frame = Frame(image=image, stamp_ns=stamp, index=index, depth=depth, intrinsics=last_info,
                              T_world_cam=pose)
                index += 1
                return frame

            for connection, _, raw in reader.messages(connections=wanted):
                msg = reader.deserialize(raw, connection.msgtype)
                stamp = _stamp_ns(msg)
                if connection.topic == self.image_topic:
                    pending.append((stamp, msg))
                else:
                    streams[kind_of[connection.topic]].push(stamp, msg)
                while pending and (ready(pending[0][0]) or len(pending) > self.max_pending):
                    yield emit(*pending.popleft())
                oldest = pending[0][0] if pending else max((s.latest_stamp for s in streams.values()), default=0)
                for kind, s in streams.items():
                    # Keep one message before the window: camera info may be sparse.
                    keep_from = oldest - self.tolerance_ns
                    if kind == "info":
                        while len(s.stamps) > 1 and s.stamps[1] < keep_from:
                            s.stamps.popleft()
                            s.values.popleft()
                    else:
                        s.trim(keep_from)
            while pending:
                yield emit(*pending.popleft())

    @staticmethod
    def _static_transforms(reader, connections) -> dict[tuple[str, str], np.ndarray]:
        """(parent, child) -> (4, 4) T_parent_child from /tf_static (small: read in full)."""
        out = {}
        if not connections:
            return out
        for connection, _, raw in reader.messages(connections=connections):
            for tf in reader.deserialize(raw, connection.msgtype).transforms:
                out[(tf.header.frame_id, tf.child_frame_id)] = _transform_matrix(tf.transform.translation,
                                                                                tf.transform.rotation)
        return out


def read_bag(paths, **options) -> Iterator[Frame]:
    """Shorthand for ``iter(BagReader(paths, **options))``."""
    return iter(BagReader(paths, **options))
