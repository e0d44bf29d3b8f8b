"""Offline result rows: a whole sequence's tracks written after the fact, with the gaps filled.

A live tracker must decide each frame's rows at that frame. Offline (``occtrack track``, ``occtrack
track-dets`` on a recorded sequence) the whole track is known before a row is written, so things
the live tracker cannot do become possible, as in ByteTrack's and OC-SORT's offline post-processing:

- **smoothing** (``smooth_frames`` >= 3, optional): each live track's observed boxes are smoothed along
  its runs of consecutive observations (a least-squares line through that many frames, scipy's
  ``savgol_filter``), boxes the image border cuts left alone: small objects' boxes jitter by a pixel;
- **re-linking** (``relink``, optional): the tracks are cut at gaps of a few unobserved frames and
  the pieces joined again by an assignment that also uses each piece's motion after the gap, so
  an object that turned or stopped while hidden gets its old id back; it runs before the gaps
  are filled;

- **gap interpolation**: between two frames where a track was observed, at most ``max_gap_frames``
  apart, its box is the linear interpolation of the two observed boxes, not the coasting prediction
  (which drifts) or nothing (the live rule writes a hidden track only while it is partly visible);
- **border completion** (``border_frames`` > 0, optional): boxes the image border cuts are completed to
  the object's whole size, known from the track's nearest uncut box, and a track that came in (went
  out) at the border is carried at constant velocity to it (``_completed_at_border``, ``_border_rows``);
- **occluder completion** (``occluder_completion``, optional): a box smaller than the track's whole
  boxes around it (a nearer object hides part of it) is completed to the whole extent, placed on the
  track's path and containing the visible part (``_completed_behind_occluders``);
- **merge repair** (``merge_ratio`` > 0, optional): where two objects overlap, the detector may box them as
  one, and both tracks (or one of them) take that box. An observed box much larger than the track's
  own boxes around it, over another track's box, is taken for such a merge and treated as a missed
  observation, so the gap interpolation puts the box on the track's path between its clean
  observations (``_merges_unobserved``);
- **lead rows** (``lead_frames`` > 0, optional): where a track comes back after a gap too long to
  interpolate, its first observation is carried back at the velocity it has after the gap for at most
  that many frames while 5 % of the box is in view (the object coming out from behind an occluder or
  back into the view, too little of it in view to be detected);
- **backfill**: a track's first observed frames, written as tentative by the live tracker and so not
  reported, are written once the track is confirmed; and the observations of a track that ended
  because an older track took its object over (``TrackerOutput.merged``) are written under the older id.

Only ids the live rule reported at least once are written, so a false positive that never gets
confirmed stays out. With ``max_gap_frames=0`` and ``backfill=False`` the rows are the live rows.

The interpolation is a few lines of numpy (``_between``); the bookkeeping (merges, which frames are
observed) is the tracker's own and has no library equivalent.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from occtrack_ros.tracking.box_ops import area, ioa_matrix
from occtrack_ros.tracking.config import MERGE_COVER, TrackerConfig
from occtrack_ros.tracking.mot_files import MOT_STATES, _mostly_inside, inside_area, row_written
from occtrack_ros.tracking.relink import RelinkConfig, Tracklet, _fit, relink, split_frames, touches_border
from occtrack_ros.types import TrackerOutput


@dataclass
class _Row:
    frame: int            # 0-based
    track_id: int
    box: np.ndarray       # (4,) xyxy
    conf: float
    observed: bool        # a detection was associated this frame
    wanted: bool          # the live rule (mot_files.result_rows) writes it
    embedding: np.ndarray | None = None  # (D,) appearance embedding of the associated detection, if any
    depth: float | None = None   # [m] depth of the associated detection, if known
    occluded: np.ndarray | None = None   # (2, 2) bool [axis][low, high edge]: a nearer surface borders the
    #                                      detection there (tracker.occluder_sides), None without a depth map
    colour: np.ndarray | None = None     # (3,) mean chromaticity of the associated detection (Detections.colours)
    detection: int = -1                  # index of the associated detection in its frame (-1: none)


def _smoothed(rows: list[_Row], window: int, image_size: tuple[int, int] | None) -> list[_Row]:
    """The rows with each live track's observed boxes smoothed along its runs of consecutive observations.

    Each box coordinate is replaced by the value at that frame of a least-squares line through the
    ``window`` frames around it (``scipy.signal.savgol_filter``, order 1; a run's ends take the line
    fitted to its first or last ``window`` frames). Runs shorter than ``window`` and boxes the image
    border cuts (their outer edge is the border, not the object) keep their boxes.
    """
    from scipy.signal import savgol_filter

    runs: dict[int, list[list[int]]] = defaultdict(list)       # track id -> runs of indices into rows
    last: dict[int, int] = {}
    for k in sorted((k for k, r in enumerate(rows) if r.observed and not touches_border(r.box, image_size)),
                    key=lambda k: (rows[k].track_id, rows[k].frame)):
        r = rows[k]
        if last.get(r.track_id) == r.frame - 1:
            runs[r.track_id][-1].append(k)
        else:
            runs[r.track_id].append([k])
        last[r.track_id] = r.frame
    out = list(rows)
    for track_runs in runs.values():
        for run in track_runs:
            if len(run) < window:
                continue
            smooth = savgol_filter(np.stack([rows[k].box for k in run]), window, 1, axis=0, mode="interp")
            for k, box in zip(run, smooth):
                out[k] = replace(rows[k], box=box)
    return out


def _between(f0: int, x0: np.ndarray, f1: int, x1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of value vectors ``x0`` (at frame f0) and ``x1`` (at f1).

    Returns the frames strictly between f0 and f1, (n,), and the interpolated values, (n, len(x0)).
    """
    frames = np.arange(f0 + 1, f1)
    w = ((frames - f0) / (f1 - f0))[:, None]
    return frames, (1 - w) * x0 + w * x1


