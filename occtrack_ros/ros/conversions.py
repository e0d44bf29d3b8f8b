"""Message <-> numpy / package-type conversions, with strict validation of incoming images.

Every malformed image is rejected with one exception type, :class:`ImageConversionError`, whose
message names the offending value, so the node can log it (throttled) and keep running.

The image functions are duck-typed over the message fields (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``): they accept rclpy messages and the ``rosbags`` messages the
offline replay reads alike, which is what keeps the live node and ``occtrack replay`` on one path.
The TrackedObject builders need the generated message packages but not a running ROS graph.
"""
from __future__ import annotations

import uuid as uuid_lib
from dataclasses import dataclass

import numpy as np

from occtrack_ros.tracking.mot_files import MOT_STATES, mot_row_wanted
from occtrack_ros.types import CameraIntrinsics, GraphEdge, Relation, Track, TrackerOutput, TrackState

# Larger than any camera we expect; guards against allocating gigabytes on a corrupt header.
MAX_IMAGE_SIDE = 16384
# Variance reported for quantities the tracker does not estimate (orientation, unknown 3D state).
UNKNOWN_VARIANCE = 1.0e6


class ImageConversionError(ValueError):
    """An image message that cannot be converted; the message says which field is wrong."""


@dataclass(frozen=True)
class EncodingInfo:
    dtype: str      # numpy dtype of one channel
    channels: int


