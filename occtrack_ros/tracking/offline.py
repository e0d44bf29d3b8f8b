"""Offline result rows: a whole sequence's tracks written after the fact, with the gaps filled.

A live tracker must decide each frame's rows at that frame. Offline (``occtrack track``, ``occtrack
track-dets`` on a recorded sequence) the whole track is known before a row is written, so two things
the live tracker cannot do become possible, as in ByteTrack's and OC-SORT's offline post-processing:

- **gap interpolation**: between two frames where a track was observed, at most ``max_gap_frames``
  apart, its box is the linear interpolation of the two observed boxes, not the coasting prediction
  (which drifts) or nothing (the live rule writes a hidden track only while it is partly visible);
- **backfill**: a track's first observed frames, written as tentative by the live tracker and so not
  reported, are written once the track is confirmed; and the observations of a track that ended
  because an older track took its object over (``TrackerOutput.merged``) are written under the older id.

Only ids the live rule reported at least once are written, so a false positive that never gets
confirmed stays out. With ``max_gap_frames=0`` and ``backfill=False`` the rows are the live rows.

numpy.interp does the interpolation; the bookkeeping (merges, which frames are observed) is the
tracker's own and has no library equivalent.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from occtrack_ros.tracking.mot_files import MOT_STATES, _mostly_inside, coasting_row, mot_row_wanted
from occtrack_ros.types import TrackerOutput, TrackState


@dataclass
class _Row:
    frame: int            # 0-based
    track_id: int
    box: np.ndarray       # (4,) xyxy
    conf: float
    observed: bool        # a detection was associated this frame
    wanted: bool          # the live rule (mot_files.result_rows) writes it


def _live_rule(t, image_size, states) -> bool:
    if not mot_row_wanted(t.state, t.frames_occluded, t.visible_fraction, states):
        return False
    return not (t.state == TrackState.OCCLUDED and image_size is not None and not _mostly_inside(t.box, image_size)
                and not coasting_row(t.state, t.frames_occluded, t.visible_fraction))


class OfflineRecorder:
    """Collects one tracker's outputs frame by frame; ``lines()`` gives the sequence's MOT rows."""

    def __init__(self, image_size: tuple[int, int] | None = None, max_gap_frames: int = 0,
                 backfill: bool = True, states: tuple = MOT_STATES):
        if max_gap_frames < 0:
            raise ValueError(f"OfflineRecorder: max_gap_frames must be >= 0, got {max_gap_frames}")
        self.image_size, self.max_gap, self.backfill, self.states = image_size, int(max_gap_frames), backfill, states
        self._rows: list[_Row] = []
        self._parent: dict[int, int] = {}

    def add(self, frame_index: int, out: TrackerOutput) -> None:
        """Record the tracker's output for 0-based ``frame_index``."""
        for t in out.tracks:
            self._rows.append(_Row(frame_index, t.track_id, np.asarray(t.box, np.float64).copy(),
                                   float(t.existence_probability), t.detection_index >= 0,
                                   _live_rule(t, self.image_size, self.states)))
        for ended, survivor in out.merged:
            self._parent[ended] = survivor

    def _root(self, i: int) -> int:
        seen = set()
        while i in self._parent and i not in seen:
            seen.add(i)
            i = self._parent[i]
        return i

    def rows(self) -> np.ndarray:
        """(N, 7) float rows: frame (1-based), id, x, y, w, h, conf; sorted by frame, then id."""
        if not self.backfill and self.max_gap == 0:
            return _as_array([r for r in self._rows if r.wanted])
        by_id: dict[int, dict[int, _Row]] = defaultdict(dict)
        reported: set[int] = set()
        for r in self._rows:
            root = self._root(r.track_id) if self.backfill else r.track_id
            if r.wanted:
                reported.add(root)
            old = by_id[root].get(r.frame)
            # Two rows on one frame after a merge: the observed one, else the survivor's own.
            if old is None or (r.observed, r.track_id == root) > (old.observed, old.track_id == root):
                by_id[root][r.frame] = r
        out: list[_Row] = []
        for tid in sorted(reported):
            frames = by_id[tid]
            obs = sorted(f for f, r in frames.items() if r.observed)
            filled: dict[int, _Row] = {}
            for f0, f1 in zip(obs[:-1], obs[1:]):
                if 1 < f1 - f0 <= self.max_gap + 1:
                    a, b = frames[f0], frames[f1]
                    for f in range(f0 + 1, f1):
                        w = (f - f0) / (f1 - f0)
                        box = (1 - w) * a.box + w * b.box
                        if self.image_size is None or _mostly_inside(box, self.image_size):
                            filled[f] = _Row(f, tid, box, float(np.interp(f, [f0, f1], [a.conf, b.conf])), False, True)
            for f, r in frames.items():
                if f in filled:
                    continue
                if r.wanted or (self.backfill and r.observed):
                    out.append(_Row(f, tid, r.box, r.conf, r.observed, True))
            out.extend(filled.values())
        return _as_array(out)

    def lines(self) -> list[str]:
        """MOTChallenge result lines, as ``mot_files.result_rows`` writes them."""
        return [f"{int(f)},{int(i)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{c:.3f},-1,-1,-1"
                for f, i, x, y, w, h, c in self.rows()]