class OfflineRecorder:
    """Collects one tracker's outputs frame by frame; ``lines()`` gives the sequence's MOT rows."""

    def __init__(self, image_size: tuple[int, int] | None = None, max_gap_frames: int = 0,
                 backfill: bool = True, states: tuple = MOT_STATES, relink: RelinkConfig | None = None,
                 view_size: tuple[int, int] | None = None, border_frames: int = 0,
                 occluder_completion: bool = False, merge_ratio: float = 0.0, lead_frames: int = 0,
                 smooth_frames: int = 0):
        if max_gap_frames < 0 or border_frames < 0 or lead_frames < 0:
            raise ValueError(f"OfflineRecorder: max_gap_frames, border_frames and lead_frames must be >= 0, got "
                             f"{max_gap_frames}, {border_frames}, {lead_frames}")
        if smooth_frames != 0 and (smooth_frames < 3 or smooth_frames % 2 == 0):
            raise ValueError(f"OfflineRecorder: smooth_frames must be 0 (off) or odd and >= 3, got {smooth_frames}")
        if not merge_ratio == 0 and not merge_ratio > 1:
            raise ValueError(f"OfflineRecorder: merge_ratio must be 0 (off) or > 1, got {merge_ratio}")
        if relink is not None:
            relink.validate()
        self.merge_ratio = float(merge_ratio)             # > 1: repair boxes of two objects taken as one
        self.image_size, self.max_gap, self.backfill, self.states = image_size, int(max_gap_frames), backfill, states
        self.relink, self.view_size = relink, view_size   # view_size: for relink's border rule (default image_size)
        self.border_frames = int(border_frames)           # > 0 (needs image_size): extend tracks to the border
        self.occluder_completion = occluder_completion    # complete boxes cut by nearer objects
        self.lead_frames = int(lead_frames)               # > 0: write a track this far back before it came back
        self.smooth_frames = int(smooth_frames)           # >= 3: smooth observed boxes over this many frames
        self._rows: list[_Row] = []
        self._parent: dict[int, int] = {}
        self._last_frame = -1

    def add(self, frame_index: int, out: TrackerOutput, embeddings: np.ndarray | None = None,
            depths: np.ndarray | None = None, occluded: np.ndarray | None = None,
            colours: np.ndarray | None = None) -> None:
        """Record the tracker's output for 0-based ``frame_index``.

        ``embeddings``: the frame's detection embeddings ``(N, D)`` (``Detections.embeddings``), kept
        for the re-linking's appearance term; None for boxes only. ``depths``: the frame's detection
        depths ``(N,)`` (``Detections.depths``), which scale the whole size in the occluder completion
        (an object that comes nearer grows); None without depth. ``colours``: the detections' mean
        chromaticities ``(N, 3)`` (``Detections.colours``), the re-linking's colour term; None without.
        """
        self._last_frame = max(self._last_frame, int(frame_index))
        for t in out.tracks:
            emb = (np.asarray(embeddings[t.detection_index], np.float32)
                   if embeddings is not None and t.detection_index >= 0 else None)
            depth = (float(depths[t.detection_index]) if depths is not None and t.detection_index >= 0
                     else None)
            occ = (np.asarray(occluded[t.detection_index], bool)
                   if occluded is not None and t.detection_index >= 0 else None)
            col = (np.asarray(colours[t.detection_index], np.float64)
                   if colours is not None and t.detection_index >= 0 else None)
            self._rows.append(_Row(frame_index, t.track_id, np.asarray(t.box, np.float64).copy(),
                                   float(t.existence_probability), t.detection_index >= 0,
                                   row_written(t, self.image_size, self.states), emb, depth, occ, col,
                                   int(t.detection_index)))
        for ended, survivor in out.merged:
            self._parent[ended] = survivor

    def _root(self, i: int) -> int:
        seen = set()
        while i in self._parent and i not in seen:
            seen.add(i)
            i = self._parent[i]
        return i

    def _tracks(self) -> tuple[dict[int, dict[int, _Row]], set[int]]:
        """``({track id: {frame: row}}, written ids)``: merged tracks under their survivor, re-linked, repaired."""
        by_id: dict[int, dict[int, _Row]] = defaultdict(dict)
        reported: set[int] = set()
        for r in (_smoothed(self._rows, self.smooth_frames, self.image_size) if self.smooth_frames else self._rows):
            root = self._root(r.track_id) if self.backfill else r.track_id
            if r.wanted:
                reported.add(root)
            old = by_id[root].get(r.frame)
            # Two rows on one frame after a merge: the observed one, else the survivor's own.
            if old is None or (r.observed, r.track_id == root) > (old.observed, old.track_id == root):
                by_id[root][r.frame] = r
        if self.relink is not None:
            by_id, reported = _relinked(by_id, reported, self.relink, self.view_size or self.image_size)
        if self.merge_ratio > 0:
            by_id = _merges_unobserved(by_id, reported, self.merge_ratio, self.backfill)
        return by_id, reported

    def detection_ids(self) -> dict[tuple[int, int], int]:
        """``{(0-based frame, detection index): track id}`` of the detections the written tracks observed.

        The offline identities of the detections (after backfill merges and re-linking), as ``rows()``
        writes them; detections of two objects taken as one (``merge_ratio``) are left out. A training
        signal: the offline tracker, which sees both sides of every gap, teaches the live one
        (``occtrack train tracker --teacher offline``).
        """
        by_id, reported = self._tracks()
        return {(f, r.detection): tid for tid in reported for f, r in by_id[tid].items()
                if r.observed and r.detection >= 0}

    def rows(self) -> np.ndarray:
        """(N, 7) float rows: frame (1-based), id, x, y, w, h, conf; sorted by frame, then id."""
        by_id, reported = self._tracks()
        out: list[_Row] = []
        for tid in sorted(reported):
            frames = by_id[tid]
            obs = sorted(f for f, r in frames.items() if r.observed)
            at_border = self.border_frames > 0 and self.image_size is not None
            if at_border:
                frames = _completed_at_border(frames, obs, self.image_size)
            if self.occluder_completion:
                frames = _completed_behind_occluders(frames, obs, self.image_size)
            filled: dict[int, _Row] = {}
            for f0, f1 in zip(obs[:-1], obs[1:]):
                if 1 < f1 - f0 <= self.max_gap + 1:
                    a, b = frames[f0], frames[f1]
                    fs, vals = _between(f0, np.append(a.box, a.conf), f1, np.append(b.box, b.conf))
                    for f, v in zip(fs, vals):
                        if self.image_size is None or _mostly_inside(v[:4], self.image_size):
                            filled[int(f)] = _Row(int(f), tid, v[:4], float(v[4]), False, True)
            kept = {f for f, r in frames.items() if r.wanted or (self.backfill and r.observed)}
            if self.lead_frames > 0:
                filled.update(self._lead_rows(tid, frames, obs, kept | set(filled)))
            out += [replace(r, track_id=tid) for f, r in frames.items()   # a merged track's rows under the survivor
                    if f in kept and f not in filled]
            out.extend(filled.values())
            if at_border and obs:
                out.extend(self._border_rows_per_run(tid, frames, obs, kept | set(filled)))
        return _as_array(out)

    def _border_rows_per_run(self, tid: int, frames: dict[int, _Row], obs: list[int], taken: set[int]) -> list[_Row]:
        """``_border_rows`` for each run of observations between gaps too long to interpolate.

        A track that went out of the view and came back (re-identified live, or joined by the
        re-linking) left and entered at the border in the middle of its life, not only at its ends.
        Rows stay strictly between the neighbouring runs, on frames not ``taken``.
        """
        cuts = [k for k in range(1, len(obs)) if obs[k] - obs[k - 1] > self.max_gap + 1]
        bounds = [0, *cuts, len(obs)]
        rows: list[_Row] = []
        for i in range(len(bounds) - 1):
            run = obs[bounds[i]:bounds[i + 1]]
            lo = obs[bounds[i] - 1] if i > 0 else -1                 # the previous run's last observation
            hi = obs[bounds[i + 1]] if i + 2 < len(bounds) else self._last_frame + 1
            rows += [r for r in _border_rows(tid, [frames[f] for f in run], taken, self.image_size,
                                             self.border_frames, self._last_frame) if lo < r.frame < hi]
        return rows

    def _lead_rows(self, tid: int, frames: dict[int, _Row], obs: list[int], taken: set[int]) -> dict[int, _Row]:
        """Rows written before each observation that ends a gap too long to interpolate.

        At most ``lead_frames`` of them, on frames not ``taken``, carried back from that observation at
        the velocity of the first ``LEAD_FIT`` observations from it (``relink._fit``'s least-squares line,
        as ``_border_rows`` uses), while at least ``BORDER_MIN_INSIDE`` of the box is in view: an object
        that comes back into the view is a sliver the detector does not box before its first observation.
        """
        rows: dict[int, _Row] = {}
        for k in range(1, len(obs)):
            f0, f1 = obs[k - 1], obs[k]
            if f1 - f0 <= self.max_gap + 1:
                continue
            after = obs[k:k + LEAD_FIT]
            _, v, _, _ = _fit(np.array(after), np.stack([frames[f].box for f in after]), f1, LEAD_FIT)
            first = frames[f1]
            for f in range(max(f0 + 1, f1 - self.lead_frames), f1):
                box = first.box + np.tile(v * (f - f1), 2)
                if f not in taken and (self.image_size is None or inside_area(box, self.image_size)
                                       >= BORDER_MIN_INSIDE * float(area(box[None])[0])):
                    rows[f] = _Row(f, tid, box, first.conf, False, True)
        return rows

    def lines(self) -> list[str]:
        """MOTChallenge result lines, as ``mot_files.result_rows`` writes them."""
        return [f"{int(f)},{int(i)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{c:.3f},-1,-1,-1"
                for f, i, x, y, w, h, c in self.rows()]


