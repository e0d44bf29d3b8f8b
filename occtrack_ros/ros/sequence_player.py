"""Publish a sequence directory (``occtrack generate``) as live ROS topics, optionally with faults.

``ros2 bag play`` needs rosbag2, which a pip-only installation lacks; this player publishes the
same topics straight from a sequence directory: ``image`` (rgb8), ``depth`` (32FC1 m or 16UC1
mm), ``camera_info`` and ``odom`` (the camera optical frame's pose in ``odom``), stamped with the
sequence time. ``--lockstep`` waits for the tracker's output of each frame before sending the
next, so a slow machine drops nothing (used for reproducible comparisons).

``--fault KIND@FRAME`` injects bad input to exercise the tracker's checks: ``encoding`` (an
unsupported image encoding), ``depth_size`` (a depth image of the wrong size), ``depth_nan``
(all-NaN depth), ``depth_zero`` (all-zero depth), ``repeat`` (the previous stamp again),
``out_of_order`` (a stamp 100 ms back), ``loop`` (restart from frame 0 after FRAME, like a
looping bag), ``no_camera_info`` (never publish camera_info; FRAME ignored).

``--bag BAG`` publishes the messages of a rosbag2 recording instead, unchanged, under their
recorded topic names (as ``ros2 bag play`` would; camera_info first within each stamp).

Usage: python -m occtrack_ros.ros.sequence_player (--seq DIR | --bag BAG) [--rate HZ] [--lockstep TOPIC]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time

import numpy as np

FAULTS = ("encoding", "depth_size", "depth_nan", "depth_zero", "repeat", "out_of_order", "loop", "no_camera_info")
CAMERA_FRAME = "camera_optical_frame"


class _Lockstep:
    """Stamps of the tracker outputs seen on ``topic``, so the player can wait for each frame's output."""

    def __init__(self, node, topic: str) -> None:
        from occtrack_ros.msg import TrackedObjectArray
        from occtrack_ros.ros.conversions import stamp_to_ns

        self._seen: set[int] = set()
        self._cond = threading.Condition()

        def on_tracks(msg) -> None:
            with self._cond:
                self._seen.add(stamp_to_ns(msg.header.stamp))
                self._cond.notify_all()

        node.create_subscription(TrackedObjectArray, topic, on_tracks, 10)

    def forget(self, stamp_ns: int) -> None:
        """Before a stamp is sent again (loops), so its new output is awaited, not the old one."""
        with self._cond:
            self._seen.discard(stamp_ns)

    def wait(self, stamp_ns: int, timeout: float) -> bool:
        """True once the output for ``stamp_ns`` arrived; False after ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: stamp_ns in self._seen, timeout=timeout)


def _spin_in_background(node, executor):
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    return executor, spinner


def _stop(node, executor, spinner) -> None:
    time.sleep(0.5)  # let the last messages go out before the publishers disappear
    executor.shutdown()
    spinner.join(timeout=5.0)
    node.destroy_node()


def parse_faults(specs: list[str]) -> dict[str, int]:
    faults = {}
    for spec in specs:
        kind, _, frame = spec.partition("@")
        if kind not in FAULTS:
            raise SystemExit(f"unknown fault {kind!r}; choose from {FAULTS}")
        faults[kind] = int(frame) if frame else -1
    return faults


def _odometry(T: np.ndarray, stamp):
    from nav_msgs.msg import Odometry
    from scipy.spatial.transform import Rotation

    msg = Odometry()
    msg.header.stamp = stamp
    msg.header.frame_id = "odom"
    msg.child_frame_id = CAMERA_FRAME
    p = msg.pose.pose.position
    p.x, p.y, p.z = (float(v) for v in T[:3, 3])
    q = msg.pose.pose.orientation
    q.x, q.y, q.z, q.w = (float(v) for v in Rotation.from_matrix(T[:3, :3]).as_quat())
    return msg


def _camera_info(intr, stamp):
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = CAMERA_FRAME
    msg.width, msg.height = intr.width, intr.height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def frame_messages(seq, index: int, stamp_ns: int, depth_encoding: str = "32FC1", fault: str | None = None):
    """(image, depth, camera_info, odom) messages of frame ``index`` stamped ``stamp_ns`` (some None)."""
    from occtrack_ros.ros.conversions import ns_to_stamp, numpy_to_image

    stamp = ns_to_stamp(stamp_ns)
    image = numpy_to_image(seq.image(index), "rgb8", stamp, CAMERA_FRAME)
    if fault == "encoding":
        image.encoding = "yuv422_yuy2"
    depth = None
    if seq.load_depth:
        d = seq.depth(index)
        if fault == "depth_size":
            d = d[: d.shape[0] // 2, : d.shape[1] // 2]
        elif fault == "depth_nan":
            d = np.full_like(d, np.nan)
        elif fault == "depth_zero":
            d = np.zeros_like(d)
        if depth_encoding == "16UC1":
            d = np.clip(np.nan_to_num(d * 1000.0, nan=0.0), 0, 65535).astype(np.uint16)
        depth = numpy_to_image(d, depth_encoding, stamp, CAMERA_FRAME)
    info = _camera_info(seq.intrinsics, stamp)
    odom = _odometry(seq.poses[index], stamp) if seq.poses is not None else None
    return image, depth, info, odom


def schedule(n: int, faults: dict[str, int]) -> list[tuple[int, str | None]]:
    """The publishing plan: (frame index, fault or None); a loop replays every frame from 0."""
    plan = []
    for i in range(n):
        fault = next((k for k, f in faults.items() if f == i and k not in ("loop", "no_camera_info")), None)
        plan.append((i, fault))
        if faults.get("loop") == i:
            plan.extend((j, "looped") for j in range(0, n))
            break
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seq", help="sequence directory written by `occtrack generate`")
    source.add_argument("--bag", help="rosbag2 recording to publish unchanged (faults do not apply)")
    parser.add_argument("--rate", type=float, default=None, help="frames per second (default: the sequence's)")
    parser.add_argument("--frames", type=int, default=None, help="publish only the first N frames")
    parser.add_argument("--depth-encoding", default="32FC1", choices=("32FC1", "16UC1"))
    parser.add_argument("--qos", default="reliable", choices=("reliable", "best_effort"))
    parser.add_argument("--lockstep", default="", help="TrackedObjectArray topic to wait on after each frame")
    parser.add_argument("--lockstep-timeout", type=float, default=10.0, help="seconds to wait per frame")
    parser.add_argument("--wait-subscriber", type=float, default=30.0,
                        help="seconds to wait for a subscriber on 'image' before publishing")
    parser.add_argument("--fault", action="append", default=[], help="KIND@FRAME, see the module doc")
    parser.add_argument("--no-odom", action="store_true", help="do not publish odometry")
    args = parser.parse_args(argv)
    faults = parse_faults(args.fault)

    import rclpy
    from nav_msgs.msg import Odometry
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from occtrack_ros.data.sequence import load_sequence

    if args.bag:
        return play_bag(args)
    seq = load_sequence(args.seq)
    n = len(seq) if args.frames is None else min(args.frames, len(seq))
    period = 1.0 / (args.rate or seq.fps)
    reliability = ReliabilityPolicy.RELIABLE if args.qos == "reliable" else ReliabilityPolicy.BEST_EFFORT
    qos = QoSProfile(depth=10, reliability=reliability)
    try:
        with rclpy.init():
            node = rclpy.create_node("occtrack_sequence_player")
            pubs = {"image": node.create_publisher(Image, "image", qos),
                    "depth": node.create_publisher(Image, "depth", qos),
                    "camera_info": node.create_publisher(CameraInfo, "camera_info", qos),
                    "odom": node.create_publisher(Odometry, "odom", qos)}
            lockstep = _Lockstep(node, args.lockstep) if args.lockstep else None
            executor, spinner = _spin_in_background(node, SingleThreadedExecutor())
            deadline = time.monotonic() + args.wait_subscriber
            while pubs["image"].get_subscription_count() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            if args.lockstep:
                lock_pub = node.count_publishers(args.lockstep)
                while lock_pub == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
                    lock_pub = node.count_publishers(args.lockstep)
            time.sleep(0.5)  # let discovery of the remaining topics settle
            timeouts, last_stamp = 0, None
            plan = schedule(n, faults)
            for i, fault in plan:
                stamp_ns = seq.stamp_ns(i)  # looped frames keep their stamps: time jumps back as in a bag loop
                if fault == "repeat" and last_stamp is not None:
                    stamp_ns = last_stamp
                elif fault == "out_of_order" and last_stamp is not None:
                    stamp_ns = last_stamp - int(0.1e9)
                image, depth, info, odom = frame_messages(seq, i, stamp_ns, args.depth_encoding,
                                                          fault if fault != "looped" else None)
                t0 = time.monotonic()
                if "no_camera_info" not in faults:
                    pubs["camera_info"].publish(info)
                if depth is not None:
                    pubs["depth"].publish(depth)
                if odom is not None and not args.no_odom:
                    pubs["odom"].publish(odom)
                if lockstep:
                    lockstep.forget(stamp_ns)  # a looped frame repeats a stamp: wait for its new output
                pubs["image"].publish(image)
                expect_output = fault not in ("encoding", "repeat", "out_of_order")
                if lockstep and expect_output:
                    timeouts += not lockstep.wait(stamp_ns, args.lockstep_timeout)
                elif lockstep:
                    # No output to wait for: give the node time to reject this frame before the next one
                    # arrives, or its newest-frame buffer would drop it instead (a different count).
                    time.sleep(0.3)
                if fault not in ("repeat", "out_of_order"):
                    last_stamp = stamp_ns
                time.sleep(max(0.0, period - (time.monotonic() - t0)))
            print(f"PLAYER done frames={len(plan)} lockstep_timeouts={timeouts}", flush=True)
            _stop(node, executor, spinner)
    except (KeyboardInterrupt, ExternalShutdownException):
        return 130
    return 0


def _stamp_groups(bag: str, frames: int | None):
    """Lists of BagMessage sharing one header stamp, in log order; camera_info first in each."""
    from occtrack_ros.ros.bag_messages import bag_topics, iter_bag_messages
    from occtrack_ros.ros.conversions import stamp_to_ns

    topics = list(bag_topics(bag))
    group, stamp, count = [], None, 0
    for m in iter_bag_messages(bag, topics):
        msg = m.message()
        s = stamp_to_ns(msg.header.stamp) if hasattr(msg, "header") else (
            stamp_to_ns(msg.transforms[0].header.stamp) if getattr(msg, "transforms", None) else stamp)
        if group and s != stamp:
            yield sorted(group, key=lambda g: not g.msgtype.endswith("CameraInfo")), stamp
            count += 1
            if frames is not None and count >= frames:
                return
            group = []
        group.append(m)
        stamp = s
    if group:
        yield sorted(group, key=lambda g: not g.msgtype.endswith("CameraInfo")), stamp


def play_bag(args) -> int:
    """Publish a recording's messages unchanged (rclpy deserialises the recorded CDR bytes)."""
    import importlib

    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message

    from occtrack_ros.ros.bag_messages import bag_topics

    def msg_class(msgtype: str):
        package, _, name = msgtype.split("/")
        try:
            return getattr(importlib.import_module(f"{package}.msg"), name)
        except ImportError:
            return None

    reliability = ReliabilityPolicy.RELIABLE if args.qos == "reliable" else ReliabilityPolicy.BEST_EFFORT
    qos = QoSProfile(depth=10, reliability=reliability)
    try:
        with rclpy.init():
            node = rclpy.create_node("occtrack_bag_player")
            types = {t: msg_class(mt) for t, (mt, _) in bag_topics(args.bag).items()}
            for t in [t for t, cls in types.items() if cls is None]:
                print(f"PLAYER skips {t}: its message package is not installed", flush=True)
                del types[t]
            pubs = {t: node.create_publisher(cls, t, qos) for t, cls in types.items()}
            lockstep = _Lockstep(node, args.lockstep) if args.lockstep else None
            executor, spinner = _spin_in_background(node, SingleThreadedExecutor())
            deadline = time.monotonic() + args.wait_subscriber
            image_topics = [t for t, cls in types.items() if cls.__name__ in ("Image", "CompressedImage")
                            and "depth" not in t]
            while time.monotonic() < deadline and not any(pubs[t].get_subscription_count() for t in image_topics):
                time.sleep(0.05)
            while args.lockstep and node.count_publishers(args.lockstep) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            timeouts, frames, last_t = 0, 0, None
            period = 1.0 / args.rate if args.rate else None
            for group, stamp in _stamp_groups(args.bag, args.frames):
                t0 = time.monotonic()
                if lockstep:
                    lockstep.forget(stamp)
                for m in group:
                    if m.topic not in pubs:
                        continue
                    pubs[m.topic].publish(deserialize_message(m.raw, types[m.topic]))
                    if m.msgtype.endswith("CameraInfo"):
                        time.sleep(0.005)  # topics are not ordered in DDS: let camera_info land first
                has_image = any(m.topic in image_topics for m in group)
                frames += has_image
                if lockstep and has_image:
                    timeouts += not lockstep.wait(stamp, args.lockstep_timeout)
                if period is None and last_t is not None:
                    period = max(0.0, (stamp - last_t) * 1e-9)
                last_t = stamp
                time.sleep(max(0.0, (period or 0.0) - (time.monotonic() - t0)))
            print(f"PLAYER done frames={frames} lockstep_timeouts={timeouts}", flush=True)
            _stop(node, executor, spinner)
    except (KeyboardInterrupt, ExternalShutdownException):
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
