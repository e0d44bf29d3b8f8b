"""Pairwise box geometry in numpy (xyxy pixels): IoU, intersection over area, conversions."""
from __future__ import annotations

import numpy as np


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N, 4) centre x, centre y, width, height."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(boxes)
    np.subtract(boxes[:, 2:4], boxes[:, 0:2], out=out[:, 2:4])         # w, h
    out[:, 0:2] = boxes[:, 0:2] + 0.5 * out[:, 2:4]
    return out


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) centre x, centre y, width, height -> (N, 4) xyxy."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    half = 0.5 * boxes[:, 2:4]
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


def intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, 4), (B, 4) xyxy -> (A, B) intersection areas."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.maximum(x2 - x1, 0.0) * np.maximum(y2 - y1, 0.0)


def area(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N,) areas (0 for degenerate boxes)."""
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0.0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, 4), (B, 4) xyxy -> (A, B) intersection over union."""
    inter = intersection(a, b)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def iou_ioa_matrices(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``iou_matrix(a, b)`` and ``ioa_matrix(a, b)`` from one intersection (the same values)."""
    inter = intersection(a, b)
    area_a = area(a)
    iou = inter / np.maximum(area_a[:, None] + area(b)[None, :] - inter, 1e-9)
    return iou, inter / np.maximum(area_a[:, None], 1e-9)


def ioa_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, 4), (B, 4) xyxy -> (A, B) fraction of each box of ``a`` covered by each box of ``b``."""
    return intersection(a, b) / np.maximum(area(a)[:, None], 1e-9)