def _relinked(by_id: dict[int, dict[int, _Row]], reported: set[int], cfg: RelinkConfig,
              view_size: tuple[int, int] | None = None) -> tuple[dict[int, dict[int, _Row]], set[int]]:
    """Tracks cut into tracklets at observation gaps and joined again by ``relink.relink``.

    A tracklet owns its observed frames and the unobserved rows after them (up to its track's next
    tracklet); a chain's rows stop where its next tracklet starts. A chain keeps its first
    tracklet's id unless an earlier chain holds it (then it gets a new one); it is reported when any
    of its tracklets comes from a reported track.
    """
    tracklets: list[Tracklet] = []
    owned: list[dict[int, _Row]] = []
    untouched: dict[int, dict[int, _Row]] = {}
    for root, frames in by_id.items():
        obs = np.array(sorted(f for f, r in frames.items() if r.observed), int)
        if len(obs) < cfg.min_observations:
            untouched[root] = frames
            continue
        obs_boxes = np.stack([frames[int(f)].box for f in obs])      # (n, 4)
        obs_colours = np.stack([frames[int(f)].colour if frames[int(f)].colour is not None else np.full(3, np.nan)
                                for f in obs])                       # (n, 3), NaN where unknown
        runs = split_frames(obs, cfg.split_gap, cfg.min_observations if cfg.absorb_short else 1, obs_boxes, cfg.jump,
                            obs_colours, cfg.colour_jump)
        bounds = [int(r[0]) for r in runs[1:]] + [None]
        first = 0                                                    # index of the run's first observation
        for k, (run, stop) in enumerate(zip(runs, bounds)):
            lo = -np.inf if k == 0 else int(run[0])
            boxes = obs_boxes[first:first + len(run)]
            cols = obs_colours[first:first + len(run)]
            cols, first = cols[~np.isnan(cols).any(axis=1)], first + len(run)
            embs = [frames[int(f)].embedding for f in run if frames[int(f)].embedding is not None]
            tracklets.append(Tracklet(run, boxes, root, k, touches_border(boxes[0], view_size),
                                      touches_border(boxes[-1], view_size), _mean_direction(embs),
                                      np.median(cols, axis=0) if len(cols) else None))
            owned.append({f: r for f, r in frames.items() if lo <= f and (stop is None or f < stop)})
    chains = relink(tracklets, cfg)
    out, new_reported = dict(untouched), reported & set(untouched)
    next_id = max(by_id, default=0) + 1
    for chain in chains:
        tid = tracklets[chain[0]].source
        if tid in out:
            tid, next_id = next_id, next_id + 1
        rows: dict[int, _Row] = {}
        for a, b in zip(chain, chain[1:] + [None]):
            stop = tracklets[b].start if b is not None else np.inf
            rows.update({f: r for f, r in owned[a].items() if f < stop})
        out[tid] = rows
        if any(tracklets[k].source in reported for k in chain):
            new_reported.add(tid)
    return out, new_reported


