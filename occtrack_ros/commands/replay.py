"""`occtrack replay`: run the tracker node's processing on a rosbag2 recording, without ROS."""
from __future__ import annotations

import os

import numpy as np

NAME = "replay"
HELP = "track a rosbag2 recording offline exactly as the ROS node would; write tracks, metrics, overlay video"
DESCRIPTION = (
    "Reads BAG with rosbags and feeds every message through the node's own path (the same "
    "ApproximateTime synchroniser, Frame assembly and input checks, Pipeline, and TrackedObjectArray "
    "conversion: occtrack_ros.ros.session), so the tracks equal those the live node publishes for the same "
    "messages. Writes OUT/tracks.txt (MOTChallenge), OUT/overlay.mp4, and OUT/metrics.json (the keys of "
    "`occtrack eval`) when the generated ground truth lies beside the bag (BAG/../gt/gt.txt). "
    "--soak N loops the recording (stamps shifted forward, so the tracker is never reset) for N frames "
    "and reports memory growth and the live internal tracks."
)


def add_arguments(parser) -> None:
    """Options of `occtrack replay`."""
    from occtrack_ros.data import bag_topics as T

    parser.add_argument("--bag", required=True, help="rosbag2 directory (e.g. written by `occtrack generate --bag`)")
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument("--params", default=None, help="node parameter YAML (config/occtrack.yaml layout); the "
                        "node's defaults when omitted")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override one node parameter, e.g. --set score_threshold=0.6 (YAML syntax for VALUE)")
    parser.add_argument("--image-topic", default=T.IMAGE_TOPIC, help="colour image topic in the bag")
    parser.add_argument("--depth-topic", default=T.DEPTH_TOPIC, help="depth topic (used when depth_source=topic)")
    parser.add_argument("--camera-info-topic", default=T.CAMERA_INFO_TOPIC, help="camera_info topic")
    parser.add_argument("--odom-topic", default=T.ODOM_TOPIC, help="odometry topic (used when use_odometry)")
    parser.add_argument("--no-video", action="store_true", help="skip OUT/overlay.mp4 (faster)")
    parser.add_argument("--soak", type=int, default=0, metavar="N",
                        help="loop the bag until N frames were tracked; print memory growth and live tracks "
                        "(no video, no metrics)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default, all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _parameter_values(args) -> dict:
    import yaml

    from occtrack_ros.ros import parameters as P

    values = P.load_yaml(args.params) if args.params else P.defaults()
    for item in args.set:
        name, sep, text = item.partition("=")
        if not sep or name not in P.BY_NAME:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE with a node parameter name")
        value = yaml.safe_load(text)
        if isinstance(P.BY_NAME[name].default, float) and isinstance(value, int):
            value = float(value)
        if isinstance(P.BY_NAME[name].default, str) and value is None:
            value = ""
        error = P.validate(name, value)
        if error is not None:
            raise ValueError(f"--set {item!r}: {error}")
        values[name] = value
    return values


class _Video:
    """overlay.mp4, opened at the second frame once the frame rate is known from the stamps."""

    def __init__(self, path) -> None:
        self.path, self.writer, self.first = path, None, None

    def add(self, rgb, stamp_ns: int) -> None:
        import cv2

        if self.writer is None:
            if self.first is None:
                self.first = (rgb, stamp_ns)
                return
            dt = (stamp_ns - self.first[1]) * 1e-9
            fps = 1.0 / dt if dt > 0 else 10.0
            h, w = rgb.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            if not self.writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write {self.path} with the mp4v codec")
            self.writer.write(np.ascontiguousarray(self.first[0][..., ::-1]))
        self.writer.write(np.ascontiguousarray(rgb[..., ::-1]))

    def close(self) -> None:
        import cv2

        if self.writer is None and self.first is not None:  # a single frame
            h, w = self.first[0].shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (w, h))
            self.writer.write(np.ascontiguousarray(self.first[0][..., ::-1]))
        if self.writer is not None:
            self.writer.release()


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _shift_stamp(msg, offset_ns: int) -> None:
    stamp = msg.header.stamp
    ns = int(stamp.sec) * 10**9 + int(stamp.nanosec) + offset_ns
    msg.header.stamp = type(stamp)(sec=ns // 10**9, nanosec=ns % 10**9)


def run(args) -> int:
    """Replay; returns the exit status."""
    import argparse
    import json
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from occtrack_ros.pipeline import ComponentUnavailable
    from occtrack_ros.ros.bag_messages import bag_topics, iter_bag_messages
    from occtrack_ros.ros.conversions import stamp_to_ns, tracks_msg_to_mot_rows
    from occtrack_ros.ros.frame_input import FrameRejected
    from occtrack_ros.ros.overlay import draw_overlay
    from occtrack_ros.ros.session import TrackingSession

    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    bag, out = Path(args.bag), Path(args.out)
    try:
        values = _parameter_values(args)
        present = bag_topics(bag)
        if args.image_topic not in present:
            raise ValueError(f"{bag}: no image topic {args.image_topic!r}; topics: {sorted(present)}")
        session = TrackingSession(values)
    except (ValueError, FileNotFoundError, ComponentUnavailable) as exc:
        print(f"occtrack replay: {exc}", file=sys.stderr)
        return 2
    for note in session.pipeline.notes:
        print(f"occtrack replay: {note}", file=sys.stderr)
    input_topics = [args.image_topic] + ([args.depth_topic] if session.use_depth else []) + (
        [args.odom_topic] if session.use_odometry else [])
    missing = [t for t in input_topics if t not in present]
    if missing:
        print(f"occtrack replay: {bag} lacks {missing}; set depth_source / use_odometry (--set) or the topic "
              "options", file=sys.stderr)
        return 2
    index_of = {t: i for i, t in enumerate(input_topics)}
    out.mkdir(parents=True, exist_ok=True)
    soak = args.soak > 0
    video = None if (args.no_video or soak) else _Video(out / "overlay.mp4")
    n_images = present[args.image_topic][1]
    total = args.soak if soak else n_images

    state = {"camera_info": None, "frames": 0, "rejected": {}, "warnings": {}, "rows": [], "frame_no": {},
             "image_no": 0}
    rss = {}

    def on_synced(*msgs) -> None:
        image, depth, odom = session.split(msgs)
        try:
            step = session.step(image, depth, odom, state["camera_info"])
        except FrameRejected as exc:
            state["rejected"][exc.key] = state["rejected"].get(exc.key, 0) + 1
            return
        for key, text in step.assembled.warnings:
            if key not in state["warnings"]:
                tqdm.write(f"occtrack replay: warning [{key}] {text} (counted, shown once)", file=sys.stderr)
            state["warnings"][key] = state["warnings"].get(key, 0) + 1
        state["frames"] += 1
        bar.update(1)
        if not soak:
            number = state["frame_no"][stamp_to_ns(image.header.stamp)]
            state["rows"] += tracks_msg_to_mot_rows(step.tracks_msg, number)
        if video is not None:
            video.add(draw_overlay(step.assembled.frame.image, step.result.output, step.result.detections),
                      step.assembled.frame.stamp_ns)
        if soak and state["frames"] == min(500, args.soak // 10):
            rss["warm"] = _rss_mb()
        if soak and state["frames"] % max(1, args.soak // 10) == 0:
            rss.setdefault("trace", []).append(round(_rss_mb(), 1))

    sync = session.make_sync(on_synced)
    bar = tqdm(total=total, unit="frame", disable=args.quiet, desc="replay")
    topics = input_topics + [args.camera_info_topic]
    loop, offset = 0, 0
    while True:
        span = [None, None]  # first and last stamp of the recording as recorded
        for m in iter_bag_messages(bag, topics):
            msg = m.message()
            recorded = stamp_to_ns(msg.header.stamp)
            span = [recorded if span[0] is None else min(span[0], recorded), max(span[1] or recorded, recorded)]
            if offset:
                _shift_stamp(msg, offset)
            if m.topic == args.camera_info_topic:
                state["camera_info"] = msg
                continue
            stamp = stamp_to_ns(msg.header.stamp)
            if m.topic == args.image_topic:
                state["image_no"] += 1
                state["frame_no"][stamp] = state["image_no"]
            sync.add(index_of[m.topic], msg)
            if soak and state["frames"] >= args.soak:
                break
        loop += 1
        if not soak or state["frames"] >= args.soak or span[0] is None:
            break
        offset += span[1] - span[0] + int(1e8)  # the next loop starts 100 ms after this one ended
        state["frame_no"].clear()
    bar.close()
    if video is not None:
        video.close()

    if soak:
        end = _rss_mb()
        tracker = session.pipeline.tracker
        live = len(getattr(tracker, "tracks", [])) if hasattr(tracker, "tracks") else -1
        report = {"frames": state["frames"], "loops": loop, "rss_warm_mb": round(rss.get("warm", 0.0), 1),
                  "rss_end_mb": round(end, 1),
                  "rss_growth_pct": round(100.0 * (end - rss["warm"]) / rss["warm"], 2) if rss.get("warm") else None,
                  "rss_every_10pct_mb": rss.get("trace", []), "live_internal_tracks": live,
                  "rejected": state["rejected"], "warnings": state["warnings"]}
        print(json.dumps(report))
        (out / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
        return 0

    from occtrack_ros.evaluation.mot_io import write_results

    rows = np.array([r[:7] for r in state["rows"]], np.float64).reshape(-1, 7)
    write_results(out / "tracks.txt", rows)
    print(f"tracked {state['frames']} of {n_images} frames -> {out / 'tracks.txt'}"
          + (f" and {out / 'overlay.mp4'}" if video is not None else "")
          + (f"; rejected: {state['rejected']}" if state["rejected"] else "")
          + (f"; warnings: {state['warnings']}" if state["warnings"] else ""))
    seq_dir = bag.resolve().parent
    if (seq_dir / "gt" / "gt.txt").is_file():
        from occtrack_ros.commands import eval as eval_command

        # Parsed by `occtrack eval`'s own parser, so its defaults (and future options) apply unchanged.
        eval_parser = argparse.ArgumentParser(prog="occtrack eval")
        eval_command.add_arguments(eval_parser)
        status = eval_command.run(eval_parser.parse_args(["--gt", str(seq_dir), "--res", str(out / "tracks.txt"),
                                                          "--names", "occtrack", "--json", str(out / "metrics.json")]))
        if status != 0:
            return status
    else:
        print(f"no ground truth at {seq_dir / 'gt' / 'gt.txt'}: metrics.json not written")
    return 0
