"""`occtrack track-dets`: track boxes from a MOTChallenge det.txt (no images needed)."""
from __future__ import annotations

NAME = "track-dets"
HELP = "track a MOTChallenge det.txt (boxes only) and write MOT results"


def add_arguments(p) -> None:
    from occtrack_ros.tracking.offline import DEFAULT_RELINK_BOXES_ONLY, add_offline_arguments

    p.add_argument("--dets", required=True, help="det.txt: frame,-1,x,y,w,h,score,... (1-based frames, any order)")
    p.add_argument("--out", required=True, help="result file to write (MOTChallenge rows)")
    p.add_argument("--seqinfo", default=None,
                   help="seqinfo.ini (or its folder) for frame rate, length and image size; without it the frame "
                        "rate is --fps and the sequence ends at the last detection")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate when there is no --seqinfo")
    p.add_argument("--weights", default="default",
                   help="tracker checkpoint (`occtrack train tracker`); 'default' (the shipped GNN) unless you "
                        "trained your own; 'none' for motion-only association")
    p.add_argument("--poses", default=None,
                   help="optional poses.txt (frame tx ty tz qx qy qz qw, T_world_cam) to compensate camera "
                        "rotation; needs image size from --seqinfo or a camera.json next to it")
    p.add_argument("--occluded-rows", action="store_true",
                   help="also write the coasting boxes of occluded tracks inside the image (when the "
                        "evaluation scores occluded ground truth, as MOT17's protocol does)")
    add_offline_arguments(p, DEFAULT_RELINK_BOXES_ONLY)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = library default)")


def run(args) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from occtrack_ros.tracking import TrackerConfig, make_tracker
    from occtrack_ros.tracking.mot_files import (
        MOT_STATES,
        MOT_STATES_WITH_OCCLUDED,
        read_mot_detections,
        read_seqinfo,
    )
    from occtrack_ros.tracking.poses import read_poses
    from occtrack_ros.types import CameraIntrinsics, Detections, Frame

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    dets = read_mot_detections(args.dets)
    info = read_seqinfo(args.seqinfo) if args.seqinfo else {}
    fps = info.get("fps") or args.fps
    length = info.get("length") or (max(dets) + 1 if dets else 0)
    intr = None
    cam_json = Path(args.poses).parent / "camera.json" if args.poses else None
    if cam_json is not None and cam_json.is_file():
        intr = CameraIntrinsics(**{k: v for k, v in json.loads(cam_json.read_text()).items()
                                   if k in ("fx", "fy", "cx", "cy", "width", "height")})
    elif info.get("width") and info.get("height"):
        intr = CameraIntrinsics.default_for(info["width"], info["height"])
    poses = read_poses(args.poses) if args.poses else {}
    if poses and intr is None:
        raise ValueError("--poses needs the image size: give --seqinfo or put camera.json next to poses.txt")
    if args.weights and args.weights.lower() != "none":
        tracker = make_tracker(None, args.weights)
        tracker.config.fps = fps
    else:
        tracker = make_tracker(TrackerConfig(fps=fps))
    from occtrack_ros.tracking.offline import recorder_from_args

    size = (intr.width, intr.height) if intr is not None else None
    rec = recorder_from_args(args, fps, size, MOT_STATES_WITH_OCCLUDED if args.occluded_rows else MOT_STATES,
                             tracker.config)
    blank = np.zeros((0, 0, 3), np.uint8)
    for f in range(length):
        frame = Frame(image=blank, stamp_ns=int(round(f * 1e9 / fps)), index=f, intrinsics=intr,
                      T_world_cam=poses.get(f))
        out = tracker.step(dets.get(f, Detections.empty()), frame)
        rec.add(f, out)
    lines = rec.lines()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + ("\n" if lines else ""))
    print(f"{args.out}: {len(lines)} rows, {length} frames, {tracker._next_id - 1} track ids")
    return 0
