"""Box overlap and per-frame matching, with TrackEval's conventions (``xywh`` boxes, IoU >= threshold)."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

_EPS = np.finfo("float").eps


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between ``(N, 4)`` and ``(M, 4)`` ``xywh`` boxes -> ``(N, M)``; TrackEval's formula (degenerate boxes: 0)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    from trackeval.datasets._base_dataset import _BaseDataset

    return _BaseDataset._calculate_box_ious(a.copy(), b.copy(), box_format="xywh")  # (N, M)


def match(similarity: np.ndarray, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian matching maximising total similarity among pairs with similarity >= threshold.

    Returns ``(rows, cols)`` index arrays of the accepted pairs, as TrackEval's preprocessing does.
    """
    similarity = np.asarray(similarity, np.float64)
    assert similarity.ndim == 2, f"similarity must be (N, M), got {similarity.shape}"
    if similarity.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    scores = similarity.copy()
    scores[scores < threshold - _EPS] = 0.0
    rows, cols = linear_sum_assignment(-scores)
    ok = scores[rows, cols] > _EPS
    return rows[ok], cols[ok]


def centres_xywh(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ``xywh`` -> ``(N, 2)`` box centres."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return boxes[:, :2] + 0.5 * boxes[:, 2:]
