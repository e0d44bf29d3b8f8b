"""The tracker node: images (+ depth, camera_info, odometry) in, tracks, markers and images out.

Inputs are synchronised by stamp (message_filters when installed, else ros/sync.py with the
same semantics), turned into a Frame by ros/frame_input.py, and handed to a processing thread
through a one-item buffer (ros/latest_slot.py): the executor never waits on the models, and a
slow pipeline drops frames to the newest instead of building a backlog. Every output carries the
input image's stamp.

Subscribes (relative names; parameters in ros/parameters.py, defaults in config/occtrack.yaml):
  image (sensor_msgs/Image, or image/compressed with image_transport:=compressed), depth
  (16UC1 mm / 32FC1 m, when depth_source is 'topic'), camera_info, odom (nav_msgs/Odometry,
  when use_odometry).
Publishes:
  ~/tracks (occtrack_ros/TrackedObjectArray), ~/markers (visualization_msgs/MarkerArray),
  ~/scene_graph (occtrack_ros/SceneGraph), ~/debug_image (rgb8 overlay) and ~/instances
  (32SC1/mono16 track-id labels) only while subscribed, ~/timing (std_msgs/Float64MultiArray
  [stamp_ns, pipeline_ms, node_ms] per frame, only while subscribed; used by `occtrack bench-node`).
"""
from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from occtrack_ros.pipeline import ComponentUnavailable
from occtrack_ros.ros import parameters as P
from occtrack_ros.ros.conversions import numpy_to_image
from occtrack_ros.ros.frame_input import FrameRejected
from occtrack_ros.ros.latest_slot import LatestSlot
from occtrack_ros.ros.session import TrackingSession
from occtrack_ros.ros.sync import message_filters_available

WARN_PERIOD_S = 5.0       # one log line per kind of bad input per period
SYNC_STALL_WARN_S = 3.0   # images arrive but no synchronised set: say which input is missing


