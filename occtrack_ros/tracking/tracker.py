"""The stateful multi-object tracker: predict (motion, ego-motion) and correct (association).

Each frame: ``predict`` moves every track with its constant-velocity filter (in the world
frame when 3D is known, else in the image with the camera rotation removed); ``correct``
builds the scene graph between tracks and detections, scores every pair (learned GNN when
weights are given, otherwise the motion model), gates the scores with the filter's
Mahalanobis distance, assigns with ``scipy.optimize.linear_sum_assignment`` (so two detections
of one frame never join one track) and runs the track lifecycle.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from occtrack_ros.tracking import kalman
from occtrack_ros.tracking.box_ops import (
    area,
    cxcywh_to_xyxy,
    intersection,
    ioa_matrix,
    iou_ioa_matrices,
    iou_matrix,
    xyxy_to_cxcywh,
)
from occtrack_ros.tracking.config import MERGE_COVER, TrackerConfig
from occtrack_ros.tracking.ego_motion import backproject, project, rotation_homography, warp_points
from occtrack_ros.tracking.features import (
    FrameNodes,
    TrackNodes,
    det_features,
    edge_features,
    reappear_distance,
    spatial_features,
    track_features,
)
from occtrack_ros.tracking.lifecycle import TrackRecord
from occtrack_ros.types import Detections, Frame, GraphEdge, Relation, Track, TrackerOutput, TrackState


def amodal_measurement(pred: np.ndarray, z: np.ndarray, ratio: float) -> np.ndarray:
    """Complete partly hidden boxes: (M, 4) predicted and measured cxcywh -> (M, 4) measurement.

    An object sliding behind an occluder (or out of the image) shows a shrinking visible box whose
    centre lags the object; fed to the filter as is, it drags the velocity towards zero just before
    the object disappears. Where the measured width (height) is below ``ratio`` x the predicted one,
    the predicted size is kept and the centre is put half that size in from whichever visible edge
    lies nearer its predicted position (the edge the occluder does not cut): ``complete_boxes`` with
    the prediction as both the full size and the expected box.
    """
    if ratio <= 0 or len(z) == 0:
        return z
    return complete_boxes(z, pred[:, 2:4], pred, None, ratio=ratio)


def _track_colours(tracks) -> np.ndarray:
    """(n, 3) running chromaticities of ``tracks``, NaN for a track without one."""
    return np.array([t.colour if t.colour is not None else np.full(3, np.nan) for t in tracks],
                    np.float64).reshape(-1, 3)


def _colour_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) distances between chromaticities (n, 3) and (m, 3).

    NaN where either is unknown, which no ``> veto`` test takes for a difference.
    """
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)


def unit_rows(e: np.ndarray) -> np.ndarray:
    """(N, D) -> rows scaled to unit length (zero rows stay zero)."""
    e = np.asarray(e, np.float64)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-9)


def border_contact(boxes: np.ndarray, image_size: tuple[int, int] | None, margin: float) -> np.ndarray:
    """(N, 4) cxcywh -> (N, 2, 2) bool [box][axis][low, high]: the edge lies within ``margin`` of the image border."""
    out = np.zeros((len(boxes), 2, 2), bool)
    if image_size is None:
        return out
    for axis in (0, 1):
        out[:, axis, 0] = boxes[:, axis] - 0.5 * boxes[:, 2 + axis] <= margin
        out[:, axis, 1] = boxes[:, axis] + 0.5 * boxes[:, 2 + axis] >= image_size[axis] - margin
    return out


def complete_boxes(boxes: np.ndarray, full_size: np.ndarray, expected: np.ndarray | None,
                   image_size: tuple[int, int] | None, margin: float = 1.0, ratio: float = 0.0,
                   occluded: np.ndarray | None = None) -> np.ndarray:
    """The whole objects' boxes from the parts of them that are seen: (M, 4) cxcywh -> (M, 4).

    ``full_size`` (M, 2) is each object's w, h from earlier boxes that nothing cut (NaN: unknown).
    Along each axis where the seen box is smaller:

    - the image border is an occluder whose position is known: a box touching exactly one border
      keeps its inner edge and takes the full size, extending past the border like the object;
    - ``occluded`` (M, 2, 2) bool, [box][axis][low edge, high edge], says where a nearer surface
      borders the box (from a depth map, ``occluder_sides``). Where exactly one edge of an axis has
      one, that edge is the cut one;
    - otherwise, with ``ratio`` > 0, a box narrower (shorter) than ``ratio`` x the full size away
      from the border is cut by an occluder in the scene; it keeps the edge nearer where
      ``expected`` (M, 4) (the last completed box moved by the track's velocity; NaN rows: none)
      puts it, the edge the occluder did not cut.
    """
    boxes = np.asarray(boxes, np.float64)
    out = boxes.copy()
    border = border_contact(boxes, image_size, margin)                     # (M, 2, 2)
    with np.errstate(invalid="ignore"):
        need = np.isfinite(full_size) & (boxes[:, 2:4] < full_size)         # (M, 2) seen smaller than whole
        cut = border[:, :, 0] != border[:, :, 1]                            # (M, 2) a reason to complete it
        if occluded is not None:
            cut |= occluded[:, :, 0] != occluded[:, :, 1]
        if ratio > 0 and expected is not None:
            cut |= boxes[:, 2:4] < ratio * full_size
    if not (need & cut).any():
        return out                                                         # nothing is cut: the common case
    for axis in (0, 1):
        size, seen = full_size[:, axis], boxes[:, 2 + axis]
        with np.errstate(invalid="ignore"):
            need = np.isfinite(size) & (seen < size)
        lo, hi = boxes[:, axis] - 0.5 * seen, boxes[:, axis] + 0.5 * seen
        at_lo, at_hi = border[:, axis, 0], border[:, axis, 1]
        by_border = at_lo != at_hi
        keep_lo = at_hi.copy()
        by_depth = np.zeros(len(boxes), bool)
        if occluded is not None:
            by_depth = ~by_border & (occluded[:, axis, 0] != occluded[:, axis, 1])
            keep_lo = np.where(by_depth, occluded[:, axis, 1], keep_lo)
        by_motion = np.zeros(len(boxes), bool)
        if ratio > 0 and expected is not None:
            with np.errstate(invalid="ignore"):
                by_motion = (~by_border & ~by_depth & ~at_lo & (seen < ratio * size)
                             & np.isfinite(expected[:, axis]))
            e_lo = expected[:, axis] - 0.5 * expected[:, 2 + axis]
            e_hi = expected[:, axis] + 0.5 * expected[:, 2 + axis]
            keep_lo = np.where(by_motion, np.abs(lo - e_lo) <= np.abs(hi - e_hi), keep_lo)
        apply = need & (by_border | by_depth | by_motion)
        out[:, axis] = np.where(apply, np.where(keep_lo, lo + 0.5 * size, hi - 0.5 * size), out[:, axis])
        out[:, 2 + axis] = np.where(apply, size, out[:, 2 + axis])
    return out


def prior_full_sizes(boxes: np.ndarray, prior: np.ndarray, image_size: tuple[int, int] | None,
                     margin: float = 1.0) -> np.ndarray:
    """Full sizes of objects cut by the image border and never yet seen whole: (M, 4) cxcywh -> (M, 2).

    ``prior`` is (log w/h, log w, log h) of the scene's whole boxes. A box cut along one axis only
    keeps its other side, which nothing cuts, and takes the prior aspect ratio for the cut one
    (never less than what is seen); a box cut along both axes (in a corner) takes the prior size.
    Rows of boxes that no border cuts are NaN: there is nothing to complete.
    """
    boxes = np.asarray(boxes, np.float64)
    out = np.full((len(boxes), 2), np.nan)
    cut = border_contact(boxes, image_size, margin)
    cut = cut[:, :, 0] != cut[:, :, 1]                                     # (M, 2) one border per axis
    w, h = boxes[:, 2], boxes[:, 3]
    aspect = np.exp(prior[0])
    only_x, only_y, both = cut[:, 0] & ~cut[:, 1], cut[:, 1] & ~cut[:, 0], cut.all(axis=1)
    out[only_x] = np.stack([np.maximum(w, h * aspect), h], 1)[only_x]
    out[only_y] = np.stack([w, np.maximum(h, w / aspect)], 1)[only_y]
    out[both] = np.stack([np.maximum(w, np.exp(prior[1])), np.maximum(h, np.exp(prior[2]))], 1)[both]
    return out


