"""`occtrack eval-detector`: score the slot detector against a generated sequence's ground truth."""
from __future__ import annotations

NAME = "eval-detector"
HELP = "score the detector's masks (FG-ARI) and boxes (recall/precision at IoU 0.5) on sequence dirs"
DESCRIPTION = (
    "Runs the detector over every frame of each --seq directory (slots carried across frames) and "
    "scores it with the sequence's ground truth: fg_ari = ARI between gt/masks instance ids and the "
    "argmax slot over visible-object pixels (mean over frames with any); box_recall / box_precision at "
    "IoU >= 0.5 against the visible boxes of gt/gt3d.json, for objects at least 50%% visible "
    "(detections matched to less visible objects are ignored); fps = frames per second of detect(). "
    "Use held-out seeds (occlusion 1000-1009, sprites-mot 2000-2019)."
)


def add_arguments(parser) -> None:
    """Options of `occtrack eval-detector`."""
    parser.add_argument("--seq", nargs="+", required=True, help="generated sequence directories (with gt/)")
    parser.add_argument("--json", required=True, help="write the scores here")
    parser.add_argument("--weights", default=None, help="detector checkpoint (default: shipped occlusion weights)")
    parser.add_argument("--batch", type=int, default=1,
                        help="frames per detect() call; 1 = online, as the ROS node runs it")
    parser.add_argument("--score-threshold", type=float, default=None, help="override the checkpoint's threshold")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a runtime (head) field of the checkpoint's config, e.g. split_components=true")
    parser.add_argument("--max-frames", type=int, default=None, help="score only the first n frames of each")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU for a box match")
    parser.add_argument("--min-visibility", type=float, default=0.5,
                        help="objects less visible than this are not required (and not counted as errors)")


def evaluate_sequence(detector, directory, batch: int = 1, max_frames: int | None = None, iou: float = 0.5,
                      min_visibility: float = 0.5) -> dict:
    """Scores and timing of one sequence directory."""
    import time

    import numpy as np

    from occtrack_ros.data.sequence import load_gt, load_sequence
    from occtrack_ros.models.detector.scoring import fg_ari, match_boxes

    seq = load_sequence(directory)
    gt = load_gt(directory)
    if gt.gt3d is None:
        raise ValueError(f"{directory}: no gt/gt3d.json (visible boxes are needed)")
    n = len(seq) if max_frames is None else min(len(seq), max_frames)
    detector.reset()
    aris, counts = [], {"gt": 0, "gt_found": 0, "det": 0, "det_true": 0}
    ari_multi, elapsed = [], 0.0
    for start in range(0, n, batch):
        frames = [seq[i] for i in range(start, min(n, start + batch))]
        t0 = time.perf_counter()
        dets, masks = detector.detect_all(frames)
        elapsed += time.perf_counter() - t0
        for j, (frame, det) in enumerate(zip(frames, dets)):
            ids = seq.mask(frame.index)
            score = fg_ari(ids, masks[j])
            if score is not None:
                aris.append(score)
                if len(np.unique(ids[ids > 0])) >= 2:
                    ari_multi.append(score)
            objs = [o for o in gt.objects_at(frame.index) if o.get("visible_box") is not None]
            boxes = np.array([o["visible_box"] for o in objs], np.float64).reshape(-1, 4)
            vis = np.array([o["visible_fraction"] for o in objs], np.float64)
            for k, v in match_boxes(det.boxes, boxes, vis, iou, min_visibility).items():
                counts[k] += v
    return {"name": seq.name, "frames": n, "fg_ari": float(np.mean(aris)) if aris else None,
            "fg_ari_multi": float(np.mean(ari_multi)) if ari_multi else None, "ari_frames": len(aris),
            "seconds": elapsed, **counts}


def run(args) -> int:
    """Evaluate; returns the process exit status."""
    import json
    import sys
    from pathlib import Path

    import numpy as np
    import torch

    from occtrack_ros.models.detector import load_detector

    if args.threads:
        torch.set_num_threads(args.threads)
    from occtrack_ros.training.detector import _parse_overrides

    try:
        overrides = _parse_overrides(args.overrides)
        if args.score_threshold is not None:
            overrides["score_threshold"] = args.score_threshold
        detector = load_detector(args.weights, device=args.device, **overrides)
        per_seq = [evaluate_sequence(detector, d, args.batch, args.max_frames, args.iou, args.min_visibility)
                   for d in args.seq]
    except (FileNotFoundError, ValueError) as exc:
        print(f"occtrack eval-detector: {exc}", file=sys.stderr)
        return 2
    frames = sum(s["frames"] for s in per_seq)
    total = {k: sum(s[k] for s in per_seq) for k in ("gt", "gt_found", "det", "det_true")}
    aris = [s["fg_ari"] for s in per_seq if s["fg_ari"] is not None]
    weights = [s["ari_frames"] for s in per_seq if s["fg_ari"] is not None]
    result = {
        "fg_ari": float(np.average(aris, weights=weights)) if aris else None,
        "box_recall": total["gt_found"] / total["gt"] if total["gt"] else None,
        "box_precision": total["det_true"] / total["det"] if total["det"] else None,
        "fps": frames / max(sum(s["seconds"] for s in per_seq), 1e-9),
        "frames": frames,
        "counts": total,
        "weights": str(args.weights or "shipped occlusion default"),
        "batch": args.batch,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "config": detector.cfg.to_dict(),
        "per_sequence": per_seq,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({k: result[k] for k in ("fg_ari", "box_recall", "box_precision", "fps", "frames")}))
    return 0
