"""MOTChallenge preprocessing into TrackEval's per-sequence data, with fully occluded objects as distractors.

This mirrors ``trackeval.datasets.MotChallenge2DBox.get_preprocessed_seq_data`` (the official
devkit's rules), working on arrays instead of a folder layout:

1. every gt row of the frame, whatever its class or flag, is matched one-to-one to the result
   rows (Hungarian on IoU, pairs with IoU >= 0.5);
2. result rows matched to a *distractor* gt row are removed: classes 2 (person on vehicle),
   7 (static person), 8 (distractor), 12 (reflection), as in the devkit, and, when
   ``ignore_fully_occluded`` (our default), evaluated rows with ``visibility == 0``. So a tracker
   that reports a coasting box on a fully hidden object is neither rewarded nor penalised for it;
3. the gt kept for evaluation is ``flag == 1 & class == 1`` (minus the fully occluded rows when
   they are ignored); the other gt rows only served step 2;
4. ids are relabelled to 0..n-1 as the metrics expect.

``ignore_fully_occluded=False`` gives the official MOT17 protocol, in which hidden pedestrians
(MOT17 marks them visibility 0 with flag 1) must still be tracked.
"""
from __future__ import annotations

import numpy as np

from occtrack_ros.evaluation.boxes import iou_xywh, match
from occtrack_ros.evaluation.mot_io import CLASS, FLAG, FRAME, ID, VIS, H, X

DISTRACTOR_CLASSES = (2, 7, 8, 12)
PEDESTRIAN = 1


def _rows_by_frame(rows: np.ndarray, num_frames: int) -> list[np.ndarray]:
    frames = rows[:, FRAME].astype(int)
    order = np.argsort(frames, kind="stable")
    bounds = np.searchsorted(frames[order], np.arange(1, num_frames + 2))
    return [rows[order[bounds[t]:bounds[t + 1]]] for t in range(num_frames)]


def _check_unique(ids: np.ndarray, what: str, frame: int) -> None:
    u, c = np.unique(ids, return_counts=True)
    if (c > 1).any():
        raise ValueError(f"{what}: id {int(u[c > 1][0])} appears {int(c.max())} times in frame {frame}")


def _relabel(per_frame: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    allids = np.unique(np.concatenate(per_frame)) if per_frame else np.zeros(0, int)
    if len(allids) == 0:
        return [np.zeros(0, int) for _ in per_frame], 0
    return [np.searchsorted(allids, ids).astype(int) for ids in per_frame], len(allids)


def preprocess_sequence(
    gt: np.ndarray, res: np.ndarray, num_frames: int, name: str = "seq", ignore_fully_occluded: bool = True
) -> dict:
    """Build TrackEval's data dict for one sequence.

    Args:
        gt: ``(N, 9)`` frame, id, x, y, w, h, flag, class, visibility.
        res: ``(M, >=6)`` frame, id, x, y, w, h, [conf].
        num_frames: sequence length; rows beyond it are an error (as in TrackEval).
        name: sequence name for messages.
        ignore_fully_occluded: treat evaluated gt rows with visibility 0 as distractors.

    Returns:
        dict with ``num_timesteps, num_gt_ids, num_tracker_ids, num_gt_dets, num_tracker_dets, gt_ids,
        tracker_ids, gt_dets, tracker_dets, similarity_scores, seq`` (TrackEval's fields) plus
        ``removed_tracker_dets`` (rows dropped by the distractor rule).
    """
    gt = np.asarray(gt, np.float64)
    res = np.asarray(res, np.float64)
    if res.size == 0:
        res = np.zeros((0, 7))
    if gt.size == 0:
        gt = np.zeros((0, 9))
    if gt.ndim != 2 or gt.shape[1] < 9:
        raise ValueError(f"{name}: gt must be (N, 9), got {gt.shape}")
    if res.ndim != 2 or res.shape[1] < 6:
        raise ValueError(f"{name}: results must be (M, >=6), got {res.shape}")
    for rows, what in ((gt, "ground truth"), (res, "results")):
        if len(rows) and rows[:, FRAME].max() > num_frames:
            raise ValueError(
                f"{name}: {what} has frame {int(rows[:, FRAME].max())} beyond the sequence length {num_frames}")
    gt_frames = _rows_by_frame(gt, num_frames)
    res_frames = _rows_by_frame(res, num_frames)

    gt_ids, trk_ids, gt_dets, trk_dets, sims = [], [], [], [], []
    removed = 0
    for t in range(num_frames):
        g, r = gt_frames[t], res_frames[t]
        _check_unique(g[:, ID], f"{name} ground truth", t + 1)
        _check_unique(r[:, ID], f"{name} results", t + 1)
        sim = iou_xywh(g[:, X:H + 1], r[:, X:H + 1])  # (G, R)
        evaluated = (g[:, FLAG] == 1) & (g[:, CLASS] == PEDESTRIAN)
        distractor = np.isin(g[:, CLASS], DISTRACTOR_CLASSES)
        if ignore_fully_occluded:
            hidden = evaluated & (g[:, VIS] <= 0.0)
            distractor |= hidden
            evaluated &= ~hidden
        if len(g) and len(r):
            rows, cols = match(sim, 0.5)
            drop = cols[distractor[rows]]
            removed += len(drop)
            keep_r = np.setdiff1d(np.arange(len(r)), drop)
            r, sim = r[keep_r], sim[:, keep_r]
        g, sim = g[evaluated], sim[evaluated]
        gt_ids.append(g[:, ID].astype(int))
        trk_ids.append(r[:, ID].astype(int))
        gt_dets.append(g[:, X:H + 1].copy())
        trk_dets.append(r[:, X:H + 1].copy())
        sims.append(sim)

    gt_ids, n_gt_ids = _relabel(gt_ids)
    trk_ids, n_trk_ids = _relabel(trk_ids)
    return {
        "num_timesteps": num_frames,
        "num_gt_ids": n_gt_ids,
        "num_tracker_ids": n_trk_ids,
        "num_gt_dets": int(sum(len(x) for x in gt_ids)),
        "num_tracker_dets": int(sum(len(x) for x in trk_ids)),
        "gt_ids": gt_ids,
        "tracker_ids": trk_ids,
        "gt_dets": gt_dets,
        "tracker_dets": trk_dets,
        "similarity_scores": sims,
        "seq": name,
        "removed_tracker_dets": removed,
    }