def _as_array(rows: list[_Row]) -> np.ndarray:
    if not rows:
        return np.zeros((0, 7))
    a = np.array([[r.frame + 1, r.track_id, r.box[0], r.box[1], r.box[2] - r.box[0], r.box[3] - r.box[1], r.conf]
                  for r in rows], np.float64)
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def interpolate_rows(rows: np.ndarray, max_gap_frames: int, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Fill the gaps of at most ``max_gap_frames`` frames in any tracker's MOT rows by linear interpolation.

    ``rows``: (N, >=7) frame, id, x, y, w, h, conf. For trackers that do not say which rows were
    observed (the baselines), every row counts as observed.
    """
    rows = np.asarray(rows, np.float64)
    if len(rows) == 0 or max_gap_frames <= 0:
        return rows[:, :7] if len(rows) else np.zeros((0, 7))
    rows = rows[:, :7]
    new = []
    for tid in np.unique(rows[:, 1]):
        r = rows[rows[:, 1] == tid]
        r = r[np.argsort(r[:, 0])]
        for a, b in zip(r[:-1], r[1:]):
            gap = int(b[0] - a[0])
            if 1 < gap <= max_gap_frames + 1:
                for f in range(int(a[0]) + 1, int(b[0])):
                    w = (f - a[0]) / gap
                    x = (1 - w) * a + w * b
                    x[0], x[1] = f, tid
                    box = np.array([x[2], x[3], x[2] + x[4], x[3] + x[5]])
                    if image_size is None or _mostly_inside(box, image_size):
                        new.append(x)
    out = np.vstack([rows] + [np.array(new)] if new else [rows])
    return out[np.lexsort((out[:, 1], out[:, 0]))]


# Offline defaults of `occtrack track` and `occtrack track-dets` (tuning seeds; weights/tracker.md, session 12).
DEFAULT_INTERPOLATE_S = 1.0
DEFAULT_BACKFILL = True


def nonnegative_seconds(text: str) -> float:
    """The type of ``--interpolate``: a number of seconds >= 0 (argparse)."""
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {text}")
    return v


def add_offline_arguments(p) -> None:
    """The offline row options shared by ``occtrack track`` and ``occtrack track-dets``."""
    import argparse

    p.add_argument("--interpolate", type=nonnegative_seconds, default=DEFAULT_INTERPOLATE_S, metavar="SECONDS",
                   help="offline gap filling: between two observations of a track at most this far apart, write "
                        "the linear interpolation of the two boxes (0 = off, the live node's rows; default "
                        f"{DEFAULT_INTERPOLATE_S})")
    p.add_argument("--backfill", action=argparse.BooleanOptionalAction, default=DEFAULT_BACKFILL,
                   help="also write a confirmed track's observed tentative frames and, under the surviving id, the "
                        "observations of tracks merged into it by re-identification (--no-backfill: off)")


def recorder_from_args(args, fps: float, image_size, states) -> OfflineRecorder:
    """An OfflineRecorder for the options of ``add_offline_arguments``."""
    if args.interpolate < 0:
        raise ValueError(f"--interpolate must be >= 0 seconds, got {args.interpolate}")
    return OfflineRecorder(image_size, int(round(args.interpolate * fps)), args.backfill, states)
