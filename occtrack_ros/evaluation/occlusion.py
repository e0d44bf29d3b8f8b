"""Occlusion metrics: occlusion recovery rate and coasting error.

Definitions (quoted in the README):

- **Matching.** In every frame, the evaluated ground-truth objects (``flag == 1``, ``class == 1``)
  that are at least partly visible (``visibility > 0``) are matched one-to-one to the result rows
  of that frame by the Hungarian algorithm on box IoU, accepting pairs with IoU >= 0.5 (the
  CLEAR/TrackEval threshold). A gt object is "matched with id k" in a frame when its partner row
  carries track id k.
- **Full-occlusion episode** (``episodes.full_occlusion_episodes``): at least 5 consecutive frames
  in which the object is inside the view (has a gt row) with ``visibility == 0``.
- **Pre-occlusion id** of an episode starting at frame s: the id the object was matched with in
  the last frame before s in which it was matched at all (no such frame: no pre-occlusion id).
- **Reappearance frame** f of an episode ending at frame e: the first frame in e+1 .. e+10 in which
  the object has a gt row with ``visibility >= 0.5``. Episodes without one (the object left the
  view or stayed mostly hidden) cannot be judged and are left out of the recovery rate.
- **Occlusion recovery rate** = recovered / judged episodes. An episode is judged when it has a
  reappearance frame and the object was visible (``visibility > 0``) in some frame before the
  episode, so that a perfect tracker could have known it. It is recovered when the object's first
  match in frames f .. f+2 carries the pre-occlusion id (no match in that window, a different id,
  or no pre-occlusion id at all: not recovered). Ground truth scored against itself gets 1.
  ``occlusion_recovery_tracked`` is the same ratio over the judged episodes that have a
  pre-occlusion id, i.e. it does not charge the tracker for objects it never picked up.
- **Coasting error** = median, over all result rows whose id equals an episode's pre-occlusion id
  and whose frame lies inside that episode, of the pixel distance between the row's box centre
  and the gt amodal box centre in that frame. ``coasting_coverage`` = the fraction of episode
  frames (of episodes with a pre-occlusion id) that have such a row. Trackers that do not report
  boxes for unobserved tracks (SORT, ByteTrack, OC-SORT as packaged) have no coasting rows:
  coasting error undefined (null), coverage 0.
- **Why a judged episode was not recovered** (``occlusion_failed_*`` counts, summing to judged minus
  recovered): ``no_pre_id``, the object was never matched before the episode; ``unmatched``, it
  was not matched in frames f .. f+2; ``new_id``, its first match there carries an id that first
  appears in the results after the episode began (the object came back as a new track);
  ``other_track``, that id was already in use before the episode (another track took the object:
  a swap, or a track that jumped onto it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from occtrack_ros.evaluation.boxes import centres_xywh, iou_xywh, match
from occtrack_ros.evaluation.episodes import evaluated_rows, full_occlusion_episodes
from occtrack_ros.evaluation.mot_io import FRAME, ID, VIS, H, X

MIN_EPISODE_LEN = 5       # frames of visibility 0 that make an episode
REAPPEAR_WINDOW = 10      # frames after the episode in which the object must show up again
REAPPEAR_VISIBILITY = 0.5  # visibility that counts as "visible again"
RECOVERY_WINDOW = 3       # frames from the reappearance frame in which the first match is taken
IOU_THRESHOLD = 0.5
_NONE = np.zeros(0)


@dataclass
class OcclusionStats:
    """Counts behind the occlusion metrics; ``+`` pools two sequences."""

    episodes: int = 0          # all full-occlusion episodes
    judged: int = 0            # with a reappearance frame
    judged_tracked: int = 0    # judged and with a pre-occlusion id
    recovered: int = 0
    coast_frames: int = 0      # episode frames of episodes with a pre-occlusion id
    coast_rows: int = 0        # of those, frames with a row carrying the pre-occlusion id
    coast_dists: list[float] = field(default_factory=list)
    failed_unmatched: int = 0  # judged, with a pre-occlusion id, not matched in the recovery window
    failed_new_id: int = 0     # ... matched with an id first seen after the episode began
    failed_other_track: int = 0  # ... matched with an id already in use before the episode

    def __add__(self, other: "OcclusionStats") -> "OcclusionStats":
        return OcclusionStats(
            self.episodes + other.episodes, self.judged + other.judged,
            self.judged_tracked + other.judged_tracked, self.recovered + other.recovered,
            self.coast_frames + other.coast_frames, self.coast_rows + other.coast_rows,
            self.coast_dists + other.coast_dists, self.failed_unmatched + other.failed_unmatched,
            self.failed_new_id + other.failed_new_id, self.failed_other_track + other.failed_other_track,
        )

    def summary(self) -> dict:
        """Metrics (None where undefined) plus the counts they come from."""
        return {
            "occlusion_recovery": self.recovered / self.judged if self.judged else None,
            "occlusion_recovery_tracked": self.recovered / self.judged_tracked if self.judged_tracked else None,
            "coasting_error_px": float(np.median(self.coast_dists)) if self.coast_dists else None,
            "coasting_coverage": float(self.coast_rows / self.coast_frames) if self.coast_frames else None,
            "occlusion_episodes": self.episodes,
            "occlusion_episodes_judged": self.judged,
            "occlusion_episodes_recovered": self.recovered,
            "occlusion_failed_no_pre_id": self.judged - self.judged_tracked,
            "occlusion_failed_unmatched": self.failed_unmatched,
            "occlusion_failed_new_id": self.failed_new_id,
            "occlusion_failed_other_track": self.failed_other_track,
        }


def frame_matches(gt: np.ndarray, res: np.ndarray, iou_threshold: float = IOU_THRESHOLD) -> dict[tuple[int, int], int]:
    """``{(frame, gt_id): result_id}`` for visible evaluated gt objects matched at IoU >= threshold."""
    g = gt[evaluated_rows(gt) & (gt[:, VIS] > 0)]
    out: dict[tuple[int, int], int] = {}
    if len(g) == 0 or len(res) == 0:
        return out
    g_by_frame = _split_by_frame(g)
    r_by_frame = _split_by_frame(res)
    for f, gf in g_by_frame.items():
        rf = r_by_frame.get(f)
        if rf is None:
            continue
        rows, cols = match(iou_xywh(gf[:, X:H + 1], rf[:, X:H + 1]), iou_threshold)
        for i, j in zip(rows, cols):
            out[(f, int(gf[i, ID]))] = int(rf[j, ID])
    return out


def frames_by_object(matches: dict[tuple[int, int], int]) -> dict[int, list[int]]:
    """``frame_matches`` output -> ``{gt_id: sorted frames in which it was matched}``."""
    by_object: dict[int, list[int]] = {}
    for f, oid in matches:
        by_object.setdefault(oid, []).append(f)
    for frames in by_object.values():
        frames.sort()
    return by_object


def _split_by_frame(rows: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(rows[:, FRAME], kind="stable")
    rows = rows[order]
    frames = rows[:, FRAME].astype(int)
    cuts = np.flatnonzero(np.diff(frames)) + 1
    return {int(chunk[0, FRAME]): chunk for chunk in np.split(rows, cuts)}


def occlusion_stats(gt: np.ndarray, res: np.ndarray, min_len: int = MIN_EPISODE_LEN) -> OcclusionStats:
    """Occlusion counts for one sequence: gt ``(N, 9)``, results ``(M, >=6)`` (frame, id, x, y, w, h, ...)."""
    gt = np.asarray(gt, np.float64)
    res = np.asarray(res, np.float64)
    if res.size == 0:
        res = np.zeros((0, 7), np.float64)
    assert gt.ndim == 2 and gt.shape[1] >= 9, f"gt must be (N, 9), got {gt.shape}"
    assert res.shape[1] >= 6, f"results must be (M, >=6), got {res.shape}"
    stats = OcclusionStats()
    episodes = full_occlusion_episodes(gt, min_len=min_len)
    stats.episodes = len(episodes)
    if not episodes:
        return stats
    matches = frame_matches(gt, res)
    by_object = frames_by_object(matches)
    ev = gt[evaluated_rows(gt)]
    gt_row = {(int(r[FRAME]), int(r[ID])): r for r in ev}
    vis_frames = {int(oid): ev[(ev[:, ID] == oid) & (ev[:, VIS] > 0), FRAME] for oid in np.unique(ev[:, ID])}
    res_by_frame_id = {(int(r[FRAME]), int(r[ID])): r for r in res}
    first_frame_of_id: dict[int, int] = {}
    for f, i in zip(res[:, FRAME].astype(int), res[:, ID].astype(int)):
        first_frame_of_id[i] = min(f, first_frame_of_id.get(i, f))

    for ep in episodes:
        matched_frames = by_object.get(ep.object_id, [])
        before = [f for f in matched_frames if f < ep.start]
        pre_id = matches[(before[-1], ep.object_id)] if before else None

        if pre_id is not None:
            stats.coast_frames += ep.length
            for f in range(ep.start, ep.end + 1):
                r = res_by_frame_id.get((f, pre_id))
                if r is None:
                    continue
                stats.coast_rows += 1
                true_c = centres_xywh(gt_row[(f, ep.object_id)][X:H + 1])[0]
                stats.coast_dists.append(float(np.linalg.norm(centres_xywh(r[X:H + 1])[0] - true_c)))

        reappear = next(
            (f for f in range(ep.end + 1, ep.end + REAPPEAR_WINDOW + 1)
             if (f, ep.object_id) in gt_row and gt_row[(f, ep.object_id)][VIS] >= REAPPEAR_VISIBILITY),
            None,
        )
        seen_before = bool((vis_frames.get(ep.object_id, _NONE) < ep.start).any())
        if reappear is None or not seen_before:
            continue
        stats.judged += 1
        if pre_id is None:
            continue
        stats.judged_tracked += 1
        first = next((f for f in matched_frames if reappear <= f < reappear + RECOVERY_WINDOW), None)
        if first is None:
            stats.failed_unmatched += 1
        elif matches[(first, ep.object_id)] == pre_id:
            stats.recovered += 1
        elif first_frame_of_id[matches[(first, ep.object_id)]] >= ep.start:
            stats.failed_new_id += 1
        else:
            stats.failed_other_track += 1
    return stats
