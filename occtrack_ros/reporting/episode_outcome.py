"""What happened to each ground-truth full-occlusion episode, with the evaluation's own definitions.

Uses ``occtrack_ros.evaluation.occlusion`` (matching, reappearance and recovery windows) per
episode instead of pooled counts, so a figure can show the episode the metric counted: the number
of recovered outcomes here equals ``occlusion_stats(gt, res).recovered``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occtrack_ros.evaluation.episodes import Episode, evaluated_rows, full_occlusion_episodes
from occtrack_ros.evaluation.mot_io import FRAME, ID, VIS
from occtrack_ros.evaluation.occlusion import (
    MIN_EPISODE_LEN,
    REAPPEAR_VISIBILITY,
    REAPPEAR_WINDOW,
    RECOVERY_WINDOW,
    frame_matches,
    frames_by_object,
)


@dataclass(frozen=True)
class EpisodeOutcome:
    """One episode (1-based inclusive frames) and the tracker's ids around it."""

    episode: Episode
    pre_id: int | None       # id matched to the object last before the episode
    pre_frame: int | None    # the frame of that match
    reappear: int | None     # first frame after the episode with visibility >= 0.5 (within the window)
    post_id: int | None      # id of the object's first match in the recovery window
    post_frame: int | None
    judged: bool             # counted by the recovery rate (reappears, was visible before)

    @property
    def recovered(self) -> bool:
        return self.judged and self.pre_id is not None and self.post_id == self.pre_id


def episode_outcomes(gt: np.ndarray, res: np.ndarray, min_len: int = MIN_EPISODE_LEN) -> list[EpisodeOutcome]:
    """Outcome of every full-occlusion episode of ``(N, 9)`` gt for ``(M, >=6)`` tracker rows."""
    gt = np.asarray(gt, np.float64)
    res = np.asarray(res, np.float64)
    if res.size == 0:
        res = np.zeros((0, 7), np.float64)
    assert gt.ndim == 2 and gt.shape[1] >= 9, f"gt must be (N, 9), got {gt.shape}"
    assert res.ndim == 2 and res.shape[1] >= 6, f"results must be (M, >=6), got {res.shape}"
    matches = frame_matches(gt, res)
    by_object = frames_by_object(matches)
    ev = gt[evaluated_rows(gt)]
    vis = {(int(r[FRAME]), int(r[ID])): float(r[VIS]) for r in ev}
    out = []
    for ep in full_occlusion_episodes(gt, min_len=min_len):
        matched = by_object.get(ep.object_id, [])
        before = [f for f in matched if f < ep.start]
        pre_frame = before[-1] if before else None
        pre_id = matches[(pre_frame, ep.object_id)] if pre_frame is not None else None
        reappear = next((f for f in range(ep.end + 1, ep.end + REAPPEAR_WINDOW + 1)
                         if vis.get((f, ep.object_id), -1.0) >= REAPPEAR_VISIBILITY), None)
        seen_before = any(v > 0 and oid == ep.object_id and f < ep.start for (f, oid), v in vis.items())
        post_frame = post_id = None
        if reappear is not None:
            post_frame = next((f for f in matched if reappear <= f < reappear + RECOVERY_WINDOW), None)
            post_id = matches[(post_frame, ep.object_id)] if post_frame is not None else None
        out.append(EpisodeOutcome(ep, pre_id, pre_frame, reappear, post_id, post_frame,
                                  judged=reappear is not None and seen_before))
    return out


def longest_recovered(outcomes: list[EpisodeOutcome]) -> EpisodeOutcome | None:
    """The longest recovered episode (earliest on ties), else the longest judged one, else None."""
    for pool in ([o for o in outcomes if o.recovered], [o for o in outcomes if o.judged]):
        if pool:
            return max(pool, key=lambda o: (o.episode.length, -o.episode.start))
    return None
