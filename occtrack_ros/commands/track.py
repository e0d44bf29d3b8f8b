"""`occtrack track`: detector + (depth, poses when present) + tracker on a sequence folder."""
from __future__ import annotations

NAME = "track"
HELP = "run the full pipeline (slot detector + tracker) on a sequence directory and write MOT results"


def add_arguments(p) -> None:
    from occtrack_ros.tracking.offline import DEFAULT_RELINK_DETECTOR, add_offline_arguments

    p.add_argument("--seq", required=True, help="sequence directory (seqinfo.ini, img1/, optional depth/, poses.txt)")
    p.add_argument("--out", required=True, help="MOT results file to write")
    p.add_argument("--weights", default="default",
                   help="tracker weights ('default' = shipped, 'none' = motion-only association)")
    p.add_argument("--detector", default=None, help="detector weights (default: shipped occlusion weights)")
    p.add_argument("--detector-set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a runtime (head) field of the detector's stored config (repeatable), e.g. "
                        "score_threshold=0.1 or carry_slots=false")
    p.add_argument("--dets-out", default=None, help="also write the detector's boxes as a det.txt here")
    p.add_argument("--no-depth", action="store_true", help="ignore depth/ even when present (boxes + poses only)")
    p.add_argument("--no-poses", action="store_true", help="ignore poses.txt (no ego-motion compensation)")
    p.add_argument("--tracker-set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a TrackerConfig field on top of the weights' stored config (repeatable), e.g. "
                        "max_outside_frames=0 for Sprites-MOT, whose objects never come back once they leave. "
                        "report_measured_box is true here (the slot detector's boxes; see weights/tracker.md)")
    p.add_argument("--tracker-preset", default=None, metavar="NAME",
                   help="a named set of TrackerConfig overrides for a kind of scene, applied before --tracker-set "
                        "(occtrack_ros/tracking/config.py TRACKER_PRESETS; sprites-mot: max_outside_frames=0, "
                        "n_init=2, clip_prediction_to_view, border_overlap)")
    p.add_argument("--occluded-rows", action="store_true",
                   help="also write the coasting (predicted amodal) boxes of occluded tracks inside the image")
    add_offline_arguments(p, DEFAULT_RELINK_DETECTOR)
    p.add_argument("--batch", type=int, default=8, help="frames per detector call")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")


def _tracker_overrides(items: list[str]) -> dict:
    """``--tracker-set FIELD=VALUE`` strings -> a dict for ``make_tracker`` (it refuses unknown fields)."""
    from occtrack_ros.cli import parse_assignments

    return parse_assignments(items, "--tracker-set")


def run(args) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from occtrack_ros.tracking import make_tracker
    from occtrack_ros.tracking.mot_files import MOT_STATES, MOT_STATES_WITH_OCCLUDED

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    try:
        from occtrack_ros.data.sequence import load_sequence
        from occtrack_ros.models.detector import load_detector
    except ImportError as exc:
        raise SystemExit(f"occtrack track needs the slot detector (occtrack_ros.models.detector) and the "
                         f"sequence reader (occtrack_ros.data.sequence): {exc}") from exc
    from occtrack_ros.training.detector import _parse_overrides

    seq = load_sequence(args.seq, load_depth=not args.no_depth)
    try:
        head = _parse_overrides(args.detector_set, "--detector-set")
        detector = load_detector(args.detector, device=args.device, **head)
        from occtrack_ros.pipeline import SLOT_DETECTOR_TRACKER_OVERRIDES
        from occtrack_ros.tracking.config import TRACKER_PRESETS

        if args.tracker_preset and args.tracker_preset not in TRACKER_PRESETS:
            raise ValueError(f"unknown --tracker-preset {args.tracker_preset!r}; known: {sorted(TRACKER_PRESETS)}")
        preset = TRACKER_PRESETS[args.tracker_preset] if args.tracker_preset else {}
        tracker = make_tracker({**SLOT_DETECTOR_TRACKER_OVERRIDES, **preset, **_tracker_overrides(args.tracker_set)},
                               args.weights)
    except ValueError as exc:
        raise SystemExit(f"occtrack track: {exc}") from exc
    tracker.config.fps = seq.fps
    from occtrack_ros.tracking.offline import recorder_from_args
    from occtrack_ros.tracking.tracker import detection_occluder_sides

    rec = None
    det_lines = []
    n = len(seq)
    for start in tqdm(range(0, n, args.batch), desc=f"track {seq.name}"):
        frames = [seq[i] for i in range(start, min(n, start + args.batch))]
        if args.no_poses:
            for f in frames:
                f.T_world_cam = None
        for frame, dets in zip(frames, detector.detect(frames)):
            out = tracker.step(dets, frame)
            if rec is None:
                rec = recorder_from_args(args, seq.fps, (frame.image.shape[1], frame.image.shape[0]),
                                         MOT_STATES_WITH_OCCLUDED if args.occluded_rows else MOT_STATES,
                                         tracker.config, appearance=True)
            rec.add(frame.index, out, dets.embeddings, dets.depths,
                    detection_occluder_sides(dets.boxes, dets.depths, frame.depth,
                                             tracker.config.occluder_depth_ratio), dets.colours)
            for b, s in zip(dets.boxes, dets.scores):
                det_lines.append(f"{frame.index + 1},-1,{b[0]:.2f},{b[1]:.2f},{b[2] - b[0]:.2f},{b[3] - b[1]:.2f},"
                                 f"{s:.4f},-1,-1,-1")
    lines = rec.lines() if rec is not None else []
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + ("\n" if lines else ""))
    if args.dets_out:
        Path(args.dets_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.dets_out).write_text("\n".join(det_lines) + ("\n" if det_lines else ""))
    print(f"{args.out}: {len(lines)} rows over {n} frames")
    return 0