def complete_box(box: np.ndarray, full_size: np.ndarray, expected: np.ndarray | None,
                 image_size: tuple[int, int] | None, margin: float = 1.0, ratio: float = 0.0,
                 occluded: np.ndarray | None = None) -> np.ndarray:
    """``complete_boxes`` for one box: cxcywh (4,), full size (2,), expected (4,) or None, occluded (2, 2)."""
    return complete_boxes(np.asarray(box, np.float64)[None], np.asarray(full_size, np.float64)[None],
                          None if expected is None else np.asarray(expected, np.float64)[None], image_size,
                          margin, ratio, None if occluded is None else np.asarray(occluded)[None])[0]


def occluder_sides(box: np.ndarray, depth: float, depth_map: np.ndarray, strip: int = 3,
                   nearer: float = 0.85) -> np.ndarray:
    """(2, 2) bool [axis][low, high]: which edges of the box (cxcywh) border a surface nearer than it.

    The median depth of a ``strip``-pixel band just outside each edge (over the box's extent along
    the other axis) below ``nearer`` x the object's ``depth`` means something in front of the object
    ends there: that edge is where an occluder cuts it. Bands outside the image, or without valid
    depth, say nothing (False).
    """
    out = np.zeros((2, 2), bool)
    H, W = depth_map.shape[:2]
    x0, y0 = int(np.floor(box[0] - 0.5 * box[2])), int(np.floor(box[1] - 0.5 * box[3]))
    x1, y1 = int(np.ceil(box[0] + 0.5 * box[2])), int(np.ceil(box[1] + 0.5 * box[3]))
    ys, xs = slice(max(y0, 0), min(y1, H)), slice(max(x0, 0), min(x1, W))
    bands = {(0, 0): (ys, slice(max(x0 - strip, 0), max(x0, 0))), (0, 1): (ys, slice(min(x1, W), min(x1 + strip, W))),
             (1, 0): (slice(max(y0 - strip, 0), max(y0, 0)), xs), (1, 1): (slice(min(y1, H), min(y1 + strip, H)), xs)}
    for (axis, side), (r, c) in bands.items():
        d = depth_map[r, c]
        d = d[np.isfinite(d) & (d > 0)]
        out[axis, side] = d.size > 0 and float(np.median(d)) < nearer * depth
    return out


def detection_occluder_sides(boxes: np.ndarray, depths: np.ndarray | None, depth_map: np.ndarray | None,
                             nearer: float = 0.85) -> np.ndarray | None:
    """(N, 2, 2) bool ``occluder_sides`` of each detection's xyxy box at its own depth; None without depth.

    A detection without a valid depth gets every edge True: nothing rules an occluder out there.
    """
    if depths is None or depth_map is None:
        return None
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.ones((len(boxes), 2, 2), bool)
    for k, (b, z) in enumerate(zip(boxes, np.asarray(depths, np.float64))):
        if np.isfinite(z) and z > 0:
            cxcywh = np.r_[0.5 * (b[:2] + b[2:]), b[2:] - b[:2]]
            out[k] = occluder_sides(cxcywh, float(z), depth_map, nearer=nearer)
    return out


