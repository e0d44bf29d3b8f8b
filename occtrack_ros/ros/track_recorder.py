"""Record the tracker's ~/tracks (and ~/markers) to JSON lines, without rosbag2.

One line per message: ``{"topic": "tracks", "stamp_ns", "frame_id", "objects": [...]}`` with
each object's id, uuid, state, bbox (xywh), position and counters, or ``{"topic": "markers",
"markers": [{"ns", "id", "action", "type", "alpha", "stamp_ns"}]}``. Prints ``RECORDER ready``
once the tracks publisher is discovered, and stops after ``--idle`` seconds without messages
(once the first has arrived) or ``--duration``.

Usage: python -m occtrack_ros.ros.track_recorder --tracks /occtrack_tracker/tracks --out rec.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def tracks_to_json(msg) -> dict:
    from occtrack_ros.ros.conversions import stamp_to_ns

    objects = []
    for o in msg.objects:
        b = o.bbox
        p = o.pose.pose.position
        objects.append({
            "id": int(o.id), "uuid": bytes(bytearray(o.uuid.uuid.tolist())).hex(), "state": int(o.state),
            "bbox": [b.center_x - b.size_x / 2, b.center_y - b.size_y / 2, b.size_x, b.size_y],
            "existence_probability": float(o.existence_probability), "position": [p.x, p.y, p.z],
            "age": int(o.age), "frames_occluded": int(o.frames_occluded),
            "visible_fraction": float(o.visible_fraction),
        })
    return {"topic": "tracks", "stamp_ns": stamp_to_ns(msg.header.stamp), "frame_id": msg.header.frame_id,
            "objects": objects}


def markers_to_json(msg) -> dict:
    from occtrack_ros.ros.conversions import stamp_to_ns

    return {"topic": "markers", "markers": [
        {"ns": m.ns, "id": int(m.id), "action": int(m.action), "type": int(m.type), "alpha": float(m.color.a),
         "stamp_ns": stamp_to_ns(m.header.stamp), "frame_id": m.header.frame_id} for m in msg.markers]}


def image_to_json(topic: str, msg) -> dict:
    import numpy as np

    from occtrack_ros.ros.conversions import image_to_numpy, stamp_to_ns

    record = {"topic": topic, "stamp_ns": stamp_to_ns(msg.header.stamp), "frame_id": msg.header.frame_id,
              "encoding": msg.encoding, "height": int(msg.height), "width": int(msg.width)}
    if topic == "instances":
        record["ids"] = [int(v) for v in np.unique(image_to_numpy(msg)) if v != 0]
    return record


def graph_to_json(msg) -> dict:
    from occtrack_ros.ros.conversions import stamp_to_ns

    return {"topic": "scene_graph", "stamp_ns": stamp_to_ns(msg.header.stamp), "frame_id": msg.header.frame_id,
            "edges": [[int(e.source_id), int(e.target_id), int(e.relation), float(e.weight)] for e in msg.edges]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", required=True, help="TrackedObjectArray topic")
    parser.add_argument("--markers", default="", help="MarkerArray topic (optional)")
    parser.add_argument("--node", default="", help="node name (e.g. /occtrack_tracker): also record its "
                        "~/scene_graph and summaries of ~/debug_image and ~/instances (ids present)")
    parser.add_argument("--out", required=True, help="output .jsonl file")
    parser.add_argument("--idle", type=float, default=5.0, help="stop after this many seconds without messages")
    parser.add_argument("--duration", type=float, default=300.0, help="stop after this many seconds in any case")
    args = parser.parse_args(argv)

    import rclpy
    from rclpy.executors import ExternalShutdownException
    from sensor_msgs.msg import Image
    from visualization_msgs.msg import MarkerArray

    from occtrack_ros.msg import SceneGraph, TrackedObjectArray

    try:
        with rclpy.init(), open(args.out, "w") as out:
            node = rclpy.create_node("occtrack_track_recorder")
            last = {"t": None}

            def write(record: dict) -> None:
                out.write(json.dumps(record) + "\n")
                out.flush()
                last["t"] = time.monotonic()

            node.create_subscription(TrackedObjectArray, args.tracks, lambda m: write(tracks_to_json(m)), 100)
            if args.markers:
                node.create_subscription(MarkerArray, args.markers, lambda m: write(markers_to_json(m)), 100)
            if args.node:
                for name in ("debug_image", "instances"):
                    node.create_subscription(Image, f"{args.node}/{name}",
                                             lambda m, n=name: write(image_to_json(n, m)), 100)
                node.create_subscription(SceneGraph, f"{args.node}/scene_graph", lambda m: write(graph_to_json(m)),
                                         100)
            start = time.monotonic()
            ready = False
            while rclpy.ok() and time.monotonic() - start < args.duration:
                rclpy.spin_once(node, timeout_sec=0.05)
                if not ready and node.count_publishers(args.tracks) > 0:
                    ready = True
                    print("RECORDER ready", flush=True)
                if last["t"] is not None and time.monotonic() - last["t"] > args.idle:
                    break
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