LEAD_FIT = 4            # observations after a gap that give the velocity of lead rows (offline_lead_frames)
MERGE_WINDOW = 30        # [frames] a track's own size is the median of its observed boxes this close


def _merges_unobserved(by_id: dict[int, dict[int, _Row]], tids: set[int], ratio: float,
                       backfill: bool) -> dict[int, dict[int, _Row]]:
    """Observations of two objects boxed as one, marked unobserved (the gap interpolation replaces them).

    An observed row of track A at frame f is a merge when its box area exceeds ``ratio`` x the median
    area of A's observed boxes within ``MERGE_WINDOW`` frames, and another written track B has a row
    at f (observed or coasting) with at least ``MERGE_COVER`` of its box inside A's. The row keeps
    its box (written as it is where no clean observation follows within the interpolation gap) and
    whether it was wanted; only ``observed`` changes.
    """
    by_frame: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for tid in tids:
        for f, r in by_id[tid].items():
            by_frame[f].append((tid, r.box))
    out = dict(by_id)
    for tid in tids:
        frames = by_id[tid]
        obs = np.array(sorted(f for f, r in frames.items() if r.observed), int)
        if len(obs) < 3:
            continue
        areas = area(np.stack([frames[int(f)].box for f in obs]))
        changed = {}
        for k, f in enumerate(obs):
            near = np.abs(obs - f) <= MERGE_WINDOW
            if areas[k] <= ratio * float(np.median(areas[near])):
                continue
            others = [b for t, b in by_frame[int(f)] if t != tid]
            if others and ioa_matrix(np.stack(others), frames[int(f)].box[None]).max() >= MERGE_COVER:
                r = frames[int(f)]
                changed[int(f)] = replace(r, observed=False, wanted=r.wanted or (backfill and r.observed))
        if changed:
            out[tid] = {**frames, **changed}
    return out


