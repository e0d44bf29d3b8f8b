"""Training signal for the association GNN without identity labels.

1. **Pseudo-tracklets**: the motion-only tracker runs over the detections; a link (track,
   detection) is kept only when it is confident (the track was seen in the previous frame, the
   predicted box overlaps the detection with IoU >= ``min_iou`` and no other detection comes
   close). Chains of confident links are the pseudo-tracklets; everything else is unlabeled.
2. **Simulated occlusion**: for random pseudo-tracklets the detections are hidden for a random
   span (up to ``max_hide`` frames) before the replay, so the tracker must coast and re-associate;
   the reappearing detection of the same tracklet is the positive, every other one a negative.
3. **Teacher-forced replay**: the real ``Tracker`` replays the (hidden-span) detections with its
   association forced to the pseudo-tracklets, so the graph features recorded for training are
   exactly the ones the tracker computes at inference.

Ground-truth identities are never read: inputs are detections (boxes, scores, optional cues).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from occtrack_ros.tracking.config import TrackerConfig
from occtrack_ros.tracking.features import det_features
from occtrack_ros.tracking.tracker import Tracker
from occtrack_ros.types import Detections, Frame


@dataclass
class GraphSample:
    """One frame of training data: the graph inputs and pseudo-labels (1, 0, or -1 = unknown)."""

    track: np.ndarray      # (T, TRACK_FEATURES)
    history: np.ndarray    # (T, L, obs_dim) last observations of each track, zero-padded at the front
    edge: np.ndarray       # (T, N, EDGE_FEATURES)
    det: np.ndarray        # (N, obs_dim)
    spatial: np.ndarray    # (N, N, SPATIAL_FEATURES)
    labels: np.ndarray     # (T, N) int8
    gap: np.ndarray        # (T,) frames each track was unobserved


def pseudo_tracklets(frames: list[Detections], fps: float, min_iou: float = 0.5, min_len: int = 5) -> list[np.ndarray]:
    """Per frame, (N,) pseudo-tracklet id of each detection (-1 = not in a confident chain)."""
    teacher = Tracker(TrackerConfig(fps=fps, n_init=1, max_occluded_frames=3, min_new_track_score=0.0))
    ids: list[np.ndarray] = []
    chain_of_track: dict[int, int] = {}
    next_chain = 0
    for f, dets in enumerate(frames):
        teacher.predict(int(f * 1e9 / fps))
        prev = {t.track_id: t for t in teacher.tracks}
        pred = {tid: t.x[:4].copy() for tid, t in prev.items()}
        out = teacher.correct(dets, Frame(image=np.zeros((0, 0, 3), np.uint8), index=f))
        pid = np.full(len(dets), -1, np.int64)
        for t in out.tracks:
            j = t.detection_index
            if j < 0:
                continue
            confident = False
            if t.track_id in pred and t.frames_observed >= 2:
                from occtrack_ros.tracking.box_ops import cxcywh_to_xyxy, iou_matrix
                ious = iou_matrix(cxcywh_to_xyxy(pred[t.track_id][None]), dets.boxes.astype(np.float64))[0]
                order = np.sort(ious)[::-1]
                confident = ious[j] >= min_iou and (len(order) < 2 or order[1] < 0.3 * ious[j])
            if not confident:
                chain_of_track[t.track_id] = next_chain
                next_chain += 1
            pid[j] = chain_of_track[t.track_id]
        ids.append(pid)
    return _without_short_chains(ids, min_len)


def _without_short_chains(ids: list[np.ndarray], min_len: int) -> list[np.ndarray]:
    """Per-frame chain ids with the chains of fewer than ``min_len`` detections set to -1 (unlabeled)."""
    counts = np.bincount(np.concatenate(ids + [np.zeros(0, np.int64)]).clip(min=0))
    return [np.where((p >= 0) & (counts[p.clip(min=0)] >= min_len), p, -1) for p in ids]


def offline_pseudo_tracklets(frames: list[Detections], tracker: Tracker, image_size: tuple[int, int],
                             poses: dict[int, np.ndarray] | None = None, intrinsics=None,
                             min_len: int = 5) -> list[np.ndarray]:
    """Per frame, (N,) offline track id of each detection (-1 = none): the offline tracker as teacher.

    ``tracker`` (a ready ``Tracker``, e.g. the one trained on the motion teacher's pseudo-tracklets)
    runs over the detections and ``occtrack track``'s offline rows (backfill, re-linking from both
    sides of each gap with appearance and colour) give each detection the identity of its track.
    Unlike the confident short-term links, these chains run through real occlusions and out of the
    view and back, so the live tracker learns to re-associate after them. Still no labels: the
    teacher sees detections only. Chains with fewer than ``min_len`` detections are unlabeled (-1).
    """
    from occtrack_ros.tracking.offline import default_recorder

    blank = np.zeros((0, 0, 3), np.uint8)
    # Detector output carries embeddings (re-link with appearance and colour); public boxes do not.
    rec = default_recorder(tracker.config, image_size, appearance=any(d.embeddings is not None for d in frames))
    for f, dets in enumerate(frames):
        frame = Frame(image=blank, stamp_ns=int(round(f * 1e9 / tracker.config.fps)), index=f, intrinsics=intrinsics,
                      T_world_cam=(poses or {}).get(f))
        rec.add(f, tracker.step(dets, frame), dets.embeddings, dets.depths, None, dets.colours)
    ids = rec.detection_ids()
    return _without_short_chains([np.array([ids.get((f, j), -1) for j in range(len(d))], np.int64)
                                  for f, d in enumerate(frames)], min_len)


def hide_spans(pids: list[np.ndarray], rng: np.random.Generator, max_hide: int, fraction: float) -> list[np.ndarray]:
    """Per frame, (N,) keep mask after hiding a random span inside ``fraction`` of the tracklets."""
    frames_of: dict[int, list[int]] = {}
    for f, p in enumerate(pids):
        for q in p[p >= 0]:
            frames_of.setdefault(int(q), []).append(f)
    keep = [np.ones(len(p), bool) for p in pids]
    for q, fr in frames_of.items():
        if len(fr) < 8 or rng.uniform() > fraction:
            continue
        k = int(rng.integers(2, min(max_hide, len(fr) - 4) + 1))
        start = int(rng.integers(2, len(fr) - k - 1))   # keep >= 2 observations before and 2 after
        for f in fr[start:start + k]:
            keep[f][pids[f] == q] = False
    return keep


class TeacherForcedTracker(Tracker):
    """The real tracker with its association replaced by pseudo-tracklet ids; records samples."""

    def __init__(self, config: TrackerConfig, history: int, embed_dim: int = 0):
        super().__init__(config)
        self.history_len = history
        self.embed_dim = embed_dim
        self.samples: list[GraphSample] = []
        self._pid_of_track: dict[int, int] = {}
        self._history: dict[int, deque] = {}
        self._det_pid = np.zeros(0, np.int64)
        self._obs = np.zeros((0, 0), np.float32)
        self._hidden_pids = np.zeros(0, np.int64)

    def step_forced(self, dets: Detections, pid: np.ndarray, frame: Frame, hidden_pids=()) -> None:
        """One frame with detections ``dets`` (their tracklet ids ``pid``); ``hidden_pids`` were hidden here."""
        self._det_pid = pid
        self._hidden_pids = np.asarray(list(hidden_pids), np.int64)
        self._obs = det_features(self._frame_nodes(dets))
        if self.embed_dim:
            emb = np.zeros((len(dets), self.embed_dim), np.float32) if dets.embeddings is None else dets.embeddings
            self._obs = np.concatenate([self._obs, emb.astype(np.float32)], axis=1)
        self.step(dets, frame)

    def _assign(self, prob: np.ndarray) -> list[tuple[int, int]]:
        graph, _ = self._graph_cache
        T, N = prob.shape
        tp = np.array([self._pid_of_track.get(t.track_id, -2) for t in self.tracks])
        dp = self._det_pid
        labels = np.where(dp[None, :] < 0, -1, (tp[:, None] == dp[None, :]).astype(np.int8)).astype(np.int8)
        # One track owns at most one detection: a track whose detection is present rejects all others,
        # and a track we hid ourselves has no detection here at all (every one is a negative for it).
        owned = (labels == 1).any(axis=1) | np.isin(tp, self._hidden_pids)
        labels[owned] = np.where(labels[owned] == 1, 1, 0)
        L = self.history_len
        D = self._obs.shape[1]
        hist = np.zeros((T, L, D), np.float32)
        for i, t in enumerate(self.tracks):
            h = list(self._history.get(t.track_id, []))[-L:]
            if h:
                hist[i, L - len(h):] = np.stack(h)
        self.samples.append(GraphSample(track=graph["track"], history=hist, edge=graph["edge"], det=self._obs,
                                        spatial=graph["spatial"], labels=labels,
                                        gap=np.array([t.misses for t in self.tracks], np.float32)))
        return [(int(i), int(j)) for i, j in zip(*np.nonzero(labels == 1))]

    def _graph_inputs(self, nodes):
        graph = super()._graph_inputs(nodes)
        self._graph_cache = (graph, nodes)
        return graph

    def _update_matched(self, matches, nodes, dets) -> None:
        super()._update_matched(matches, nodes, dets)
        for i, j in matches:
            self._history.setdefault(self.tracks[i].track_id, deque(maxlen=self.history_len)).append(self._obs[j])

    def _spawn(self, nodes, dets, matched) -> None:
        live = set(self._pid_of_track.get(t.track_id, -2) for t in self.tracks)
        wanted = sorted(j for j in range(len(dets)) if j not in matched and self._det_pid[j] >= 0
                        and self._det_pid[j] not in live)
        if not wanted:
            return
        for t, j in zip(self._create_tracks(nodes, wanted), wanted):
            self._pid_of_track[t.track_id] = int(self._det_pid[j])
            self._history.setdefault(t.track_id, deque(maxlen=self.history_len)).append(self._obs[j])