class ThrottledWarnings:
    """Per-key throttling; rclpy's throttle is per call site, and all bad input shares one."""

    def __init__(self, logger, period_s: float = WARN_PERIOD_S) -> None:
        self.logger, self.period_s = logger, period_s
        self._last: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def warn(self, key: str, text: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        now = time.monotonic()
        if now - self._last.get(key, -1e9) >= self.period_s:
            self._last[key] = now
            self.logger.warning(f"[{key}] {text} (seen {self.counts[key]}x)")


class TrackerNode(Node):
    def __init__(self) -> None:
        super().__init__(P.NODE_NAME)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        for p in P.PARAMETERS:
            self.declare_parameter(p.name, p.default, ParameterDescriptor(description=p.description,
                                                                           read_only=p.read_only))
        v = {p.name: self.get_parameter(p.name).value for p in P.PARAMETERS}
        self.params = v
        self.warnings = ThrottledWarnings(self.get_logger())

        if v["threads"] > 0:
            import torch
            torch.set_num_threads(v["threads"])
        # Raises ComponentUnavailable (naming the module or weights file) before any subscription.
        self.session = TrackingSession(v)
        self.pipeline = self.session.pipeline
        self.markers = self.session.markers
        for note in self.pipeline.notes:
            self.get_logger().warning(note)
        self.use_depth = self.session.use_depth
        self.use_odom = self.session.use_odometry
        self.compressed = self.session.compressed

        self._make_publishers()
        self._camera_info = None
        self._stats = {"received": 0, "synced": 0, "processed": 0, "rejected": 0, "resets": 0}
        self._latency_ms: list[float] = []
        self._pipeline_ms: list[float] = []
        self._last_synced = self._last_received = time.monotonic()
        self._slot = LatestSlot()
        self._make_subscriptions()
        self._worker = threading.Thread(target=self._work, name="occtrack-pipeline", daemon=True)
        self._worker.start()
        self._diag_timer = self._make_diag_timer(v["diagnostics_period"])
        self._last_status_received = None
        self._last_dropped = 0
        self.get_logger().info(
            f"tracking {self.resolve_topic_name(self._image_topic)} (sync: {' + '.join(self.session.inputs)}, "
            f"backend {self.sync_backend}, slop {v['sync_slop']} s, queue {v['sync_queue_size']}); "
            f"depth_source={v['depth_source']}, device={v['device']}")

    # Set-up -----------------------------------------------------------------------------------
    def _make_publishers(self) -> None:
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float64MultiArray
        from visualization_msgs.msg import MarkerArray

        from occtrack_ros.msg import SceneGraph, TrackedObjectArray

        self.pub_tracks = self.create_publisher(TrackedObjectArray, "~/tracks", 10)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", 10)
        self.pub_graph = self.create_publisher(SceneGraph, "~/scene_graph", 10)
        self.pub_debug = self.create_publisher(Image, "~/debug_image", 2)
        self.pub_instances = self.create_publisher(Image, "~/instances", 2)
        # [stamp_ns, pipeline_ms, node_ms (synchronised set -> tracks published)] per frame, for benchmarks.
        self.pub_timing = self.create_publisher(Float64MultiArray, "~/timing", 10)

    def _input_qos(self) -> QoSProfile:
        reliability = (ReliabilityPolicy.BEST_EFFORT if self.params["qos_reliability"] == "best_effort"
                       else ReliabilityPolicy.RELIABLE)
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.params["qos_depth"], reliability=reliability)

    def _make_subscriptions(self) -> None:
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image

        v, qos = self.params, self._input_qos()
        self._image_topic = v["image_topic"] + ("/compressed" if self.compressed else "")
        topics = [(CompressedImage if self.compressed else Image, self._image_topic)]
        if self.use_depth:
            topics.append((Image, v["depth_topic"]))
        if self.use_odom:
            topics.append((Odometry, v["odom_topic"]))
        self.create_subscription(CameraInfo, v["camera_info_topic"], self._on_camera_info, qos)

        self.sync_backend = "message_filters" if (v["sync_backend"] == "auto" and len(topics) > 1
                                                  and message_filters_available()) else "builtin"
        if self.sync_backend == "message_filters":
            import message_filters

            subs = [message_filters.Subscriber(self, t, name, qos_profile=qos) for t, name in topics]
            self._mf_sync = message_filters.ApproximateTimeSynchronizer(subs, v["sync_queue_size"], v["sync_slop"])
            self._mf_sync.registerCallback(self._on_synced)
            subs[0].registerCallback(self._count_received)
            return
        self._sync = self.session.make_sync(self._on_synced)
        for index, (msg_type, name) in enumerate(topics):
            self.create_subscription(msg_type, name, self._make_input_callback(index), qos)

    def _make_input_callback(self, index: int):
        def callback(msg) -> None:
            if index == 0:
                self._count_received(msg)
            self._sync.add(index, msg)
        return callback

    # Callbacks (executor thread: must return at once) ---------------------------------------
    def _count_received(self, msg) -> None:
        self._stats["received"] += 1
        self._last_received = time.monotonic()

    def _on_camera_info(self, msg) -> None:
        self._camera_info = msg

    def _on_synced(self, *msgs) -> None:
        self._stats["synced"] += 1
        self._last_synced = time.monotonic()
        image, depth, odom = self.session.split(msgs)
        self._slot.put((image, depth, odom, self._camera_info, time.perf_counter()))

    def _on_set_parameters(self, params) -> SetParametersResult:
        for p in params:
            error = P.validate(p.name, p.value)
            if error is not None:
                return SetParametersResult(successful=False, reason=error)
        # Dynamic parameters take effect here; read-only ones are refused by rclpy itself.
        for p in params:
            if not hasattr(self, "pipeline"):
                break
            if p.name in self.params:
                self.params[p.name] = p.value
            if p.name == "score_threshold":
                self.pipeline.config.score_threshold = float(p.value)
            elif p.name == "trajectory_length":
                self.markers.trajectory_length = int(p.value)
            elif p.name == "diagnostics_period":
                self._diag_timer.cancel()
                self._diag_timer = self._make_diag_timer(float(p.value))
        return SetParametersResult(successful=True)

    def _make_diag_timer(self, period_s: float):
        # Steady clock: the status line keeps coming with use_sim_time and no /clock yet.
        return self.create_timer(period_s, self._diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _diagnostics(self) -> None:
        s = self._stats
        progress = (s["received"], s["processed"], s["rejected"])
        idle = progress == self._last_status_received
        self._last_status_received = progress
        lat = np.array(self._latency_ms[-1000:]) if self._latency_ms else np.zeros(1)
        pipe = np.array(self._pipeline_ms[-1000:]) if self._pipeline_ms else np.zeros(1)
        bad = ", ".join(f"{k}={n}" for k, n in sorted(self.warnings.counts.items())) or "none"
        if not idle:  # one line per period while data flows, silence while idle
            self.get_logger().info(
                f"status: received={s['received']} synced={s['synced']} processed={s['processed']} "
                f"dropped={self._slot.dropped} rejected={s['rejected']} resets={s['resets']} "
                f"pipeline_ms={pipe.mean():.1f} added_latency_ms(mean/p95)={lat.mean():.2f}/"
                f"{np.percentile(lat, 95):.2f} bad_input: {bad}")
        if self._last_received - self._last_synced > SYNC_STALL_WARN_S:
            missing = [n for n, used in (("depth", self.use_depth), ("odometry", self.use_odom)) if used]
            self.warnings.warn("sync", f"images arrive but none could be synchronised with {' and '.join(missing)} "
                                       f"within sync_slop={self.params['sync_slop']} s; check those topics or set "
                                       "depth_source / use_odometry")
        if self._slot.dropped > self._last_dropped:
            self.warnings.warn("dropped", f"{self._slot.dropped - self._last_dropped} frames dropped in the last "
                                          f"{self.params['diagnostics_period']:g} s, {self._slot.dropped} in all "
                                          "(processing is slower than the input; the newest frame is always taken)")
            self._last_dropped = self._slot.dropped

    # Processing thread --------------------------------------------------------------------------
    def _work(self) -> None:
        while rclpy.ok():
            item = self._slot.take(timeout=0.2)
            if item is None:
                continue
            try:
                self._process(*item)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not kill the node
                self._stats["rejected"] += 1
                self.warnings.warn("processing", f"frame failed in processing: {type(exc).__name__}: {exc}")

    def _process(self, image, depth, odom, camera_info, t_in: float) -> None:
        resets = self.session.resets
        try:
            step = self.session.step(image, depth, odom, camera_info)
        except FrameRejected as exc:
            self._stats["rejected"] += 1
            self.warnings.warn(exc.key, str(exc))
            return
        finally:
            self._stats["resets"] += self.session.resets - resets
        for key, text in step.assembled.warnings:
            self.warnings.warn(key, text)
        self.pub_tracks.publish(step.tracks_msg)
        t_out = time.perf_counter()
        self.pub_markers.publish(self.session.markers_msg(step))
        self.pub_graph.publish(self.session.scene_graph_msg(step))
        self._publish_images(step.assembled.frame, step.result, step.stamp, image.header.frame_id)
        pipeline_ms = step.result.timings["total"]
        node_ms = 1e3 * (t_out - t_in)
        self._stats["processed"] += 1
        self._pipeline_ms.append(pipeline_ms)
        self._latency_ms.append(node_ms - pipeline_ms)
        del self._pipeline_ms[:-5000], self._latency_ms[:-5000]
        if self.pub_timing.get_subscription_count() > 0:
            from std_msgs.msg import Float64MultiArray

            self.pub_timing.publish(Float64MultiArray(
                data=[float(step.assembled.frame.stamp_ns), float(pipeline_ms), float(node_ms)]))

    def _publish_images(self, frame, result, stamp, camera_frame: str) -> None:
        from occtrack_ros.ros.overlay import draw_overlay, instance_image

        if self.pub_debug.get_subscription_count() > 0:
            overlay = draw_overlay(frame.image, result.output, result.detections)
            self.pub_debug.publish(numpy_to_image(overlay, "rgb8", stamp, camera_frame))
        if self.pub_instances.get_subscription_count() > 0:
            labels = instance_image(result.output, result.detections, frame.image.shape[:2])
            encoding = self.params["instances_encoding"]
            if encoding == "mono16":
                labels = np.clip(labels, 0, 65535).astype(np.uint16)
            self.pub_instances.publish(numpy_to_image(labels, encoding, stamp, camera_frame))

    def stop(self) -> None:
        self._slot.close()
        self._worker.join(timeout=5.0)


def main(args=None) -> int:
    node = None
    try:
        with rclpy.init(args=args):
            try:
                node = TrackerNode()
            except (ComponentUnavailable, rclpy.exceptions.ParameterException) as exc:
                rclpy.logging.get_logger(P.NODE_NAME).fatal(f"cannot start: {exc}")
                return 1
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.stop()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