BORDER_MIN_INSIDE = 0.05   # a carried box stops when less of it than this is in view (Sprites-MOT tuning seeds)


def _border_rows(tid: int, observed: list[_Row], written: set[int], image_size: tuple[int, int],
                 max_frames: int, last_frame: int, fit: int = 4) -> list[_Row]:
    """Rows that carry a track on to the image border where it came in or went out.

    A track whose first (last) observed box touches the image border and whose fitted velocity
    there points into (out of) the view was entering (leaving): the detector misses the sliver of an
    object that is mostly outside, but ground truth counts it while any of it is in view. Its box is
    extrapolated at constant velocity (a least-squares line through ``fit`` observed centres), with
    the size of its whole-object boxes, for at most ``max_frames`` frames and while at least
    ``BORDER_MIN_INSIDE`` of it is in view and within the recorded frames (0 .. ``last_frame``);
    frames that already have a row are left alone.
    """
    rows: list[_Row] = []
    whole = [r.box for r in observed if not touches_border(r.box, image_size)]   # where it was seen whole
    for side in (-1, 1):                                   # -1: before the first observation, +1: after the last
        ends = observed[:fit] if side < 0 else observed[-fit:]
        edge = ends[0] if side < 0 else ends[-1]
        if len(ends) < 2 or not touches_border(edge.box, image_size):
            continue
        t = np.array([r.frame for r in ends], np.float64)
        boxes = np.stack([r.box for r in ends])
        centre, vel, size, _ = _fit(t, boxes, edge.frame, fit)
        if whole:                                          # the object's size where it was seen whole
            wh = np.stack(whole)[:, 2:] - np.stack(whole)[:, :2]
            size = np.median(wh[:len(wh) // 2 + 1] if side < 0 else wh[-(len(wh) // 2 + 1):], axis=0)
            c = _inner_edge_centres(boxes, size, image_size)       # the velocity of the edge nothing cuts
            centre, vel, _, _ = _fit(t, np.concatenate([c - size / 2, c + size / 2], 1), edge.frame, fit)
        prev_inside = inside_area(np.concatenate([centre - size / 2, centre + size / 2]), image_size)
        for k in range(1, max_frames + 1):
            f = edge.frame + side * k
            if not 0 <= f <= last_frame:
                break
            c = centre + vel * (side * k)
            box = np.concatenate([c - size / 2, c + size / 2])
            inside = inside_area(box, image_size)
            if inside < BORDER_MIN_INSIDE * float(np.prod(size)) or inside >= prev_inside:   # out, or not moving out
                break
            prev_inside = inside
            if f not in written:
                rows.append(_Row(f, tid, box, edge.conf, False, True))
    return rows


def _inner_edge_centres(boxes: np.ndarray, size: np.ndarray, image_size: tuple[int, int],
                        margin: float = 1.0) -> np.ndarray:
    """Centres (N, 2) of xyxy ``boxes`` placed by the edge the image border does not cut.

    A box cut on one side of an axis (the detector's sliver, or a live box completed to some other
    size) keeps only its inner edge as a measurement: the object of whole extent ``size`` (2,) lies
    on the outer side of it. Axes cut on neither or both sides keep the box's own centre.
    """
    out = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    for a in (0, 1):
        lo = boxes[:, a] <= margin
        hi = boxes[:, a + 2] >= image_size[a] - margin
        out[lo & ~hi, a] = boxes[lo & ~hi, a + 2] - size[a] / 2
        out[hi & ~lo, a] = boxes[hi & ~lo, a] + size[a] / 2
    return out


def _completed_at_border(frames: dict[int, _Row], obs: list[int], image_size: tuple[int, int],
                         margin: float = 1.0) -> dict[int, _Row]:
    """A track's rows with the boxes the image border cuts completed to the object's whole size.

    Live, a track that came in at the border has not been seen whole yet, so its first boxes are the
    visible slivers (the amodal completion needs a size it does not know). Offline its whole extent
    along each image axis is known from its nearest observed boxes that the border does not cut on
    that axis: a box cut on one side of an axis keeps its inner edge (the one inside the view) and
    takes the whole extent outwards; a box not cut on that axis but cut on the other one (a sliver
    the detector sized badly) takes the whole extent around its own centre. Boxes cut on both sides
    of an axis (an object larger than the view), or with no uncut box on that axis, stay as they are.
    """
    cut = {f: np.array([[r.box[a] <= margin, r.box[a + 2] >= image_size[a] - margin] for a in (0, 1)])
           for f, r in frames.items()}                                       # (axis, low/high side)
    uncut = [[f for f in obs if not cut[f][a].any()] for a in (0, 1)]
    out = dict(frames)
    for f, r in frames.items():
        if not cut[f].any():
            continue
        b, new = r.box, r.box.copy()
        for a in (0, 1):
            lo, hi = cut[f][a]
            if (lo and hi) or not uncut[a]:
                continue
            k = int(np.searchsorted(uncut[a], f))
            near = uncut[a][max(min(k - 2, len(uncut[a]) - 3), 0):max(k + 2, 3)]   # its 3-4 nearest
            whole = float(np.median([frames[g].box[a + 2] - frames[g].box[a] for g in near]))
            if b[a + 2] - b[a] >= whole:
                continue
            if lo:
                new[a] = b[a + 2] - whole
            elif hi:
                new[a + 2] = b[a] + whole
            else:
                c = 0.5 * (b[a] + b[a + 2])
                new[a], new[a + 2] = c - whole / 2, c + whole / 2
        out[f] = replace(r, box=new)
    return out


OCCLUDED_RATIO = 0.8      # an extent below this x the track's local whole extent counts as cut by an occluder
OCCLUDED_WINDOW = 30      # [frames] where the local whole extent and the whole boxes around a cut one are taken
# The same two where the depth map says which edges of a box a nearer surface borders (weights/tracker.md,
# session 16).
OCCLUDED_RATIO_SIDED = 0.95
OCCLUDED_WINDOW_SIDED = 90


def _completed_behind_occluders(frames: dict[int, _Row], obs: list[int], image_size: tuple[int, int] | None,
                                ratio: float = OCCLUDED_RATIO, window: int = OCCLUDED_WINDOW,
                                ratio_sided: float = OCCLUDED_RATIO_SIDED,
                                window_sided: int = OCCLUDED_WINDOW_SIDED) -> dict[int, _Row]:
    """A track's rows with the boxes that a nearer object cuts completed to the object's whole extent.

    The detector boxes what it sees, so a partly hidden object gets a box smaller than the object;
    ground truth is the whole object. Offline the track's whole boxes on both sides of the partial
    occlusion are known. On each axis where an observed box is smaller than ``ratio`` x the track's
    local whole extent (the 90th percentile of its extents within ``window`` frames), it takes the
    median extent of its nearest whole boxes, centred where the line between the whole boxes before
    and after it puts the object (with whole boxes on one side only: the line fitted to up to 4 of
    them), moved as little as needed for the whole box to contain the visible one. Boxes with fewer
    than 2 whole boxes within ``window`` frames on either side stay as they are. Where every
    observation has a depth, extents are compared and carried over as depth x extent (an object
    that comes nearer grows; it is not cut).

    Where an observation knows which of its edges border a nearer surface (``_Row.occluded``, from
    the depth map), only an axis with such an edge can be cut, the threshold and window are
    ``ratio_sided`` and ``window_sided``, and with one such edge on the axis the other edge, the
    object's own, stays where the detector put it.
    """
    if len(obs) < 3:
        return frames
    t = np.array(obs)
    boxes = np.stack([frames[f].box for f in obs])
    ext = boxes[:, 2:] - boxes[:, :2]                                  # (n, 2)
    z = np.array([frames[f].depth if frames[f].depth is not None else np.nan for f in obs], np.float64)
    # Image size ~ 1 / depth: with every depth known, extents are compared as z x size (in units of the
    # median depth) and converted back at the frame they are written to.
    scale = z / np.median(z) if np.all(np.isfinite(z) & (z > 0)) else np.ones(len(obs))
    ext = ext * scale[:, None]
    border = np.array([touches_border(b, image_size) for b in boxes])   # (False throughout without a size)
    out = dict(frames)
    sides = [frames[f].occluded for f in obs]
    known = np.array([o is not None for o in sides])
    win = np.where(known, window_sided, window)                        # (n,) per observation
    ref = np.stack([np.percentile(ext[np.abs(t - f) <= w], 90, axis=0) for f, w in zip(t, win)])
    occ = np.stack([o if o is not None else np.ones((2, 2), bool) for o in sides])   # (n, 2, 2); unknown: any
    cut = (ext < np.where(known, ratio_sided, ratio)[:, None] * ref) & ~border[:, None] & occ.any(axis=2)
    for a in (0, 1):
        whole = np.flatnonzero(~cut[:, a] & ~border)
        if len(whole) < 2:
            continue
        for k in np.flatnonzero(cut[:, a]):
            before, after = whole[whole < k], whole[whole > k]
            before = before[t[k] - t[before] <= win[k]]
            after = after[t[after] - t[k] <= win[k]]
            if len(before) and len(after):
                i, j = before[-1], after[0]
                w_ = np.median(ext[np.concatenate([before[-2:], after[:2]]), a]) / scale[k]
                ci, cj = 0.5 * (boxes[i, a] + boxes[i, a + 2]), 0.5 * (boxes[j, a] + boxes[j, a + 2])
                c = ci + (cj - ci) * (t[k] - t[i]) / (t[j] - t[i])
            elif len(before) >= 2 or len(after) >= 2:          # one side only: that side's line, extended
                side = before[-4:] if len(before) >= 2 else after[:4]
                w_ = np.median(ext[side, a]) / scale[k]
                cs = 0.5 * (boxes[side, a] + boxes[side, a + 2])
                v, c0 = np.polyfit(t[side].astype(float), cs, 1)
                c = c0 + v * t[k]
            else:
                continue
            b = out[int(t[k])].box
            c = float(np.clip(c, b[a + 2] - w_ / 2, b[a] + w_ / 2))   # the whole box contains the visible part
            if known[k] and occ[k, a, 0] != occ[k, a, 1]:
                # One edge is where the occluder ends: the other is the object's own and stays.
                c = b[a] + w_ / 2 if occ[k, a, 1] else b[a + 2] - w_ / 2
            new = b.copy()
            new[a], new[a + 2] = c - w_ / 2, c + w_ / 2
            out[int(t[k])] = replace(out[int(t[k])], box=new)
    return out


def _as_array(rows: list[_Row]) -> np.ndarray:
    if not rows:
        return np.zeros((0, 7))
    a = np.array([[r.frame + 1, r.track_id, r.box[0], r.box[1], r.box[2] - r.box[0], r.box[3] - r.box[1], r.conf]
                  for r in rows], np.float64)
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def _mean_direction(vectors: list[np.ndarray]) -> np.ndarray | None:
    """The unit mean of unit vectors (a piece's appearance), None when there are none."""
    if not vectors:
        return None
    v = np.stack(vectors).astype(np.float64)
    v = (v / np.linalg.norm(v, axis=1, keepdims=True).clip(1e-12)).mean(0)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _rows_as_tracks(rows: np.ndarray) -> dict[int, dict[int, _Row]]:
    """MOT rows (frame 1-based, id, x, y, w, h, conf) -> {id: {0-based frame: _Row}}, every row observed."""
    by_id: dict[int, dict[int, _Row]] = defaultdict(dict)
    for f, i, x, y, w, h, c in rows[:, :7]:
        by_id[int(i)][int(f) - 1] = _Row(int(f) - 1, int(i), np.array([x, y, x + w, y + h]), float(c), True, True)
    return by_id


def relink_rows(rows: np.ndarray, cfg: RelinkConfig | None = None,
                view_size: tuple[int, int] | None = None) -> np.ndarray:
    """Any tracker's MOT rows with its tracks re-linked across gaps (``relink``; every row counts as observed).

    ``view_size`` (width, height): pieces that start or end at its border are linked only as the
    tracker linked them (None: no border rule).
    """
    rows = np.asarray(rows, np.float64)
    if len(rows) == 0:
        return np.zeros((0, 7))
    cfg = cfg or RelinkConfig()
    by_id = _rows_as_tracks(rows)
    by_id, _ = _relinked(by_id, set(by_id), cfg, view_size)
    return _as_array([replace(r, track_id=tid) for tid, frames in by_id.items() for r in frames.values()])


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
            if 1 < b[0] - a[0] <= max_gap_frames + 1:
                fs, vals = _between(int(a[0]), a[2:7], int(b[0]), b[2:7])     # x, y, w, h, conf: linear in all
                for f, v in zip(fs, vals):
                    if image_size is None or _mostly_inside([v[0], v[1], v[0] + v[2], v[1] + v[3]], image_size):
                        new.append([f, tid, *v])
    out = np.vstack([rows] + [np.array(new)] if new else [rows])
    return out[np.lexsort((out[:, 1], out[:, 0]))]


# Offline defaults of `occtrack track` and `occtrack track-dets` (tuning seeds; weights/tracker.md, session 12).
DEFAULT_INTERPOLATE_S = 1.0
DEFAULT_BACKFILL = True
# Re-linking, on by default (tuning seeds; weights/tracker.md, session 14). Behind the detector the live
# tracker re-identifies by appearance, so the pieces are cut at gaps only (not at jumps: modal boxes of
# partly hidden objects jump), the live links weigh more, and the appearance of the pieces counts too.
DEFAULT_RELINK_BOXES_ONLY = True
DEFAULT_RELINK_DETECTOR = True
# The size and spread terms stay as in session 14 (one log-size sigma, an isotropic spread): session 21's split of the
# size into scale, tolerated more the longer the gap, and aspect, and its slower spread across the axis of motion lift
# boxes only, but not behind the detector (tuning 30-45, HOTA / IDF1: 71.5 / 85.0 -> 71.1 / 84.2 and 71.4 / 84.8).
# Session 25: the detections' colour (chromaticity) joins the cost (colour_sigma), cuts a track where it jumps
# (colour_jump), a live link that skips over a piece fitting both its ends loses its bonus (nested_gate), and
# with colour to tell objects apart the gate widens from 4 to 8: tuning 30-69 / 70-149 HOTA 75.8 / 74.5 -> 77.7 /
# 76.3, IDF1 88.5 / 88.3 -> 91.5 / 90.9 (weights/tracker.md, session 25).
RELINK_WITH_APPEARANCE = {"appearance_sigma": 0.1, "jump": 0.0, "online_bonus": 5.0, "gate": 8.0, "max_gap": 150,
                          "scale_growth": 0.0, "aspect_sigma": 0.25, "across_growth": 1.0, "contest_gate": 0.0,
                          "colour_sigma": 0.05, "colour_jump": 0.07, "nested_gate": 3.0}


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


def add_offline_arguments(p, relink_default: bool) -> None:
    """The offline row options shared by ``occtrack track`` and ``occtrack track-dets``."""
    import argparse

    p.add_argument("--interpolate", type=nonnegative_seconds, default=DEFAULT_INTERPOLATE_S, metavar="SECONDS",
                   help="offline gap filling: between two observations of a track at most this far apart, write "
                        "the linear interpolation of the two boxes (0 = off, the live node's rows; default "
                        f"{DEFAULT_INTERPOLATE_S})")
    p.add_argument("--backfill", action=argparse.BooleanOptionalAction, default=DEFAULT_BACKFILL,
                   help="also write a confirmed track's observed tentative frames and, under the surviving id, the "
                        "observations of tracks merged into it by re-identification (--no-backfill: off)")
    p.add_argument("--relink", action=argparse.BooleanOptionalAction, default=relink_default,
                   help="cut the tracks at gaps and join the pieces again from both sides of each gap, so that an "
                        "object that turned or stopped while hidden keeps its id (occtrack_ros/tracking/relink.py; "
                        f"--no-relink: the live tracker's ids; default {'on' if relink_default else 'off'})")


def recorder_from_args(args, fps: float, image_size, states, config: TrackerConfig,
                       appearance: bool = False) -> OfflineRecorder:
    """An OfflineRecorder for the options of ``add_offline_arguments`` (argparse has checked them).

    ``config``, the tracker's: where objects that leave the view may come back (``max_outside_frames``
    > 0; if not, re-linking never joins a piece that left the view to one that came into it), and its
    ``offline_*`` fields (border and occluder completion, merge repair, lead rows). ``appearance``: the
    detector gives embeddings (``add(..., embeddings)``): re-link with ``RELINK_WITH_APPEARANCE``.
    """
    relink = (RelinkConfig(border_links=config.max_outside_frames > 0,
                           **(RELINK_WITH_APPEARANCE if appearance else {})) if args.relink else None)
    return OfflineRecorder(image_size, int(round(args.interpolate * fps)), args.backfill, states, relink=relink,
                           border_frames=config.offline_border_frames,
                           occluder_completion=config.offline_occluder_completion,
                           merge_ratio=config.offline_merge_ratio, lead_frames=config.offline_lead_frames,
                           smooth_frames=config.offline_smooth_frames)


def default_recorder(config: TrackerConfig, image_size, appearance: bool = True) -> OfflineRecorder:
    """The ``OfflineRecorder`` of ``occtrack track`` (``appearance``) or ``occtrack track-dets`` at their defaults."""
    from argparse import Namespace

    defaults = Namespace(interpolate=DEFAULT_INTERPOLATE_S, backfill=DEFAULT_BACKFILL,
                         relink=DEFAULT_RELINK_DETECTOR if appearance else DEFAULT_RELINK_BOXES_ONLY)
    return recorder_from_args(defaults, config.fps, image_size, MOT_STATES, config, appearance=appearance)
