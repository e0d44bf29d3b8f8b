"""`occtrack eval-depth`: score the depth/pose nets against a generated sequence's ground truth.

Depth: ``abs_rel = mean |d - d*| / d*`` and ``delta1 = fraction with max(d/d*, d*/d) < 1.25`` over
the valid ground-truth pixels of each frame after per-frame median scaling (monocular depth is up
to scale), averaged over frames. Pose, for each consecutive pair: ``pose_rot_err_deg`` is the
angle of ``R_pred^T R_true`` and ``pose_trans_dir_err_deg`` the angle between the predicted and
true translation directions, skipping pairs whose true translation is below ``--min-translation``.

Zero-motion baseline: its rotation error is the true rotation angle. A zero translation has no
direction, so ``zero_pose_trans_dir_err_deg`` is defined as 90 degrees, the expected error of a
direction that carries no information (uniform on the sphere); ``forward_pose_trans_dir_err_deg``
reports the stricter constant guess "straight ahead" (0, 0, 1) as well.

Depth is scored as inference delivers it: edge-refined (``depth/edge_refine.py``) unless
``--no-edge-refine``; ``raw_abs_rel`` and ``raw_delta1`` score DepthNet's unrefined map alongside.

Objects: ``object_abs_rel`` and ``object_delta1`` score the same (refined, median-scaled) map on the
pixels of visible objects only (gt/masks/, when the sequence has them), averaged over the frames
where objects are visible. The objects are a few percent of the pixels, so the whole-frame numbers
hardly see them, but they are what the tracker reads its per-object depth from.

Checkpoints trained with direct pose refinement are scored as inference runs them (PoseNet then
refinement, ``LearnedNets.motion``); ``posenet_pose_*`` report PoseNet's raw output alongside.
"""
from __future__ import annotations

import argparse

NAME = "eval-depth"
HELP = "score the learned depth/pose nets on generated sequences (abs rel, delta1, relative pose errors)"


def add_arguments(p) -> None:
    """Options of `occtrack eval-depth`."""
    p.add_argument("--seq", nargs="+", required=True, help="sequence directories with depth/ and poses.txt")
    p.add_argument("--json", required=True, help="output metrics JSON")
    p.add_argument("--weights", default=None, help="depth/pose checkpoint (default: shipped occlusion weights)")
    p.add_argument("--min-translation", type=float, default=1e-3,
                   help="true translations [m] below this are skipped by the direction error")
    p.add_argument("--figure", default=None,
                   help="also write a PNG: four frames of the first sequence as image | true depth | predicted depth, "
                   "raw | edge-refined (median-scaled; log grey scale, 3 m black to 30 m white)")
    p.add_argument("--edge-refine", action=argparse.BooleanOptionalAction, default=True,
                   help="score the edge-refined depth map, as inference delivers it (raw_* keys score the raw map)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")


def median_scale(pred, gt):
    """(scale, valid): the factor that gives ``pred`` the median of ``gt`` over the pixels valid in both."""
    import numpy as np

    valid = np.isfinite(gt) & (gt > 0) & np.isfinite(pred) & (pred > 0)
    if not valid.any():
        raise ValueError("no valid ground-truth depth pixels")
    return np.median(gt[valid].astype(np.float64)) / np.median(pred[valid].astype(np.float64)), valid


def depth_errors(pred, gt, region=None):
    """(abs_rel, delta1) of one (H, W) prediction after median scaling on valid gt pixels.

    With a boolean (H, W) ``region``, also (abs_rel, delta1) on its valid pixels, scaled by the same
    whole-frame median (None when the region has no valid pixel): a 4-tuple.
    """
    import numpy as np

    scale, valid = median_scale(pred, gt)

    def errors(where):
        p, g = scale * pred[where].astype(np.float64), gt[where].astype(np.float64)
        return float(np.mean(np.abs(p - g) / g)), float(np.mean(np.maximum(p / g, g / p) < 1.25))

    if region is None:
        return errors(valid)
    inside = valid & region
    return (*errors(valid), *(errors(inside) if inside.any() else (None, None)))


def angle_between_deg(a, b) -> float:
    """Angle between two 3-vectors in degrees (90 if either is zero)."""
    import numpy as np

    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return 90.0
    return float(np.rad2deg(np.arccos(np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0))))