# sensor_msgs/image_encodings.hpp names this package reads or writes.
ENCODINGS: dict[str, EncodingInfo] = {
    "rgb8": EncodingInfo("uint8", 3),
    "bgr8": EncodingInfo("uint8", 3),
    "rgba8": EncodingInfo("uint8", 4),
    "bgra8": EncodingInfo("uint8", 4),
    "mono8": EncodingInfo("uint8", 1),
    "8UC1": EncodingInfo("uint8", 1),
    "8UC3": EncodingInfo("uint8", 3),
    "mono16": EncodingInfo("uint16", 1),
    "16UC1": EncodingInfo("uint16", 1),
    "32FC1": EncodingInfo("float32", 1),
    "32SC1": EncodingInfo("int32", 1),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEPTH_ENCODINGS = ("16UC1", "32FC1")
LABEL_ENCODINGS = ("32SC1", "mono16")


def _byte_buffer(data) -> np.ndarray:
    """The message's data field as a flat uint8 array without copying where possible."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    except TypeError:
        try:
            return np.asarray(data, dtype=np.uint8).reshape(-1)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ImageConversionError(f"image data of type {type(data).__name__} is not a byte buffer") from exc


def image_to_numpy(msg) -> np.ndarray:
    """Decode a sensor_msgs/Image into ``(H, W)`` or ``(H, W, C)`` in its own encoding and dtype.

    Raises:
        ImageConversionError: unknown encoding, non-positive or huge size, a step shorter than a
            row, a data length other than ``step * height``, or an invalid ``is_bigendian``.
    """
    encoding = msg.encoding
    info = ENCODINGS.get(encoding)
    if info is None:
        raise ImageConversionError(f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if not (0 < height <= MAX_IMAGE_SIDE and 0 < width <= MAX_IMAGE_SIDE):
        raise ImageConversionError(f"image size {width}x{height} ({encoding}) is outside 1..{MAX_IMAGE_SIDE} px")
    bigendian = int(msg.is_bigendian)
    if bigendian not in (0, 1):
        raise ImageConversionError(f"is_bigendian={bigendian} is not 0 or 1")
    itemsize = np.dtype(info.dtype).itemsize
    row_bytes = width * info.channels * itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is shorter than one row of {width} px x {info.channels} ch x {itemsize} B = {row_bytes} B"
        )
    buf = _byte_buffer(msg.data)
    if buf.size != step * height:
        raise ImageConversionError(
            f"image data has {buf.size} bytes, expected step*height = {step}*{height} = {step * height}"
        )
    rows = buf.reshape(height, step)[:, :row_bytes]  # (H, row_bytes)
    dtype = np.dtype(info.dtype).newbyteorder(">" if bigendian else "<")
    array = np.ascontiguousarray(rows).view(dtype).reshape(height, width, info.channels)  # (H, W, C)
    array = array.astype(np.dtype(info.dtype), copy=False)  # native byte order
    return array[..., 0] if info.channels == 1 else array


def _check_header(msg) -> None:
    """Limits the shared decoders do not check: a sane size and a 0/1 byte-order flag."""
    height, width = int(msg.height), int(msg.width)
    if not (0 < height <= MAX_IMAGE_SIDE and 0 < width <= MAX_IMAGE_SIDE):
        raise ImageConversionError(f"image size {width}x{height} ({msg.encoding}) is outside 1..{MAX_IMAGE_SIDE} px")
    if int(msg.is_bigendian) not in (0, 1):
        raise ImageConversionError(f"is_bigendian={int(msg.is_bigendian)} is not 0 or 1")


def image_to_rgb(msg) -> np.ndarray:
    """A colour sensor_msgs/Image as ``(H, W, 3)`` uint8 RGB (the Frame convention).

    Decoding is occtrack_ros.data.image_encoding's (shared with the bag reader), so the node, the
    bag reader and ``occtrack replay`` decode pixels identically.
    """
    from occtrack_ros.data.image_encoding import ImageEncodingError, decode_colour

    if msg.encoding not in COLOR_ENCODINGS:
        raise ImageConversionError(
            f"unsupported colour encoding {msg.encoding!r}; supported: {', '.join(COLOR_ENCODINGS)}"
        )
    _check_header(msg)
    try:
        return decode_colour(msg.encoding, int(msg.height), int(msg.width), int(msg.step), _byte_buffer(msg.data),
                             bool(msg.is_bigendian))
    except ImageEncodingError as exc:
        raise ImageConversionError(str(exc)) from exc


def compressed_to_rgb(msg) -> np.ndarray:
    """A sensor_msgs/CompressedImage (jpeg/png) as ``(H, W, 3)`` uint8 RGB."""
    import cv2

    fmt = str(msg.format).lower()
    if "compresseddepth" in fmt:
        raise ImageConversionError(f"compressed depth format {msg.format!r} is not a colour image")
    buf = _byte_buffer(msg.data)
    if buf.size == 0:
        raise ImageConversionError(f"compressed image ({msg.format!r}) has no data")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ImageConversionError(f"compressed image ({msg.format!r}, {buf.size} B) could not be decoded")
    return np.ascontiguousarray(decoded[..., ::-1])


def depth_to_metres(msg) -> np.ndarray:
    """A depth sensor_msgs/Image as ``(H, W)`` float32 metres; invalid pixels (0, NaN, inf) become NaN.

    ``16UC1`` is millimetres and ``32FC1`` metres (REP 118); decoded by data.image_encoding.
    """
    from occtrack_ros.data.image_encoding import ImageEncodingError, decode_depth

    if msg.encoding not in DEPTH_ENCODINGS:
        raise ImageConversionError(
            f"unsupported depth encoding {msg.encoding!r}; supported: {', '.join(DEPTH_ENCODINGS)} (REP 118)"
        )
    _check_header(msg)
    try:
        depth = decode_depth(msg.encoding, int(msg.height), int(msg.width), int(msg.step), _byte_buffer(msg.data),
                             bool(msg.is_bigendian))
    except ImageEncodingError as exc:
        raise ImageConversionError(str(exc)) from exc
    depth = np.array(depth, dtype=np.float32)  # writable copy
    depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    return depth


def numpy_to_image(array: np.ndarray, encoding: str, stamp=None, frame_id: str = ""):
    """Encode ``(H, W)`` or ``(H, W, C)`` into a sensor_msgs/Image (little endian, packed rows)."""
    from sensor_msgs.msg import Image

    info = ENCODINGS.get(encoding)
    if info is None:
        raise ImageConversionError(f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}")
    array = np.asarray(array)
    channels = 1 if array.ndim == 2 else array.shape[2]
    if array.ndim not in (2, 3) or channels != info.channels:
        raise ImageConversionError(f"array of shape {array.shape} does not fit encoding {encoding!r}")
    array = np.ascontiguousarray(array, dtype=np.dtype(info.dtype).newbyteorder("<"))
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(array.shape[1] * info.channels * array.dtype.itemsize)
    msg.data = array.tobytes()
    return msg


def stamp_to_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int):
    from builtin_interfaces.msg import Time

    ns = int(ns)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def camera_info_to_intrinsics(msg) -> CameraIntrinsics:
    """sensor_msgs/CameraInfo -> CameraIntrinsics (from K: the image is assumed undistorted)."""
    k = [float(v) for v in msg.k]
    if len(k) != 9 or k[0] <= 0 or k[4] <= 0 or int(msg.width) <= 0 or int(msg.height) <= 0:
        raise ValueError(f"camera_info is not usable: K={k}, size={msg.width}x{msg.height}")
    return CameraIntrinsics(fx=k[0], fy=k[4], cx=k[2], cy=k[5], width=int(msg.width), height=int(msg.height))


def pose_to_matrix(position, orientation) -> np.ndarray:
    """geometry_msgs Point + Quaternion -> (4, 4) homogeneous transform."""
    from scipy.spatial.transform import Rotation

    q = np.array([orientation.x, orientation.y, orientation.z, orientation.w], dtype=np.float64)
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"quaternion {q.tolist()} has no valid rotation")
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q / norm).as_matrix()
    T[:3, 3] = [position.x, position.y, position.z]
    if not np.all(np.isfinite(T)):
        raise ValueError(f"pose has non-finite values: {T[:3, 3].tolist()}")
    return T


def odometry_to_matrix(msg) -> np.ndarray:
    """nav_msgs/Odometry -> (4, 4) T_odom_child."""
    return pose_to_matrix(msg.pose.pose.position, msg.pose.pose.orientation)


def _fill_cov(target, cov: np.ndarray | None) -> None:
    """Row-major 6x6 with the 3x3 linear block from ``cov``; the angular block is unknown."""
    full = np.zeros((6, 6), dtype=np.float64)
    full[3:, 3:] = np.eye(3) * UNKNOWN_VARIANCE
    full[:3, :3] = np.eye(3) * UNKNOWN_VARIANCE if cov is None else np.asarray(cov, dtype=np.float64).reshape(3, 3)
    target[:] = full.reshape(-1)


def track_to_msg(track: Track):
    """Track -> occtrack_ros/TrackedObject. Unknown 3D quantities get zero value, huge variance."""
    from occtrack_ros.msg import TrackedObject

    msg = TrackedObject()
    msg.uuid.uuid = np.frombuffer(track.uuid.bytes, dtype=np.uint8).copy()
    msg.id = int(track.track_id)
    msg.state = int(track.state)
    msg.existence_probability = float(track.existence_probability)
    msg.visible_fraction = float(track.visible_fraction)
    x0, y0, x1, y1 = (float(v) for v in np.asarray(track.box, dtype=np.float64).reshape(4))
    msg.bbox.center_x, msg.bbox.center_y = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    msg.bbox.size_x, msg.bbox.size_y = x1 - x0, y1 - y0
    if track.position is not None:
        p = np.asarray(track.position, dtype=np.float64).reshape(3)
        msg.pose.pose.position.x, msg.pose.pose.position.y, msg.pose.pose.position.z = (float(v) for v in p)
    _fill_cov(msg.pose.covariance, track.position_cov if track.position is not None else None)
    if track.velocity is not None:
        v = np.asarray(track.velocity, dtype=np.float64).reshape(3)
        msg.twist.twist.linear.x, msg.twist.twist.linear.y, msg.twist.twist.linear.z = (float(x) for x in v)
    _fill_cov(msg.twist.covariance, track.velocity_cov if track.velocity is not None else None)
    if track.size is not None:
        s = np.asarray(track.size, dtype=np.float64).reshape(3)
        msg.size.x, msg.size.y, msg.size.z = (float(x) for x in s)
    msg.first_seen = ns_to_stamp(track.first_seen_ns)
    msg.last_observed = ns_to_stamp(track.last_observed_ns)
    msg.age = int(track.age)
    msg.frames_observed = int(track.frames_observed)
    msg.frames_occluded = int(track.frames_occluded)
    return msg


def msg_to_track(msg) -> Track:
    """occtrack_ros/TrackedObject -> Track (inverse of :func:`track_to_msg` for the fields it sets)."""
    cov = np.asarray(msg.pose.covariance, dtype=np.float64).reshape(6, 6)
    vcov = np.asarray(msg.twist.covariance, dtype=np.float64).reshape(6, 6)
    b = msg.bbox
    box = np.array([b.center_x - b.size_x / 2, b.center_y - b.size_y / 2, b.center_x + b.size_x / 2,
                    b.center_y + b.size_y / 2], dtype=np.float32)
    p, v, s = msg.pose.pose.position, msg.twist.twist.linear, msg.size
    return Track(
        track_id=int(msg.id), state=TrackState(int(msg.state)), box=box,
        existence_probability=float(msg.existence_probability), visible_fraction=float(msg.visible_fraction),
        position=np.array([p.x, p.y, p.z]), position_cov=cov[:3, :3].copy(),
        velocity=np.array([v.x, v.y, v.z]), velocity_cov=vcov[:3, :3].copy(), size=np.array([s.x, s.y, s.z]),
        age=int(msg.age), frames_observed=int(msg.frames_observed), frames_occluded=int(msg.frames_occluded),
        first_seen_ns=stamp_to_ns(msg.first_seen), last_observed_ns=stamp_to_ns(msg.last_observed),
        uuid=uuid_lib.UUID(bytes=bytes(bytearray(np.asarray(msg.uuid.uuid, dtype=np.uint8).tolist()))),
    )


def output_to_msg(output: TrackerOutput, stamp, frame_id: str):
    """TrackerOutput -> TrackedObjectArray: live tracks, then a final LOST message per ended track."""
    from occtrack_ros.msg import TrackedObjectArray

    msg = TrackedObjectArray()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    objects = [track_to_msg(t) for t in output.tracks]
    for t in output.ended:
        ended = track_to_msg(t)
        ended.state = int(TrackState.LOST)
        objects.append(ended)
    msg.objects = objects
    return msg


def edges_to_msg(edges: list[GraphEdge], stamp, frame_id: str):
    from occtrack_ros.msg import SceneGraph, SceneGraphEdge

    msg = SceneGraph()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.edges = [
        SceneGraphEdge(source_id=int(e.source_id), target_id=int(e.target_id), relation=int(Relation(e.relation)),
                       weight=float(e.weight))
        for e in edges
    ]
    return msg


def tracks_msg_to_mot_rows(msg, frame_number: int, states=MOT_STATES) -> list[tuple]:
    """MOTChallenge rows ``(frame, id, x, y, w, h, conf, -1, -1, -1)`` of a TrackedObjectArray.

    The states of ``MOT_STATES`` by default (observed tracks, as SORT reports them) plus the explained
    coasting tracks (``mot_files.coasting_row``); conf is the existence probability. The live and
    offline outputs are compared on exactly these rows.
    """
    rows = []
    for obj in msg.objects:
        if not mot_row_wanted(obj.state, obj.frames_occluded, obj.visible_fraction, states):
            continue
        b = obj.bbox
        rows.append((int(frame_number), int(obj.id), b.center_x - b.size_x / 2, b.center_y - b.size_y / 2,
                     b.size_x, b.size_y, float(obj.existence_probability), -1, -1, -1))
    return rows
