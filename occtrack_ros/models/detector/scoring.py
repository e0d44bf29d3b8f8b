"""Scores of a detector against ground truth: foreground ARI of the masks and box recall/precision.

Used by `occtrack eval-detector`; ground truth is only ever read here, never in training.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def _pairs(n: np.ndarray) -> np.ndarray:
    return n * (n - 1) / 2.0


def adjusted_rand_index(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """ARI of two labelings of the same points (Hubert & Arabie); 1.0 when both are one cluster.

    Matches sklearn.metrics.adjusted_rand_score, including its convention for the degenerate cases.
    """
    a = np.asarray(labels_true).ravel()
    b = np.asarray(labels_pred).ravel()
    assert a.shape == b.shape, f"labelings differ in size: {a.shape} vs {b.shape}"
    n = a.size
    if n < 2:
        return 1.0
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1), dtype=np.int64)
    np.add.at(table, (ai, bi), 1)
    sum_comb = _pairs(table.astype(np.float64)).sum()
    sum_a = _pairs(table.sum(axis=1).astype(np.float64)).sum()
    sum_b = _pairs(table.sum(axis=0).astype(np.float64)).sum()
    expected = sum_a * sum_b / _pairs(np.float64(n))
    maximum = 0.5 * (sum_a + sum_b)
    if maximum == expected:  # both trivial (one cluster each, or all singletons)
        return 1.0
    return float((sum_comb - expected) / (maximum - expected))


def fg_ari(gt_ids: np.ndarray, labels: np.ndarray) -> float | None:
    """ARI over visible-object pixels: gt instance ids (H, W) vs predicted segment labels (H, W).

    Pass soft masks (K, H, W) to score their argmax. None when the frame has no visible object pixel.
    """
    if labels.ndim == 3:
        labels = labels.argmax(axis=0)
    assert labels.shape == gt_ids.shape, f"labels must be (H, W) matching gt {gt_ids.shape}, got {labels.shape}"
    fg = gt_ids > 0
    if not fg.any():
        return None
    return adjusted_rand_index(gt_ids[fg], labels[fg])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes: (N, 4) x (M, 4) -> (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_boxes(det: np.ndarray, gt: np.ndarray, gt_visibility: np.ndarray, iou_thr: float = 0.5,
                min_visibility: float = 0.5) -> dict[str, int]:
    """One frame's counts for box recall and precision.

    Detections and all gt objects with a visible box are matched one-to-one (Hungarian on IoU,
    pairs below ``iou_thr`` rejected). Recall counts gt objects with visibility >= ``min_visibility``;
    precision counts detections, ignoring those matched to a gt object below ``min_visibility``
    (finding a mostly hidden object is neither required nor an error).
    """
    det = np.asarray(det, np.float64).reshape(-1, 4)
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    vis = np.asarray(gt_visibility, np.float64).reshape(-1)
    assert len(vis) == len(gt), f"{len(gt)} gt boxes but {len(vis)} visibilities"
    matched_gt = np.full(len(gt), -1)
    matched_det = np.full(len(det), -1)
    if len(det) and len(gt):
        iou = box_iou(det, gt)
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] >= iou_thr:
                matched_det[r], matched_gt[c] = c, r
    required = vis >= min_visibility
    ignored_dets = np.zeros(len(det), bool)
    hit = matched_det >= 0
    ignored_dets[hit] = ~required[matched_det[hit]]
    return {
        "gt": int(required.sum()),
        "gt_found": int((required & (matched_gt >= 0)).sum()),
        "det": int(len(det) - ignored_dets.sum()),
        "det_true": int(((matched_det >= 0) & ~ignored_dets).sum()),
    }