def evaluate_sequence(nets, directory, min_translation: float) -> dict:
    """Per-sequence lists of errors."""
    import numpy as np
    from tqdm import tqdm

    from occtrack_ros.data.sequence import load_sequence
    from occtrack_ros.depth.source import resize_map
    from occtrack_ros.geometry import relative_pose, rotation_angle_deg

    seq = load_sequence(directory)
    if seq.poses is None:
        raise FileNotFoundError(f"{directory}: poses.txt is required for the pose errors")
    keys = ("abs_rel", "delta1", "raw_abs_rel", "raw_delta1", "object_abs_rel", "object_delta1", "rot", "dir",
            "zero_rot", "forward_dir", "net_rot", "net_dir")
    has_masks = (seq.directory / "gt" / "masks").is_dir()
    out = {k: [] for k in keys}
    prev = None
    for frame in tqdm(seq, total=len(seq), desc=f"eval-depth {seq.name}", leave=False):
        if frame.depth is None:
            raise FileNotFoundError(f"{directory}: depth/ maps are required")
        h, w = frame.image.shape[:2]
        objects = seq.mask(frame.index) > 0 if has_masks else None
        a, d1, *inside = depth_errors(resize_map(nets.depth(frame), h, w), frame.depth, objects)
        out["abs_rel"].append(a)
        out["delta1"].append(d1)
        if inside and inside[0] is not None:
            out["object_abs_rel"].append(inside[0])
            out["object_delta1"].append(inside[1])
        a, d1 = depth_errors(resize_map(nets.depth(frame, edge_refine=False), h, w), frame.depth)
        out["raw_abs_rel"].append(a)
        out["raw_delta1"].append(d1)
        if prev is not None:
            T_true = relative_pose(prev.T_world_cam, frame.T_world_cam)
            T_pred = nets.motion(frame, prev)
            # PoseNet's own output, before direct refinement (the same matrix for unrefined checkpoints)
            T_net = nets.motion(frame, prev, refine=False) if nets.refine is not None else T_pred
            out["rot"].append(rotation_angle_deg(T_pred[:3, :3].T @ T_true[:3, :3]))
            out["net_rot"].append(rotation_angle_deg(T_net[:3, :3].T @ T_true[:3, :3]))
            out["zero_rot"].append(rotation_angle_deg(T_true))
            if np.linalg.norm(T_true[:3, 3]) >= min_translation:
                out["dir"].append(angle_between_deg(T_pred[:3, 3], T_true[:3, 3]))
                out["net_dir"].append(angle_between_deg(T_net[:3, 3], T_true[:3, 3]))
                out["forward_dir"].append(angle_between_deg(np.array([0.0, 0.0, 1.0]), T_true[:3, 3]))
        prev = frame
    return out


def depth_figure(nets, directory, path, frames: int = 4) -> None:
    """Rows of image | true depth | median-scaled predicted depth, raw and edge-refined.

    Log grey scale from 3 m (black) to 30 m (white).
    """
    import cv2
    import numpy as np

    from occtrack_ros.data.sequence import load_sequence
    from occtrack_ros.depth.source import resize_map

    def grey(depth):
        g = (255 * np.clip(np.log(np.maximum(depth, 1e-3) / 3.0) / np.log(10.0), 0, 1)).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)

    seq = load_sequence(directory)
    rows = []
    for i in np.linspace(0, len(seq) - 1, frames).astype(int):
        frame = seq[int(i)]
        h, w = frame.image.shape[:2]
        row = [frame.image, grey(frame.depth)]
        for refined in (False, True):
            pred = resize_map(nets.depth(frame, edge_refine=refined), h, w)
            row.append(grey(pred * median_scale(pred, frame.depth)[0]))  # scaled as the metrics scale it
        rows.append(np.concatenate(row, axis=1))
    image = np.concatenate(rows, axis=0)
    image = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    if not cv2.imwrite(str(path), image[..., ::-1]):
        raise ValueError(f"could not write the figure {path}")


def summarize(lists: dict) -> dict:
    """Means of the error lists under the JSON key names."""
    import numpy as np

    def mean(key):
        return float(np.mean(lists[key])) if lists[key] else float("nan")

    return {
        "abs_rel": mean("abs_rel"), "delta1": mean("delta1"),
        "raw_abs_rel": mean("raw_abs_rel"), "raw_delta1": mean("raw_delta1"),
        "object_abs_rel": mean("object_abs_rel"), "object_delta1": mean("object_delta1"),
        "object_frames": len(lists["object_abs_rel"]),
        "pose_rot_err_deg": mean("rot"), "pose_trans_dir_err_deg": mean("dir"),
        "zero_pose_rot_err_deg": mean("zero_rot"), "zero_pose_trans_dir_err_deg": 90.0 if lists["dir"] else
        float("nan"), "forward_pose_trans_dir_err_deg": mean("forward_dir"),
        "posenet_pose_rot_err_deg": mean("net_rot"), "posenet_pose_trans_dir_err_deg": mean("net_dir"),
        "frames": len(lists["abs_rel"]), "pose_pairs": len(lists["rot"]), "direction_pairs": len(lists["dir"]),
    }


def run(args) -> int:
    """Evaluate; writes the JSON and prints the summary."""
    import json
    import sys
    from pathlib import Path

    import torch

    from occtrack_ros.depth.learned import LearnedNets

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    nets = LearnedNets(args.weights, args.device, edge_refine=args.edge_refine)
    try:
        nets.load()
        pooled: dict[str, list] = {}
        per_seq = {}
        for d in args.seq:
            lists = evaluate_sequence(nets, d, args.min_translation)
            per_seq[str(d)] = summarize(lists)
            for k, v in lists.items():
                pooled.setdefault(k, []).extend(v)
    except (FileNotFoundError, ValueError) as exc:
        print(f"occtrack eval-depth: {exc}", file=sys.stderr)
        return 2
    if args.figure:
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        depth_figure(nets, args.seq[0], args.figure)
    result = {**summarize(pooled), "weights": str(nets.path), "edge_refine": args.edge_refine, "sequences": per_seq,
              "min_translation_m": args.min_translation}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "sequences"}, indent=1))
    return 0