class Tracker:
    """Track objects through occlusion; call ``step`` once per frame, even with no detections."""

    def __init__(self, config: TrackerConfig | None = None, model=None):
        self.config = config or TrackerConfig()
        self.config.validate()
        self.model = model            # SceneGraphGNN or None (motion-only association)
        self._gnn = None              # its numpy twin: the per-frame fast path
        if model is not None:
            from occtrack_ros.tracking.gnn_numpy import NumpySceneGraphGNN

            model.eval()
            self._gnn = NumpySceneGraphGNN(model)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every track; ids restart only for a new Tracker (never within one)."""
        self.tracks: list[TrackRecord] = []
        if not hasattr(self, "_next_id"):
            self._next_id = 1
        self._last_stamp: int | None = None
        self._stamp = 0
        self._T_prev: np.ndarray | None = None
        self._T_cur: np.ndarray | None = None
        self._K: np.ndarray | None = None
        self._image_size: tuple[int, int] | None = None
        self._predicted = False
        self._frames = 0
        self._depth_map = None
        self._last_features = None    # graph inputs of the last correct(), used to build training data
        self._det_index = np.zeros(0, int)   # the last correct()'s kept detections -> input indices
        self._det_feature_cache = None  # (FrameNodes, det_features, spatial_features) of the current frame
        # Shape prior of the scene's objects (log w/h and log w, log h of whole boxes, running means):
        # completes boxes cut by the image border before the track has ever seen its object whole.
        self._shape_prior: np.ndarray | None = None

    # ---------------------------------------------------------------- predict
    def predict(self, stamp_ns: int, T_world_cam: np.ndarray | None = None) -> None:
        """Advance every track to ``stamp_ns``; ``T_world_cam`` (4, 4) compensates camera motion."""
        c = self.config
        if T_world_cam is not None:
            T_world_cam = np.asarray(T_world_cam, np.float64)
            if T_world_cam.shape != (4, 4):
                raise ValueError(f"T_world_cam must be (4, 4), got {T_world_cam.shape}")
        if self._last_stamp is not None and stamp_ns > self._last_stamp:
            dt = (stamp_ns - self._last_stamp) * 1e-9 * c.fps
        else:
            dt = 1.0
        self._last_stamp = stamp_ns
        self._stamp = stamp_ns
        self._T_prev, self._T_cur = self._T_cur, (T_world_cam if c.use_ego_motion else None)
        self._predicted = True
        if not self.tracks:
            return
        x = np.array([t.x for t in self.tracks])                 # (T, 8)
        P = np.array([t.P for t in self.tracks])                 # (T, 8, 8)
        h = np.maximum(x[:, 3:4], 1.0)
        wh = np.maximum(x[:, 2:4], 1.0)
        q_pos = np.concatenate([c.std_position * h, c.std_position * h, c.std_size * wh], axis=1)
        q_vel = np.concatenate([c.std_velocity * h, c.std_velocity * h, c.std_velocity * wh], axis=1)
        coasting = np.array([t.misses > 0 for t in self.tracks])
        x[coasting, 6:8] *= c.size_velocity_damping              # box size does not keep growing unseen
        x, P = kalman.predict(x, P, dt, q_pos, q_vel)
        x[:, 2:4] = np.maximum(x[:, 2:4], 1.0)
        self._compensate_rotation(x)
        self._predict_3d(x, dt)
        for i, t in enumerate(self.tracks):
            t.x, t.P = x[i], P[i]
            t.age += 1

    def _compensate_rotation(self, x: np.ndarray) -> None:
        """Warp image states of tracks without 3D by the camera rotation between frames."""
        if self._T_prev is None or self._T_cur is None or self._K is None:
            return
        H = rotation_homography(self._T_prev, self._T_cur, self._K)
        idx = [i for i, t in enumerate(self.tracks) if t.x3 is None]
        if not idx:
            return
        x[idx, 0:2] = warp_points(H, x[idx, 0:2])
        for i in idx:
            t = self.tracks[i]
            if t.last_z is not None:
                t.last_z = t.last_z.copy()
                t.last_z[:2] = warp_points(H, t.last_z[None, :2])[0]

    def _predict_3d(self, x: np.ndarray, dt: float) -> None:
        """Constant-velocity prediction in the world frame; its projection sets the image centre."""
        c = self.config
        idx = [i for i, t in enumerate(self.tracks) if t.x3 is not None]
        if not idx:
            return
        x3 = np.array([self.tracks[i].x3 for i in idx])          # (M, 6)
        P3 = np.array([self.tracks[i].P3 for i in idx])          # (M, 6, 6)
        q = np.full((len(idx), 3), c.accel_std / c.fps)
        x3, P3 = kalman.predict(x3, P3, dt, 0.5 * q, q)
        if self._K is not None:
            T = self._T_cur if self._T_cur is not None else np.eye(4)
            uv, z = project(x3[:, :3], T, self._K)
            for k, i in enumerate(idx):
                t = self.tracks[i]
                if z[k] > 0.1:
                    z_prev = t.depth if t.depth is not None else z[k]
                    scale = float(np.clip(z_prev / z[k], 0.5, 2.0))
                    x[i, 4:6] = uv[k] - x[i, 0:2] if t.misses == 0 else x[i, 4:6]
                    x[i, 0:2] = uv[k]
                    x[i, 2:4] *= scale
                    t.depth = float(z[k])
        for k, i in enumerate(idx):
            self.tracks[i].x3, self.tracks[i].P3 = x3[k], P3[k]

    # ---------------------------------------------------------------- correct
    def correct(self, detections: Detections, frame: Frame | None = None) -> TrackerOutput:
        """Associate this frame's detections with the predicted tracks and update the lifecycle."""
        c = self.config
        if not self._predicted:
            self.predict(frame.stamp_ns if frame is not None else self._stamp + int(1e9 / c.fps),
                         frame.T_world_cam if frame is not None else None)
        self._predicted = False
        self._frames += 1
        self._read_camera(frame)
        keep = self._kept_detections(detections)
        self._det_index = keep          # this frame's kept detections -> indices into ``detections``
        dets = detections.select(keep) if len(keep) < len(detections) else detections
        nodes = self._frame_nodes(dets)
        T, N = len(self.tracks), len(dets)
        matches: list[tuple[int, int]] = []
        graph = None
        if T and N:
            graph = self._graph_inputs(nodes)
            prob = self._association_probability(graph, nodes)
            matches = self._assign(prob)
        self._last_features = (graph, matches)
        matched_t = {i for i, _ in matches}
        matched_d = {j for _, j in matches}
        confirmed = self._update_matched(matches, nodes, dets)
        covered = graph["covered"] if graph is not None else np.zeros(T)
        outside = self._outside_view()
        for i, t in enumerate(self.tracks):
            t.covered = float(covered[i]) if i < len(covered) else 0.0
            if i not in matched_t:
                t.mark_miss(c.max_tentative_misses, c.max_occluded_frames, c.existence_decay_frames)
                if outside[i] and t.misses > c.max_outside_frames:
                    t.state = TrackState.LOST   # left the view: nothing can hide it from the detector there
        self._shift_coasting(matches, nodes)
        self._merges: list[tuple[int, int]] = []
        merged = self._reidentify_confirmed(confirmed) + self._merge_duplicates(matched_t)
        self._spawn(nodes, dets, matched_d)
        self._complete_boxes()
        ended = merged + [t for t in self.tracks if t.state == TrackState.LOST]
        self.tracks = [t for t in self.tracks if t.state != TrackState.LOST]
        return TrackerOutput(tracks=self._public(self.tracks), ended=self._public(ended), edges=self._scene_graph(),
                             merged=self._merges)

    def step(self, detections: Detections, frame: Frame) -> TrackerOutput:
        """Predict + correct for one frame (``frame.stamp_ns`` and ``frame.T_world_cam`` drive predict)."""
        self.predict(frame.stamp_ns, frame.T_world_cam)
        return self.correct(detections, frame)

    # --------------------------------------------------------------- helpers
    def _kept_detections(self, detections: Detections) -> np.ndarray:
        """Indices of the detections the tracker uses: score at least ``min_det_score``, not a fragment.

        A fragment (``fragment_ioa`` > 0) lies at least that share inside the box of a larger kept
        detection, at the same depth (within ``reid_depth_sigma``) when both have one.
        """
        c = self.config
        keep = np.flatnonzero(np.asarray(detections.scores) >= c.min_det_score)
        if c.fragment_ioa <= 0 or len(keep) < 2:
            return keep
        boxes = np.asarray(detections.boxes, np.float64)[keep]
        ioa = ioa_matrix(boxes, boxes)                              # (K, K): share of i inside j
        sizes = area(boxes)
        inside = (ioa >= c.fragment_ioa) & (sizes[:, None] < sizes[None, :])
        if detections.depths is not None:
            d = np.asarray(detections.depths, np.float64)[keep]
            with np.errstate(divide="ignore", invalid="ignore"):
                far = np.abs(np.log(d[:, None] / d[None, :])) > c.reid_depth_sigma   # NaN depth: not far
            inside &= ~far
        return keep[~inside.any(axis=1)]

    def _read_camera(self, frame: Frame | None) -> None:
        self._depth_map = None
        if frame is None:
            return
        if frame.depth is not None and np.ndim(frame.depth) == 2:
            self._depth_map = np.asarray(frame.depth)
        if frame.intrinsics is not None:
            self._K = frame.intrinsics.K
            self._image_size = (frame.intrinsics.width, frame.intrinsics.height)
        elif frame.image is not None and frame.image.ndim >= 2 and frame.image.size > 1:
            H, W = frame.image.shape[:2]
            self._image_size = (W, H)
            if self._K is None:
                from occtrack_ros.types import CameraIntrinsics
                self._K = CameraIntrinsics.default_for(W, H).K

    def _frame_nodes(self, dets: Detections) -> FrameNodes:
        emb = None
        if dets.embeddings is not None and len(dets):
            e = np.asarray(dets.embeddings, np.float64)
            emb = unit_rows(e)
        positions, depths = None, None
        if len(dets):
            if dets.positions_cam is not None:
                positions = np.asarray(dets.positions_cam, np.float64).reshape(-1, 3)
                depths = positions[:, 2].copy()
            elif dets.depths is not None and self._K is not None:
                depths = np.asarray(dets.depths, np.float64).reshape(-1)
                uv = dets.centroids if dets.centroids is not None else xyxy_to_cxcywh(dets.boxes)[:, :2]
                positions = backproject(np.asarray(uv, np.float64), depths, self._K)
            if positions is not None:
                ok = np.isfinite(positions).all(axis=1) & (depths > 0)
                if not ok.all():
                    positions, depths = None, None   # mixed validity: fall back to image space this frame
            if positions is not None and self._T_cur is not None:
                positions = positions @ self._T_cur[:3, :3].T + self._T_cur[:3, 3]
        colours = (np.asarray(dets.colours, np.float64).reshape(-1, 3)
                   if dets.colours is not None and len(dets) else None)
        return FrameNodes(boxes=dets.boxes, scores=dets.scores, embeddings=emb, depths=depths, positions=positions,
                          colours=colours)

    def _graph_inputs(self, nodes: FrameNodes) -> dict:
        c = self.config
        tr = self.tracks
        x = np.array([t.x for t in tr])                          # (T, 8)
        P = np.array([t.P for t in tr])                          # (T, 8, 8)
        h = np.maximum(x[:, 3:4], 1.0)
        r = np.concatenate([c.std_position * h, c.std_position * h, c.std_size * np.maximum(x[:, 2:4], 1.0)], 1)
        z = xyxy_to_cxcywh(nodes.boxes)
        maha2 = kalman.mahalanobis(x, P, r, z)                   # (T, N)
        maha3 = None
        pred_depths = None
        if nodes.positions is not None and all(t.x3 is not None for t in tr):
            x3 = np.array([t.x3 for t in tr])
            P3 = np.array([t.P3 for t in tr])
            pred_depths = np.array([(t.depth if t.depth is not None else 1.0) for t in tr])
            r3 = c.std_depth_rel * pred_depths[:, None] * np.ones((1, 3)) + c.std_depth_abs
            maha3 = kalman.mahalanobis(x3, P3, r3, nodes.positions)
        emb = None
        if nodes.embeddings is not None and all(t.embedding is not None for t in tr):
            emb = np.array([t.embedding for t in tr])
            emb = unit_rows(emb)
        last = np.array([t.last_z if t.last_z is not None else t.x[:4] for t in tr])
        tn = TrackNodes(
            pred_boxes=cxcywh_to_xyxy(x[:, :4]), last_boxes=cxcywh_to_xyxy(last), maha2=maha2,
            misses=np.array([t.misses for t in tr], np.float64), hits=np.array([t.hits for t in tr], np.float64),
            confirmed=np.array([t.state != TrackState.TENTATIVE for t in tr], np.float32),
            existence=np.array([t.existence for t in tr], np.float32), velocity=x[:, 4:6],
            embeddings=emb, pred_depths=pred_depths, maha3=maha3, image_size=self._image_size,
        )
        ef, covered = edge_features(tn, nodes)
        self._compare_cut_detections_in_view(tn, nodes, z, x, P, r, ef)
        # Where a hidden object may reappear: on its path from where it was last seen to where constant
        # velocity puts it now (edge feature 16 is the isotropic distance the network was trained on).
        reappear = np.clip(reappear_distance(
            z[:, :2], last[:, :2], x[:, :2], np.sqrt(np.maximum(last[:, 2] * last[:, 3], 1e-6)),
            c.reappear_perp_ratio), 0, 8)
        return {"tracks": tn, "edge": ef, "covered": covered, "reappear": reappear,
                "border_overlap": self._border_overlap(tn, nodes, z),
                "track": track_features(tn, covered), "det": self._det_features(nodes),
                "spatial": self._frame_features(nodes)[1]}

    def _compare_cut_detections_in_view(self, tn: TrackNodes, nodes: FrameNodes, z: np.ndarray, x: np.ndarray,
                                        P: np.ndarray, r: np.ndarray, ef: np.ndarray) -> None:
        """Compare detections cut by the image border with the in-view part of each prediction (in place).

        A detector sees only what is inside the image: an object leaving through the border gives a box
        whose outer edge lies on the border, while the filter's constant-velocity prediction of that box
        runs on past it. For such a detection (an edge within ``border_margin_px`` of the border, none
        beyond it) the expected measurement is the predicted box clipped to the image, so its edge
        features and Mahalanobis distance are recomputed against that. Detections that extend past the
        border (whole-object boxes, e.g. from ground truth) keep the unclipped prediction. ``z``: the
        detections as cxcywh (N, 4).
        """
        c = self.config
        if not c.clip_prediction_to_view or self._image_size is None:
            return
        W, H = self._image_size
        m = c.border_margin_px
        pb = tn.pred_boxes
        clipped = np.concatenate([np.clip(pb[:, :2], 0.0, [W, H]), np.clip(pb[:, 2:], 0.0, [W, H])], axis=1)
        crosses = (np.abs(clipped - pb).max(axis=1) > m) & (clipped[:, 2] > clipped[:, 0]) \
            & (clipped[:, 3] > clipped[:, 1])
        db = nodes.boxes.astype(np.float64)
        beyond = (db[:, 0] < -m) | (db[:, 1] < -m) | (db[:, 2] > W + m) | (db[:, 3] > H + m)
        cut = border_contact(z, self._image_size, m).any(axis=(1, 2)) & ~beyond
        if not crosses.any() or not cut.any():
            return
        ti, dj = np.flatnonzero(crosses), np.flatnonzero(cut)
        xc = x[ti].copy()
        xc[:, :4] = xyxy_to_cxcywh(clipped[ti])
        sub = tn.rows(ti)
        sub.pred_boxes = clipped[ti]
        sub.maha2 = kalman.mahalanobis(xc, P[ti], r[ti], z)
        sub_ef, _ = edge_features(sub, nodes)                     # against every detection (feature 12 needs them)
        ef[np.ix_(ti, dj)] = sub_ef[:, dj]
        tn.maha2[np.ix_(ti, dj)] = sub.maha2[:, dj]

    def _border_overlap(self, tn: TrackNodes, nodes: FrameNodes, z: np.ndarray) -> np.ndarray | None:
        """(T, N) overlap of a seen track box and a detection cut by the same image border, else 0.

        None when ``border_overlap`` is off or no such pair exists: nothing to add to the motion score.

        An object crossing the border shows a box that grows (entering) or shrinks (leaving) by a
        large factor from frame to frame, along the border, so IoU and the filter's size noise reject
        the next box of the same object. Both cut by one border, the smaller box lying within the
        larger one is what crossing it looks like: the overlap is intersection / smaller area. ``z``: the
        detections as cxcywh (N, 4).
        """
        T, N = len(tn.last_boxes), len(nodes.boxes)
        c = self.config
        if not c.border_overlap or self._image_size is None or not T or not N:
            return None
        a, b = tn.last_boxes.astype(np.float64), nodes.boxes.astype(np.float64)
        ca = border_contact(xyxy_to_cxcywh(a), self._image_size, c.border_margin_px).reshape(T, 4)
        cb = border_contact(z, self._image_size, c.border_margin_px).reshape(N, 4)
        same = (ca[:, None, :] & cb[None, :, :]).any(axis=2) & (tn.misses == 0)[:, None]
        if not same.any():
            return None
        inter = intersection(a, b)
        small = np.minimum(area(a)[:, None], area(b)[None, :])
        return np.where(same, inter / np.maximum(small, 1e-9), 0.0)

    def motion_score(self, graph: dict) -> np.ndarray:
        """(T, N) association probability of the motion model alone."""
        c = self.config
        ef = graph["edge"]
        tn = graph["tracks"]
        iou = ef[..., 0]
        d2 = tn.maha2
        if tn.maha3 is not None:
            d2 = 0.5 * (d2 + tn.maha3)
        s = np.maximum(iou, np.exp(-0.125 * d2))
        if graph["border_overlap"] is not None:
            s = np.maximum(s, graph["border_overlap"])
        # Hidden tracks: the object reappears somewhere on its path with about its old size.
        hidden = tn.misses[:, None] > 0
        sigma = c.reappear_sigma + c.reappear_sigma_growth * tn.misses[:, None]
        seg = graph["reappear"]
        s_re = np.exp(-0.5 * (seg / sigma) ** 2 - 0.5 * (ef[..., 17] / c.reappear_size_sigma) ** 2)
        s = np.where(hidden, np.maximum(s, s_re), s)
        if c.hidden_spread_power > 0:
            # A likelihood, not only a distance: the longer a track is hidden, the wider the region it may
            # come back in, and the less any one detection in it is its object (a new object, or another
            # hidden one with a tighter region, explains it as well).
            s = np.where(hidden, s * (c.reappear_sigma / sigma) ** c.hidden_spread_power, s)
        if ef[0, 0, 9] > 0:   # appearance available
            s = 0.7 * s + 0.3 * np.clip(ef[..., 8], 0.0, 1.0)
        return s

    def _association_probability(self, graph: dict, nodes: FrameNodes) -> np.ndarray:
        c = self.config
        prob = self.motion_score(graph)
        if self.model is not None:
            learned = self._learned_probability(graph)
            # Geometric blend: a pair must look right to both the motion model and the graph.
            w = c.learned_weight
            prob = np.power(np.maximum(learned, 1e-9), w) * np.power(np.maximum(prob, 1e-9), 1.0 - w)
        # Motion gate: the filter's covariance grows while a track coasts, so long occlusions widen
        # it; hidden tracks may also come back anywhere along their path (stops, turns).
        tn = graph["tracks"]
        ef = graph["edge"]
        offset = np.hypot(ef[..., 1], ef[..., 2]) * 4.0          # centre offset in predicted-box sizes
        gate = (tn.maha2 <= c.gate_chi2) | (ef[..., 0] > 0.3)
        if tn.maha3 is not None:
            gate |= tn.maha3 <= c.gate_chi2
        gate &= offset <= c.gate_max_offset + 0.05 * tn.misses[:, None]
        hidden = tn.misses[:, None] > 0
        sigma = c.reappear_sigma + c.reappear_sigma_growth * tn.misses[:, None]
        gate |= hidden & (graph["reappear"] <= 3.0 * sigma) & (ef[..., 17] <= 3.0 * c.reappear_size_sigma)
        if c.hidden_size_sigma > 0:
            # A hidden object comes back with about the size it had: every match of a hidden track pays the
            # size change since it was last seen, however wide its motion gate has grown.
            size_lik = np.exp(-0.5 * (ef[..., 17] / c.hidden_size_sigma) ** 2)
            prob = np.where(hidden, prob * size_lik, prob)
            gate &= ~hidden | (ef[..., 17] <= 3.0 * c.hidden_size_sigma)
        if c.reid_min_similarity > 0 and ef.shape[1] and ef[0, 0, 9] > 0:
            # Re-identification: an object may come back from behind its occluder far from where the filter
            # put it (it stopped, turned, or the occluder hid it longer); its appearance still says who it is.
            sim = ef[..., 8]
            reid = hidden & (sim >= c.reid_min_similarity)
            reid_prob = 0.5 + 0.5 * (sim - c.reid_min_similarity) / max(1.0 - c.reid_min_similarity, 1e-6)
            prob = np.where(reid, np.maximum(prob, reid_prob), prob)
            gate = (gate | reid) & ~(hidden & (sim < c.reid_veto_similarity))
        if c.colour_veto > 0 and nodes.colours is not None and len(self.tracks):
            # Another colour is another object, whatever the motion and the embeddings say.
            gate &= ~(_colour_distances(_track_colours(self.tracks), nodes.colours) > c.colour_veto)
        return np.where(gate, prob, 0.0)

    def _learned_probability(self, graph: dict) -> np.ndarray:
        tr = self.tracks
        H = self.model.config.hidden
        mem = np.array([t.memory if t.memory is not None else np.zeros(H, np.float32) for t in tr])
        logits = self._gnn.forward(graph["track"], mem.astype(np.float32), self._det_obs(graph["det"], None),
                                   graph["edge"], graph["spatial"])
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def _det_obs(self, det_feat: np.ndarray, embeddings: np.ndarray | None) -> np.ndarray:
        E = self.model.config.embed_dim if self.model is not None else 0
        if E == 0:
            return det_feat
        emb = np.zeros((len(det_feat), E), np.float32) if embeddings is None else embeddings[:, :E]
        return np.concatenate([det_feat, emb.astype(np.float32)], axis=1)

    def _assign(self, prob: np.ndarray) -> list[tuple[int, int]]:
        """Two Hungarian rounds: recently seen tracks first, then hidden ones on what is left.

        A hidden track's gate is wide; letting it compete in one round with visible tracks lets it
        steal the detection of a visible object passing by its occluder.
        """
        thr = self.config.match_threshold
        recent = np.array([t.misses < self.config.recent_misses for t in self.tracks])
        matches: list[tuple[int, int]] = []
        free = np.ones(prob.shape[1], bool)
        for rows_mask in (recent, ~recent):
            rows_idx = np.nonzero(rows_mask)[0]
            cols_idx = np.nonzero(free)[0]
            if len(rows_idx) == 0 or len(cols_idx) == 0:
                continue
            p = prob[np.ix_(rows_idx, cols_idx)]
            cost = np.where(p > 0.0, -np.log(np.clip(p, 1e-6, 1.0)), 1e6)
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols):
                if p[i, j] >= thr:
                    matches.append((int(rows_idx[i]), int(cols_idx[j])))
                    free[cols_idx[j]] = False
        return matches

    def _update_matched(self, matches: list, nodes: FrameNodes, dets: Detections) -> list[TrackRecord]:
        """Correct the matched tracks; returns the take-over candidates among them.

        Those are the tracks confirmed by this frame's hit and the tentative ones that reached
        ``reid_confirm_hits`` hits (see ``_reidentify_confirmed``).
        """
        c = self.config
        if not matches:
            return []
        confirmed = []
        ti = np.array([i for i, _ in matches])
        di = np.array([j for _, j in matches])
        x = np.array([self.tracks[i].x for i in ti])
        P = np.array([self.tracks[i].P for i in ti])
        z_raw = xyxy_to_cxcywh(nodes.boxes[di])
        z = amodal_measurement(x[:, :4], z_raw, c.partial_ratio)
        inside = ~border_contact(z_raw, self._image_size, c.border_margin_px).any(axis=(1, 2))
        h = np.maximum(x[:, 3:4], 1.0)
        r = np.concatenate([c.std_position * h, c.std_position * h, c.std_size * np.maximum(x[:, 2:4], 1.0)], 1)
        prior_center = x[:, 0:2].copy()
        x, P = kalman.update(x, P, r, z)
        tracks = [self.tracks[i] for i in ti]
        depths = [None] * len(matches) if nodes.depths is None else [float(d) for d in nodes.depths[di]]
        new_full, prior_obs = self._full_sizes_seen(tracks, z_raw, inside, depths)
        for k, (t, j) in enumerate(zip(tracks, di)):
            t.prior_center = prior_center[k] if t.misses == 0 else None
            gap = t.misses + 1
            t.x, t.P = x[k], P[k]
            if gap > 2 and t.last_z is not None:
                # Observation-centric re-anchoring (OC-SORT): after a gap the filter velocity has
                # drifted unobserved, and the displacement across the gap measures the motion while
                # hidden. Over a short gap that displacement is mostly box noise, so it is weighed
                # against the filter's velocity by gap / (gap + reanchor_frames).
                w = gap / (gap + c.reanchor_frames)
                t.x[4:6] = w * (z[k, :2] - t.last_z[:2]) / gap + (1 - w) * t.x[4:6]
                t.x[0:2] = z[k, :2]
                t.P[4:6, 4:6] = np.eye(2) * (c.std_velocity * h[k, 0]) ** 2 * 4
            t.last_z = z[k]
            if new_full[k] is not None:
                t.full_size, t.full_size_depth = new_full[k], depths[k]
            t.score = float(nodes.scores[j])
            t.detection_index = int(j)
            t.last_observed_ns = self._stamp
            if nodes.embeddings is not None:
                e = nodes.embeddings[j]
                t.embedding = e.copy() if t.embedding is None else 0.8 * t.embedding + 0.2 * e
            if nodes.colours is not None:
                col = nodes.colours[j]
                t.colour = col.copy() if t.colour is None else 0.8 * t.colour + 0.2 * col
            if nodes.positions is not None:
                self._update_3d(t, nodes.positions[j], float(nodes.depths[j]), gap)
            was_tentative = t.state == TrackState.TENTATIVE
            t.mark_hit(c.n_init)
            if was_tentative and (t.state == TrackState.CONFIRMED or t.hits == c.reid_confirm_hits):
                confirmed.append(t)   # may take over a hidden track's id (_reidentify_confirmed)
        self._update_shape_prior(prior_obs)
        self._update_memory(tracks, di, nodes)
        return confirmed

    def _full_sizes_seen(self, tracks: list[TrackRecord], z_raw: np.ndarray, inside: np.ndarray,
                         depths: list) -> tuple[list, np.ndarray]:
        """Whole-object sizes from this frame's boxes of matched ``tracks`` (updates their ``cut_frames``).

        A box clear of the border (``inside``) and not suddenly smaller is the object's full size. A
        smaller box that stays so for ``amodal_max_cut_frames`` is the object itself changing size (it
        moved away). Returns each track's new full size (None: unchanged) and the (log w/h, log w,
        log h) rows of the whole boxes, in order, for the scene's shape prior.
        """
        c = self.config
        K = len(tracks)
        full = np.full((K, 2), np.nan)
        for k, t in enumerate(tracks):
            if inside[k] and t.full_size is not None:
                full[k] = self._full_size_at(t, depths[k])
        known = ~np.isnan(full[:, 0])
        seen = z_raw[:, 2:4]
        whole = inside & (~known | (seen >= c.amodal_ratio * full).all(axis=1))
        merged = self._merged_boxes(tracks, z_raw, full, known) if c.merge_size_ratio > 0 else np.zeros(K, bool)
        whole &= ~merged
        blended = np.where(known[:, None] & whole[:, None], 0.7 * full + 0.3 * seen, seen)
        new_full = [None] * K
        for k in np.flatnonzero(inside & ~merged):
            t = tracks[k]
            t.cut_frames = 0 if whole[k] else t.cut_frames + 1
            if whole[k] or t.cut_frames > c.amodal_max_cut_frames:
                new_full[k] = blended[k]
        w, h = np.maximum(seen[whole], 1.0).T
        return new_full, np.stack([np.log(w / h), np.log(w), np.log(h)], axis=1)

    def _merged_boxes(self, tracks: list[TrackRecord], z_raw: np.ndarray, full: np.ndarray,
                      known: np.ndarray) -> np.ndarray:
        """(K,) bool: the matched box is two objects boxed as one, not the object's own size.

        Its area exceeds ``merge_size_ratio`` x the track's full size, and at least ``MERGE_COVER`` of
        another track's predicted box lies inside it (the rule ``offline._merges_unobserved`` applies).
        Such a box neither grows the full size (which would inflate the reported boxes for
        ``amodal_max_cut_frames`` after the objects part) nor counts as a cut one.
        """
        K = len(tracks)
        area_full = np.prod(np.where(known[:, None], full, 1.0), axis=1)
        big = known & (np.prod(z_raw[:, 2:4], axis=1) > self.config.merge_size_ratio * area_full)
        out = np.zeros(K, bool)
        if not big.any() or len(self.tracks) < 2:
            return out
        predicted = cxcywh_to_xyxy(np.array([t.x[:4] for t in self.tracks]))   # before this frame's update
        cover = ioa_matrix(predicted, cxcywh_to_xyxy(z_raw))                   # (all tracks, K)
        for k in np.flatnonzero(big):
            out[k] = any(cover[r, k] >= MERGE_COVER for r, t in enumerate(self.tracks) if t is not tracks[k])
        return out

    def _update_shape_prior(self, obs: np.ndarray) -> None:
        """Running mean (rate ``shape_prior_rate``) of the whole boxes' (log w/h, log w, log h) rows ``obs``."""
        rate = self.config.shape_prior_rate
        if rate <= 0 or not len(obs):
            return
        rows = obs.tolist()
        a, w, h = rows.pop(0) if self._shape_prior is None else self._shape_prior.tolist()
        for oa, ow, oh in rows:                                   # plain floats: the same arithmetic, less overhead
            a, w, h = a + rate * (oa - a), w + rate * (ow - w), h + rate * (oh - h)
        self._shape_prior = np.array([a, w, h])

    def _complete_boxes(self) -> None:
        """Set every track's reported (amodal) box: its filtered box completed where something cuts it.

        The filter follows the box the detector sees, so association compares like with like; only
        the reported box is completed (``complete_boxes``), from the track's full size.
        """
        c = self.config
        for t in self.tracks:
            if not c.amodal_output or t.full_size is None:
                t.amodal = None
        tr = [t for t in self.tracks if c.amodal_output and t.full_size is not None]
        sizes = [self._full_size_at(t, t.depth) for t in tr]
        if c.amodal_output and self._shape_prior is not None:
            unseen = [t for t in self.tracks if t.full_size is None and t.misses == 0]
            if unseen:
                guess = prior_full_sizes(np.array([self._seen_box(t) for t in unseen]), self._shape_prior,
                                         self._image_size, c.border_margin_px)
                keep = np.isfinite(guess).all(axis=1)
                tr += [t for t, k in zip(unseen, keep) if k]
                sizes += list(guess[keep])
        if not tr:
            return
        expected = np.full((len(tr), 4), np.nan)
        last = [k for k, t in enumerate(tr) if t.amodal is not None]
        if last:
            expected[last] = np.array([tr[k].amodal for k in last])
            expected[last, :2] += np.array([tr[k].x[4:6] for k in last])
        occluded = np.zeros((len(tr), 2, 2), bool)
        if self._depth_map is not None:
            for k, t in enumerate(tr):
                if t.depth is not None and t.misses == 0:
                    occluded[k] = occluder_sides(self._seen_box(t), t.depth, self._depth_map,
                                                 nearer=c.occluder_depth_ratio)
        boxes = complete_boxes(np.array([self._seen_box(t) for t in tr]), np.array(sizes), expected,
                               self._image_size, c.border_margin_px, c.amodal_ratio, occluded)
        for t, b in zip(tr, boxes):
            t.amodal = b

    def _seen_box(self, t: TrackRecord) -> np.ndarray:
        """(4,) cx, cy, w, h the track reports before completion.

        This frame's detection when it has one and ``report_measured_box`` is set, else the filter's
        box (its prediction while it coasts).
        """
        if self.config.report_measured_box and t.misses == 0 and t.last_z is not None:
            return t.last_z
        return t.x[:4]

    def _full_size_at(self, t: TrackRecord, depth: float | None) -> np.ndarray | None:
        """The track's full (w, h) seen from ``depth``: image size scales as 1 / depth.

        An object that left the view (or hid) at one depth and comes back at another has another
        image size; without depths on both ends (or with ``full_size_depth_scaling`` off) it is the
        size as measured.
        """
        if t.full_size is None:
            return None
        if (not self.config.full_size_depth_scaling or depth is None or t.full_size_depth is None
                or not depth > 0 or not t.full_size_depth > 0):
            return t.full_size
        return t.full_size * float(np.clip(t.full_size_depth / depth, 0.25, 4.0))

    def _reidentify_confirmed(self, new: list[TrackRecord]) -> list[TrackRecord]:
        """Hand hidden tracks the new tracks confirmed this frame that are their objects come back.

        A hidden object often comes back where its filter no longer expects it (it stopped, turned
        or reversed behind the occluder) or half-covered, so the frame-by-frame gate misses it and
        a new tentative track starts there. When that track has ``reid_confirm_hits`` hits, or is
        confirmed (n_init hits; either way not a one-frame false positive), every hidden confirmed
        track that was never seen while the new one was (two objects seen at once are two objects)
        is a candidate. A candidate qualifies when the new box lies within ``reid_confirm_sigmas``
        reappearance sigmas of the path between where it was last seen and where constant velocity
        puts it now (``features.reappear_distance``), its size (and depth, when both have one)
        agree, and its appearance is not vetoed. The best candidates are assigned with
        linear_sum_assignment; the hidden track takes over the new track's state and keeps its own
        id, and the new track ends (returned, state LOST).
        """
        c = self.config
        if not c.reid_on_confirm or not new:
            return []
        hidden = [t for t in self.tracks if t.state == TrackState.OCCLUDED and t.last_z is not None]
        if not hidden:
            return []
        nb = np.array([t.x[:4] for t in new])                     # (M, 4) cxcywh
        lz = np.array([t.last_z for t in hidden])                 # (K, 4) last seen, ego-compensated
        pred = np.array([t.x[:4] for t in hidden])                # (K, 4) predicted now
        scale = np.sqrt(np.maximum(lz[:, 2] * lz[:, 3], 1.0))      # (K,)
        dist = reappear_distance(nb[:, :2], lz[:, :2], pred[:, :2], scale, c.reappear_perp_ratio)  # (K, M) box sizes
        # The reappearance spread grows with the time hidden (seconds, so that it means the same at any frame rate).
        hidden_s = np.array([(self._stamp - t.last_observed_ns) * 1e-9 for t in hidden], np.float64)
        sigma = (c.reappear_sigma + c.reid_sigma_growth_per_s * hidden_s)[:, None]       # (K, 1)
        size = (np.abs(np.log(nb[None, :, 2] / np.maximum(lz[:, None, 2], 1e-3)))
                + np.abs(np.log(nb[None, :, 3] / np.maximum(lz[:, None, 3], 1e-3))))    # (K, M)
        cost = 0.5 * (dist / sigma) ** 2 + 0.5 * (size / c.reappear_size_sigma) ** 2
        k = c.reid_confirm_sigmas
        ok = (dist <= k * sigma) & (size <= k * c.reappear_size_sigma)
        if c.hidden_spread_power > 0:
            # As in the motion score, a density: the longer a track has been hidden, the closer to its path a
            # new track must start to be its object (-log density within k sigmas of a fresh track's).
            ok &= 0.5 * (dist / sigma) ** 2 + c.hidden_spread_power * np.log(sigma / c.reappear_sigma) <= 0.5 * k ** 2
        # Never two objects: the hidden track must have gone unseen for the new track's whole life.
        ok &= np.array([[h.last_observed_ns < n.first_seen_ns for n in new] for h in hidden])
        dh = np.array([h.depth if h.depth is not None else np.nan for h in hidden])
        dn = np.array([n.depth if n.depth is not None else np.nan for n in new])
        ddepth = np.abs(np.log(np.maximum(dn[None, :], 1e-3) / np.maximum(dh[:, None], 1e-3)))
        known = np.isfinite(ddepth)
        ok &= ~known | (ddepth <= k * c.reid_depth_sigma)
        cost = cost + np.where(known, 0.5 * (np.nan_to_num(ddepth) / c.reid_depth_sigma) ** 2, 0.0)
        if c.reid_min_similarity > 0:
            eh = [a for a, t in enumerate(hidden) if t.embedding is not None]
            en = [b for b, t in enumerate(new) if t.embedding is not None]
            if eh and en:
                sim = unit_rows(np.array([hidden[a].embedding for a in eh])) @ unit_rows(
                    np.array([new[b].embedding for b in en])).T
                ok[np.ix_(eh, en)] &= sim >= c.reid_veto_similarity
        if c.colour_veto > 0:
            ok &= ~(_colour_distances(_track_colours(hidden), _track_colours(new)) > c.colour_veto)
        if not ok.any():
            return []
        rows, cols = linear_sum_assignment(np.where(ok, cost, 1e6))
        ended = []
        for a, b in zip(rows, cols):
            if ok[a, b]:
                self._take_over(hidden[a], new[b])
                self._merges.append((new[b].track_id, hidden[a].track_id))
                ended.append(new[b])
        return self._end(ended)

    def _merge_duplicates(self, matched: set) -> list[TrackRecord]:
        """End the younger of two tracks that follow one object; return the ended ones (state LOST).

        A detector that splits one object for a few frames leaves two confirmed tracks on it, and from
        then on they take turns at its detection, switching the reported id every few frames. The
        sign: a track that missed just this frame while its predicted box lies on (IoU >=
        ``duplicate_iou``) the box of a track matched this frame, at the same depth when both have
        one. The older id survives, with the state of the matched one. An object that slips behind
        another is not one: it is missed for many frames and lies at another depth.
        """
        c = self.config
        if c.duplicate_iou <= 0 or len(self.tracks) < 2:
            return []
        seen = [t for i, t in enumerate(self.tracks) if i in matched and t.state == TrackState.CONFIRMED]
        missed = [t for i, t in enumerate(self.tracks) if i not in matched and t.misses == 1
                  and t.state == TrackState.OCCLUDED]
        if not seen or not missed:
            return []
        iou = iou_matrix(cxcywh_to_xyxy(np.array([t.x[:4] for t in missed])),
                         cxcywh_to_xyxy(np.array([t.x[:4] for t in seen])))        # (U, M)
        ended, used = [], set()
        for u, m in zip(*np.nonzero(iou >= c.duplicate_iou)):
            a, b = missed[u], seen[m]
            if id(a) in used or id(b) in used:
                continue
            if a.depth is not None and b.depth is not None and abs(np.log(a.depth / b.depth)) > c.reid_depth_sigma:
                continue
            used.update((id(a), id(b)))
            if a.track_id < b.track_id:
                self._take_over(a, b)
                self._merges.append((b.track_id, a.track_id))
                ended.append(b)
            else:
                ended.append(a)
        return self._end(ended)

    def _end(self, ended: list[TrackRecord]) -> list[TrackRecord]:
        """Remove ``ended`` (merged into other tracks) from the live tracks; they are reported as LOST."""
        gone = {id(t) for t in ended}
        self.tracks = [t for t in self.tracks if id(t) not in gone]
        for t in ended:
            t.state = TrackState.LOST
        return ended

    def _take_over(self, old: TrackRecord, new: TrackRecord) -> None:
        """``old`` (hidden) continues with the motion state and observations of ``new``."""
        old.x, old.P, old.last_z = new.x.copy(), new.P.copy(), new.last_z.copy()
        if new.x3 is not None:
            old.x3, old.P3, old.last_z3 = new.x3.copy(), new.P3.copy(), new.last_z3
            old.depth = new.depth
        old.hits += new.hits
        old.misses = 0
        old.existence = 1.0
        old.state = TrackState.CONFIRMED
        old.score, old.detection_index = new.score, new.detection_index
        old.last_observed_ns, old.prior_center = new.last_observed_ns, None
        if new.embedding is not None:
            old.embedding = new.embedding.copy() if old.embedding is None else 0.5 * (old.embedding + new.embedding)
        if new.colour is not None:
            old.colour = new.colour.copy() if old.colour is None else 0.5 * (old.colour + new.colour)
        if old.memory is None:
            old.memory = new.memory   # else the old track's memory goes on integrating from its next observation
        # The object's whole size as seen since it came back (None: not seen whole yet): it may be nearer
        # or farther than when it left (and the boxes-only gate cannot tell two similar objects apart);
        # the old size would inflate every reported box through the amodal completion.
        old.full_size = None if new.full_size is None else new.full_size.copy()
        old.full_size_depth, old.cut_frames = new.full_size_depth, new.cut_frames

    def _update_3d(self, t: TrackRecord, p: np.ndarray, depth: float, gap: int) -> None:
        c = self.config
        r = np.full((1, 3), c.std_depth_rel * depth + c.std_depth_abs)
        if t.x3 is None:
            t.x3, t.P3 = kalman.initiate(p[None], r, np.full((1, 3), 1.0 / c.fps))
            t.x3, t.P3 = t.x3[0], t.P3[0]
        else:
            x3, P3 = kalman.update(t.x3[None], t.P3[None], r, p[None])
            t.x3, t.P3 = x3[0], P3[0]
            if gap > 2 and t.last_z3 is not None:
                t.x3[3:6] = (p - t.last_z3) / gap
                t.x3[0:3] = p
        t.last_z3 = p.copy()
        t.depth = depth

    def _det_features(self, nodes: FrameNodes) -> np.ndarray:
        """``det_features(nodes)``, computed once per frame (the graph and the GRU memory both use them)."""
        return self._frame_features(nodes)[0]

    def _frame_features(self, nodes: FrameNodes) -> tuple[np.ndarray, np.ndarray]:
        """``det_features`` and ``spatial_features`` of this frame's detections, from one overlap computation."""
        cached = self._det_feature_cache
        if cached is None or cached[0] is not nodes:
            b = nodes.boxes.astype(np.float64)
            overlaps = iou_ioa_matrices(b, b) if len(b) else None
            cached = self._det_feature_cache = (nodes, det_features(nodes, None if overlaps is None else overlaps[1]),
                                                spatial_features(b, nodes.depths, overlaps))
        return cached[1], cached[2]

    def _update_memory(self, tracks: list[TrackRecord], det_idx: np.ndarray, nodes: FrameNodes) -> None:
        """One GRU step per matched track: its memory integrates its whole observation history.

        (Training unrolls the same cell over GNNConfig.history observations from a zero state; running
        it on over the whole track gave identical tracking results on tuning seeds 30-69 and 30-41, at
        one cell step per frame instead of ``history``.)
        """
        if self.model is None or not tracks:
            return
        obs = self._det_obs(self._det_features(nodes)[det_idx], None if nodes.embeddings is None
                            else nodes.embeddings[det_idx].astype(np.float32))
        H = self.model.config.hidden
        prev = np.array([t.memory if t.memory is not None else np.zeros(H, np.float32) for t in tracks])
        for t, m in zip(tracks, self._gnn.gru(obs.astype(np.float32), prev)):
            t.memory = m

    def _outside_view(self) -> np.ndarray:
        """(T,) whether more than ``max_outside_fraction`` of each track's predicted box is off-image."""
        if self._image_size is None or not self.tracks:
            return np.zeros(len(self.tracks), bool)
        b = cxcywh_to_xyxy(np.array([t.x[:4] for t in self.tracks]))
        inside = ioa_matrix(b, np.array([[0.0, 0.0, *self._image_size]]))[:, 0]    # share of each box in view
        return inside < 1.0 - self.config.max_outside_fraction

    def _shift_coasting(self, matches: list, nodes: FrameNodes) -> None:
        """Move coasting image-space tracks by the common motion residual of the observed ones.

        Without camera poses, an unmodelled camera pan shows up as the same prediction error on
        every observed track; hidden tracks behind an occluder move with the image just the same.
        """
        c = self.config
        if c.common_motion_gain <= 0 or (self._T_cur is not None and self._T_prev is not None):
            return
        if not any(t.misses > 0 and t.x3 is None for t in self.tracks):
            return
        pairs = [(self.tracks[i].prior_center, j) for i, j in matches
                 if self.tracks[i].hits >= 2 and self.tracks[i].prior_center is not None]
        if len(pairs) < c.common_motion_min_tracks:
            return
        b = nodes.boxes[[j for _, j in pairs]]
        res = 0.5 * (b[:, :2] + b[:, 2:]) - np.array([p for p, _ in pairs])
        shift = c.common_motion_gain * np.median(res, axis=0)
        for t in self.tracks:
            if t.misses > 0 and t.x3 is None:
                t.x[0:2] += shift
                if t.last_z is not None:
                    t.last_z = t.last_z.copy()
                    t.last_z[:2] += shift

    def _spawn(self, nodes: FrameNodes, dets: Detections, matched: set) -> None:
        c = self.config
        cand = [j for j in range(len(dets)) if j not in matched and nodes.scores[j] >= c.min_new_track_score]
        if not cand:
            return
        if matched:
            # A detection almost identical to a matched one is a duplicate, not a new object.
            overlap = iou_matrix(nodes.boxes[cand].astype(np.float64), nodes.boxes[sorted(matched)].astype(np.float64))
            cand = [j for j, o in zip(cand, overlap.max(axis=1)) if o < 0.7]
        if cand:
            self._create_tracks(nodes, cand)

    def _create_tracks(self, nodes: FrameNodes, cand: list[int]) -> list[TrackRecord]:
        """New tentative tracks from detections ``cand`` (indices into this frame's detections)."""
        c = self.config
        z = xyxy_to_cxcywh(nodes.boxes[cand])
        h = np.maximum(z[:, 3:4], 1.0)
        wh = np.maximum(z[:, 2:4], 1.0)
        pos_std = np.concatenate([2 * c.std_position * h, 2 * c.std_position * h, 2 * c.std_size * wh], 1)
        vel_std = np.concatenate([10 * c.std_velocity * h, 10 * c.std_velocity * h, 10 * c.std_velocity * wh], 1)
        x, P = kalman.initiate(z, pos_std, vel_std)
        new = []
        for k, j in enumerate(cand):
            t = TrackRecord(track_id=self._next_id, x=x[k], P=P[k], first_seen_ns=self._stamp,
                            last_observed_ns=self._stamp, last_z=z[k].copy(), score=float(nodes.scores[j]),
                            detection_index=int(j))
            self._next_id += 1
            if c.n_init <= 1:
                t.state = TrackState.CONFIRMED
            if nodes.embeddings is not None:
                t.embedding = nodes.embeddings[j].copy()
            if nodes.colours is not None:
                t.colour = nodes.colours[j].copy()
            if nodes.positions is not None:
                self._update_3d(t, nodes.positions[j], float(nodes.depths[j]), 1)
            new.append(t)
        self._update_memory(new, np.array(cand), nodes)
        self.tracks.extend(new)
        return new

    # ---------------------------------------------------------------- output
    def _input_index(self, j: int) -> int:
        """Index into the frame's ``Detections`` as given to ``correct`` of kept detection ``j`` (-1: none)."""
        return int(self._det_index[j]) if 0 <= j < len(self._det_index) else -1

    def _public(self, records: list[TrackRecord]) -> list[Track]:
        """The public ``Track`` of each record: its reported box (amodal when completed) and 3D state."""
        if not records:
            return []
        fps = self.config.fps
        boxes = np.array([t.amodal if t.amodal is not None else self._seen_box(t) for t in records])   # cxcywh
        xyxy = cxcywh_to_xyxy(boxes).astype(np.float32)
        out = []
        for t, box, cxcywh in zip(records, xyxy, boxes):
            pos = vel = pos_cov = vel_cov = size = None
            if t.x3 is not None:
                pos, vel = t.x3[:3].copy(), t.x3[3:6] * fps
                pos_cov, vel_cov = t.P3[:3, :3].copy(), t.P3[3:6, 3:6] * fps ** 2
                if self._K is not None:
                    d = (t.depth if t.depth is not None else 1.0)
                    size = np.array([t.x[2] * d / self._K[0, 0], t.x[3] * d / self._K[1, 1],
                                     t.x[2] * d / self._K[0, 0]])
            out.append(Track(
                track_id=t.track_id, state=t.state, box=box, existence_probability=float(t.existence),
                visible_fraction=self._visible_fraction(t, cxcywh), score=t.score,
                position=pos, position_cov=pos_cov, velocity=vel, velocity_cov=vel_cov, size=size, age=t.age,
                frames_observed=t.hits, frames_occluded=t.misses, first_seen_ns=t.first_seen_ns,
                last_observed_ns=t.last_observed_ns, detection_index=self._input_index(t.detection_index),
                uuid=t.uuid,
            ))
        return out

    def _visible_fraction(self, t: TrackRecord, box) -> float:
        """Estimated share of the object that is visible, in [0, 1] (``Track.visible_fraction``).

        Observed: 1 minus the share of its box that other detections cover. Coasting: the share of
        its (predicted, amodal) box inside the image, times the share not hidden, the hidden share
        being the larger of what detections cover and, with a depth map, what nearer surfaces cover
        (pixels nearer than ``occluder_depth_ratio`` x its depth). Near 1 for a coasting track
        means the detector missed it in plain view. Rounded to float32, as the message carries it,
        so that the result-row rule (``mot_files.coasting_row``) decides the same on a Track and
        on a TrackedObject that went through DDS.
        """
        if t.misses == 0:
            return float(np.float32(max(0.0, 1.0 - t.covered)))
        cx, cy, w, h = (float(v) for v in box)
        if w <= 0 or h <= 0:
            return 0.0
        x0, y0, x1, y1 = cxcywh_to_xyxy(np.array([cx, cy, w, h]))[0]
        inside = 1.0
        if self._image_size is not None:
            inside = float(ioa_matrix(np.array([[x0, y0, x1, y1]]), np.array([[0.0, 0.0, *self._image_size]]))[0, 0])
        hidden = float(t.covered)
        dm = self._depth_map
        if dm is not None and t.depth is not None and inside > 0:
            r0, r1 = max(int(np.floor(y0)), 0), max(int(np.ceil(y1)), 0)
            c0, c1 = max(int(np.floor(x0)), 0), max(int(np.ceil(x1)), 0)
            patch = dm[r0:r1, c0:c1]                               # numpy clips the far ends to the map
            if patch.size:
                near = np.isfinite(patch) & (patch > 0) & (patch < self.config.occluder_depth_ratio * t.depth)
                hidden = max(hidden, float(near.mean()))
        return float(np.float32(np.clip(inside * (1.0 - hidden), 0.0, 1.0)))

    def _scene_graph(self) -> list[GraphEdge]:
        """Soft adjacency and occlusion relations between live tracks after this step."""
        tr = self.tracks
        if len(tr) < 2:
            return []
        boxes = cxcywh_to_xyxy(np.array([t.x[:4] for t in tr]))
        depths = None
        if all(t.x3 is not None for t in tr):
            depths = np.array([(t.depth if t.depth is not None else 1.0) for t in tr])
        # Adjacent = near each other (SceneGraphEdge.msg): centre distance in mean box sizes and, with
        # depth, the log depth ratio. The learned soft adjacency of the graph, when there is one, weighs
        # that nearness; on its own it rates almost every pair of a busy scene above 0.6.
        c = 0.5 * (boxes[:, :2] + boxes[:, 2:])
        size = np.sqrt(np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0))
        diff = c[:, None] - c[None]
        dist = np.sqrt((diff * diff).sum(-1)) / (0.5 * (size[:, None] + size[None]))
        adj = np.exp(-0.5 * dist ** 2)
        if depths is not None:
            adj *= np.exp(-0.5 * (np.log(np.maximum(depths[:, None], 1e-3) / np.maximum(depths[None], 1e-3))
                                  / self.config.adjacent_depth_sigma) ** 2)
        iou, covered = iou_ioa_matrices(boxes, boxes)             # covered (T, T): i covered by j
        if self._gnn is not None:
            adj *= self._gnn.soft_adjacency(spatial_features(boxes, depths, (iou, covered)))
        np.fill_diagonal(adj, 0.0)
        hidden = np.array([t.misses > 0 for t in tr])
        # j occludes i: i is hidden (or farther) and its box lies behind j's.
        behind = hidden[:, None] & ~hidden[None, :]
        if depths is not None:
            behind |= (depths[:, None] > depths[None, :]) & ~hidden[None, :]
        thr = self.config.edge_min_weight
        occ = behind & (covered > thr)
        np.fill_diagonal(occ, False)
        order = np.arange(len(tr))
        adjacent = (order[:, None] < order[None, :]) & (adj >= thr) & ~occ & ~occ.T    # each pair once
        ids = [t.track_id for t in tr]
        edges = [GraphEdge(ids[j], ids[i], Relation.OCCLUDES, float(covered[i, j])) for i, j in zip(*np.nonzero(occ))]
        edges += [GraphEdge(ids[i], ids[j], Relation.ADJACENT, float(adj[i, j])) for i, j in zip(*np.nonzero(adjacent))]
        return edges
