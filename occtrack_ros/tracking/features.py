"""Node and edge features of the scene graph, computed in numpy (the per-frame hot path).

Every feature is dimensionless (offsets in box sizes, log ratios, probabilities), so the same
learned graph runs on 128x128 synthetic frames and on 1920x1080 MOT17 frames. Optional cues
(appearance, depth, 3D) come with an availability flag and are zero when missing, which is how
the boxes-only mode shares one network with the full detector output.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from occtrack_ros.tracking.box_ops import ioa_matrix, iou_ioa_matrices, iou_matrix

EDGE_FEATURES = 18
DET_FEATURES = 8
TRACK_FEATURES = 8
SPATIAL_FEATURES = 6


@dataclass
class FrameNodes:
    """What the graph needs about the detections of one frame (N of them)."""

    boxes: np.ndarray                   # (N, 4) xyxy
    scores: np.ndarray                  # (N,)
    embeddings: np.ndarray | None       # (N, D) L2-normalised, or None
    depths: np.ndarray | None           # (N,) [m] or None
    positions: np.ndarray | None        # (N, 3) world (or camera) frame [m], or None
    colours: np.ndarray | None = None   # (N, 3) mean chromaticity, or None


@dataclass
class TrackNodes:
    """What the graph needs about the live tracks before association (T of them)."""

    pred_boxes: np.ndarray              # (T, 4) xyxy predicted for this frame
    last_boxes: np.ndarray              # (T, 4) xyxy of the last observation (ego-motion compensated)
    maha2: np.ndarray                   # (T, N) squared Mahalanobis distance in (cx, cy, w, h)
    misses: np.ndarray                  # (T,) frames since the last observation
    hits: np.ndarray                    # (T,)
    confirmed: np.ndarray               # (T,) 0/1
    existence: np.ndarray               # (T,)
    velocity: np.ndarray                # (T, 2) image velocity [px/frame]
    embeddings: np.ndarray | None       # (T, D) or None
    pred_depths: np.ndarray | None      # (T,) or None
    maha3: np.ndarray | None            # (T, N) squared Mahalanobis distance in 3D, or None
    image_size: tuple[int, int] | None  # (W, H) or None

    def rows(self, idx: np.ndarray) -> "TrackNodes":
        """The nodes of tracks ``idx`` (every per-track array, and the rows of the (T, N) ones)."""
        def pick(a):
            return None if a is None else a[idx]
        return replace(
            self, pred_boxes=self.pred_boxes[idx], last_boxes=self.last_boxes[idx], maha2=self.maha2[idx],
            misses=self.misses[idx], hits=self.hits[idx], confirmed=self.confirmed[idx],
            existence=self.existence[idx], velocity=self.velocity[idx], embeddings=pick(self.embeddings),
            pred_depths=pick(self.pred_depths), maha3=pick(self.maha3))


def _size(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.maximum(boxes[:, 2] - boxes[:, 0], 1e-3), np.maximum(boxes[:, 3] - boxes[:, 1], 1e-3)


def _max_excluding_self(m: np.ndarray) -> np.ndarray:
    """(T, N) -> (T, N): for each (i, j) the max over k != j of m[i, k]; 0 when N == 1."""
    T, N = m.shape
    if N < 2:
        return np.zeros_like(m)
    rows = np.arange(T)
    top = m.argmax(axis=1)                                        # (T,) where each row's maximum is
    rest = m.copy()
    rest[rows, top] = -np.inf
    out = np.repeat(m[rows, top][:, None], N, axis=1)             # (T, N) the row maximum ...
    out[rows, top] = rest.max(axis=1)                             # ... except at the maximum itself
    return out


def _path_offsets(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets of points p (N, 2) from their nearest points on the segments a[i]-b[i] (T, 2 each).

    Returns the offsets (T, N, 2), the segments b - a (T, 2) and their lengths (T,).
    """
    ab = b - a                                                    # (T, 2)
    sq = (ab ** 2).sum(-1)                                        # (T,)
    ap = p[None, :, :] - a[:, None, :]                            # (T, N, 2)
    t = np.clip((ap * ab[:, None, :]).sum(-1) / np.maximum(sq, 1e-9)[:, None], 0.0, 1.0)
    return ap - t[..., None] * ab[:, None, :], ab, np.sqrt(sq)


def segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points p (N, 2) to the segments a[i]-b[i] (T, 2 each) -> (T, N)."""
    off = _path_offsets(p, a, b)[0]
    return np.sqrt((off * off).sum(-1))


def reappear_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray, scale: np.ndarray, perp_ratio: float = 1.0,
                      min_length: float = 1.0) -> np.ndarray:
    """Distance of points p (N, 2) to the paths a[i]-b[i] (T, 2 each), in units of ``scale`` (T,) -> (T, N).

    The offset from the nearest point of the path is split into its components along and across the
    path; the across component counts ``1 / perp_ratio`` times (objects stop, turn back or change speed
    behind an occluder, which moves them along their path, far more often than they leave it). Paths
    shorter than ``min_length`` x scale have no reliable direction and stay isotropic; ``perp_ratio``
    1 gives ``segment_distance / scale``.
    """
    off, ab, length = _path_offsets(p, a, b)
    dist = np.sqrt((off * off).sum(-1))
    if perp_ratio == 1.0:
        return dist / scale[:, None]
    u = ab / np.maximum(length, 1e-9)[:, None]                    # (T, 2) path direction
    along = (off * u[:, None, :]).sum(-1)
    across = off[..., 0] * u[:, None, 1] - off[..., 1] * u[:, None, 0]
    shaped = np.sqrt(along ** 2 + (across / perp_ratio) ** 2)
    directed = (length >= min_length * scale)[:, None]
    return np.where(directed, shaped, dist) / scale[:, None]


def det_features(nodes: FrameNodes, ioa: np.ndarray | None = None) -> np.ndarray:
    """(N, DET_FEATURES) per-detection features; ``ioa``: ``ioa_matrix(boxes, boxes)`` when the caller has it."""
    b = nodes.boxes.astype(np.float64)
    N = len(b)
    out = np.zeros((N, DET_FEATURES), np.float32)
    if N == 0:
        return out
    w, h = _size(b)
    ioa = ioa_matrix(b, b) if ioa is None else ioa.copy()        # (N, N) i covered by j
    np.fill_diagonal(ioa, 0.0)
    out[:, 0] = nodes.scores
    out[:, 1] = np.log(h / np.median(h))
    out[:, 2] = np.log(w / h)
    out[:, 3] = ioa.max(axis=1)
    out[:, 4] = ioa.max(axis=0)
    if nodes.depths is not None:
        d = np.asarray(nodes.depths, np.float64)
        out[:, 5] = np.log(np.maximum(d, 1e-3) / max(float(np.median(d)), 1e-3))
        out[:, 6] = 1.0
    out[:, 7] = 1.0
    return out


def track_features(tracks: TrackNodes, covered: np.ndarray) -> np.ndarray:
    """(T, TRACK_FEATURES) per-track features; covered: (T,) max IoA of the track by detections."""
    b = tracks.pred_boxes.astype(np.float64)
    T = len(b)
    out = np.zeros((T, TRACK_FEATURES), np.float32)
    if T == 0:
        return out
    w, h = _size(b)
    out[:, 0] = np.log1p(tracks.misses) / 4.0
    out[:, 1] = np.minimum(tracks.hits, 10) / 10.0
    out[:, 2] = tracks.confirmed
    out[:, 3] = tracks.existence
    out[:, 4] = covered
    out[:, 5] = np.log(w / h)
    out[:, 6] = np.clip(np.linalg.norm(tracks.velocity, axis=1) / h, 0.0, 2.0)
    if tracks.image_size is not None:
        W, H = tracks.image_size
        cx = 0.5 * (b[:, 0] + b[:, 2])
        cy = 0.5 * (b[:, 1] + b[:, 3])
        out[:, 7] = ((cx < 0) | (cx > W) | (cy < 0) | (cy > H)).astype(np.float32)
    return out


def edge_features(tracks: TrackNodes, dets: FrameNodes) -> tuple[np.ndarray, np.ndarray]:
    """Track-detection edge features (T, N, EDGE_FEATURES) and track coverage (T,)."""
    pb = tracks.pred_boxes.astype(np.float64)
    db = dets.boxes.astype(np.float64)
    T, N = len(pb), len(db)
    out = np.zeros((T, N, EDGE_FEATURES), np.float32)
    if T == 0 or N == 0:
        return out, np.zeros((T,), np.float32)
    pw, ph = _size(pb)
    dw, dh = _size(db)
    pc = 0.5 * (pb[:, :2] + pb[:, 2:])                            # (T, 2)
    dc = 0.5 * (db[:, :2] + db[:, 2:])                            # (N, 2)
    iou, ioa = iou_ioa_matrices(pb, db)                           # ioa: (T, N) track covered by det
    out[..., 0] = iou
    out[..., 1] = np.clip((dc[None, :, 0] - pc[:, None, 0]) / pw[:, None], -8, 8) / 4.0
    out[..., 2] = np.clip((dc[None, :, 1] - pc[:, None, 1]) / ph[:, None], -8, 8) / 4.0
    out[..., 3] = np.clip(np.log(dw[None, :] / pw[:, None]), -3, 3)
    out[..., 4] = np.clip(np.log(dh[None, :] / ph[:, None]), -3, 3)
    out[..., 5] = np.log1p(tracks.maha2) / 3.0
    out[..., 6] = (np.log1p(tracks.misses) / 4.0)[:, None]
    out[..., 7] = dets.scores[None, :]
    if tracks.embeddings is not None and dets.embeddings is not None:
        out[..., 8] = tracks.embeddings @ dets.embeddings.T
        out[..., 9] = 1.0
    if tracks.maha3 is not None:
        out[..., 10] = np.log1p(tracks.maha3) / 3.0
        out[..., 11] = 1.0
    out[..., 12] = _max_excluding_self(ioa)
    if tracks.pred_depths is not None and dets.depths is not None:
        rel = (dets.depths[None, :] - tracks.pred_depths[:, None]) / np.maximum(tracks.pred_depths[:, None], 1e-3)
        out[..., 13] = np.clip(rel, -1, 1)
    lb = tracks.last_boxes.astype(np.float64)
    out[..., 14] = iou_matrix(lb, db)
    out[..., 15] = tracks.confirmed[:, None]
    # Where an object hidden for a while may reappear: anywhere between where it was last seen
    # (it stopped or turned back) and where constant velocity puts it now.
    lw, lh = _size(lb)
    lc = 0.5 * (lb[:, :2] + lb[:, 2:])
    out[..., 16] = np.clip(segment_distance(dc, lc, pc) / np.sqrt(lw * lh)[:, None], 0, 8) / 4.0
    out[..., 17] = np.clip(np.abs(np.log(dw[None, :] / lw[:, None])) + np.abs(np.log(dh[None, :] / lh[:, None])), 0, 3)
    return out, ioa.max(axis=1).astype(np.float32)


def spatial_features(boxes: np.ndarray, depths: np.ndarray | None,
                     overlaps: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(N, N, SPATIAL_FEATURES) pairwise relations inside one frame (i -> j).

    ``overlaps``: ``iou_ioa_matrices(boxes, boxes)`` when the caller has them already.
    """
    b = boxes.astype(np.float64)
    N = len(b)
    out = np.zeros((N, N, SPATIAL_FEATURES), np.float32)
    if N == 0:
        return out
    w, h = _size(b)
    c = 0.5 * (b[:, :2] + b[:, 2:])
    out[..., 0], ioa = overlaps if overlaps is not None else iou_ioa_matrices(b, b)
    out[..., 1] = ioa
    out[..., 2] = ioa.T
    out[..., 3] = np.clip((c[None, :, 0] - c[:, None, 0]) / w[:, None], -8, 8) / 4.0
    out[..., 4] = np.clip((c[None, :, 1] - c[:, None, 1]) / h[:, None], -8, 8) / 4.0
    if depths is not None:
        out[..., 5] = np.sign(depths[None, :] - depths[:, None])
    return out
