"""`occtrack bench-node`: latency the ROS node adds around the pipeline, over real DDS (loopback)."""
from __future__ import annotations

NAME = "bench-node"
HELP = "measure the tracker node's added latency (image in -> tracks out, minus pipeline time) over DDS"
DESCRIPTION = (
    "Starts the tracker node in its own process (loopback-only discovery, a private ROS_DOMAIN_ID), "
    "publishes a generated sequence at --rate from this process, and times every image until its "
    "~/tracks arrive. The node reports its pipeline time per frame on ~/timing, so the added latency "
    "(transport, synchronisation, conversion, hand-over to the processing thread) is end-to-end minus "
    "pipeline. Prints one JSON line of numbers; no assertion on them."
)


def add_arguments(parser) -> None:
    """Options of `occtrack bench-node`."""
    parser.add_argument("--seq", default=None, help="sequence directory; default: generate occlusion seed 0 "
                        "(training range) into a temporary directory")
    parser.add_argument("--frames", type=int, default=300, help="frames to publish (the sequence repeats)")
    parser.add_argument("--rate", type=float, default=10.0, help="publishing rate [Hz]; keep it below the "
                        "pipeline's rate or frames are dropped (they are counted)")
    parser.add_argument("--detector-plugin", default="", help="node parameter detector_plugin ('module:callable'); "
                        "default: the learned detector with shipped weights")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra node parameter, e.g. --param depth_source:=none")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the node (default 1: shared machine)")
    parser.add_argument("--warmup", type=int, default=10, help="first frames left out of the statistics")


def run(args) -> int:
    """Benchmark; returns the exit status."""
    import json
    import os
    import random
    import subprocess
    import sys
    import tempfile
    import threading
    import time
    from pathlib import Path

    import numpy as np

    tmp = Path(tempfile.mkdtemp(prefix="occtrack-bench-node-"))
    seq_dir = Path(args.seq) if args.seq else tmp / "seq"
    if not args.seq:
        subprocess.run([sys.executable, "-m", "occtrack_ros.cli", "generate", "--seed", "0", "--frames", "100",
                        "--out", str(seq_dir), "--quiet"], check=True)
    # Loopback only and a private domain: set here, for this process and the node it starts.
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_LOCALHOST_ONLY"] = "1"
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(101, 200)))
    env = dict(os.environ, OCCTRACK_STANDIN_SEQ=str(seq_dir), PYTHONUNBUFFERED="1")
    node_args = [sys.executable, "-m", "occtrack_ros.ros.tracker_node", "--ros-args",
                 "-p", f"threads:={args.threads}", "-p", "qos_reliability:=reliable"]
    if args.detector_plugin:
        node_args += ["-p", f"detector_plugin:={args.detector_plugin}"]
    for p in args.param:
        node_args += ["-p", p]
    log = open(tmp / "node.log", "w")
    node_proc = subprocess.Popen(node_args, env=env, stdout=log, stderr=subprocess.STDOUT)

    import rclpy
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Float64MultiArray

    from occtrack_ros.data.sequence import load_sequence
    from occtrack_ros.msg import TrackedObjectArray
    from occtrack_ros.ros.conversions import stamp_to_ns
    from occtrack_ros.ros.sequence_player import frame_messages

    seq = load_sequence(seq_dir)
    sent: dict[int, float] = {}
    received: dict[int, float] = {}
    timing: dict[int, tuple[float, float]] = {}
    lock = threading.Lock()
    try:
        with rclpy.init():
            node = rclpy.create_node("occtrack_bench_node")
            qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
            pubs = {"image": node.create_publisher(Image, "image", qos),
                    "depth": node.create_publisher(Image, "depth", qos),
                    "camera_info": node.create_publisher(CameraInfo, "camera_info", qos),
                    "odom": node.create_publisher(Odometry, "odom", qos)}

            def on_tracks(msg):
                t = time.monotonic()
                with lock:
                    received[stamp_to_ns(msg.header.stamp)] = t

            def on_timing(msg):
                with lock:
                    timing[int(msg.data[0])] = (float(msg.data[1]), float(msg.data[2]))

            node.create_subscription(TrackedObjectArray, "/occtrack_tracker/tracks", on_tracks, 100)
            node.create_subscription(Float64MultiArray, "/occtrack_tracker/timing", on_timing, 100)
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            spinner = threading.Thread(target=executor.spin, daemon=True)
            spinner.start()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and (pubs["image"].get_subscription_count() == 0
                                                   or node.count_subscribers("/occtrack_tracker/timing") == 0
                                                   or node.count_publishers("/occtrack_tracker/timing") == 0):
                if node_proc.poll() is not None:
                    print((tmp / "node.log").read_text(), file=sys.stderr)
                    return 1
                time.sleep(0.1)
            time.sleep(1.0)
            period = 1.0 / args.rate
            # Messages are built ahead of time so building them does not count as latency.
            n = len(seq)
            stamp0 = seq.stamp_ns(0)
            for k in range(args.frames):
                i = k % n
                stamp = stamp0 + int(round(k * 1e9 / seq.fps))
                image, depth, info, odom = frame_messages(seq, i, stamp)
                t0 = time.monotonic()
                pubs["camera_info"].publish(info)
                if depth is not None:
                    pubs["depth"].publish(depth)
                if odom is not None:
                    pubs["odom"].publish(odom)
                t_sent = time.monotonic()
                pubs["image"].publish(image)
                sent[stamp] = t_sent
                time.sleep(max(0.0, period - (time.monotonic() - t0)))
            time.sleep(2.0)
            executor.shutdown()
            spinner.join(timeout=5.0)
            node.destroy_node()
    finally:
        node_proc.send_signal(2)
        try:
            node_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node_proc.kill()
        log.close()

    stamps = sorted(sent)[args.warmup:]
    done = [s for s in stamps if s in received and s in timing]
    if not done:
        print("no frame made it through; node log:\n" + (tmp / "node.log").read_text(), file=sys.stderr)
        return 1
    e2e = np.array([1e3 * (received[s] - sent[s]) for s in done])
    pipe = np.array([timing[s][0] for s in done])
    node_ms = np.array([timing[s][1] for s in done])

    def stats(a):
        return {"mean": round(float(a.mean()), 2), "p50": round(float(np.percentile(a, 50)), 2),
                "p95": round(float(np.percentile(a, 95)), 2), "max": round(float(a.max()), 2)}

    report = {"frames_sent": len(stamps), "frames_tracked": len(done), "dropped": len(stamps) - len(done),
              "rate_hz": args.rate, "image": f"{seq.intrinsics.width}x{seq.intrinsics.height}",
              "pipeline_ms": stats(pipe), "end_to_end_ms": stats(e2e), "added_ms": stats(e2e - pipe),
              "added_inside_node_ms": stats(node_ms - pipe)}
    status = [ln for ln in (tmp / "node.log").read_text().splitlines() if "status:" in ln]
    if status:
        report["node_status"] = status[-1].split("status: ", 1)[1]
    print(json.dumps(report))
    return 0
