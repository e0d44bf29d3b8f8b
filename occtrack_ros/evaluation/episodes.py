"""Ground-truth full-occlusion episodes of the evaluated objects.

The definition lives in ``occtrack_ros.world.episodes.full_occlusion_episodes`` (shared with the
generator's tests): a maximal run of at least ``min_len`` consecutive frames in which the object
has a gt row (it is inside the view) with ``visibility == 0``; leaving the view or becoming
partly visible ends the run. Here it is applied to the rows MOTChallenge evaluates
(``flag == 1`` and ``class == 1``), so MOT17's static persons, vehicles and occluders have none.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from occtrack_ros.evaluation.mot_io import CLASS, FLAG, FRAME, ID, VIS


@dataclass(frozen=True)
class Episode:
    """One full-occlusion episode of a gt object; frames are 1-based (MOTChallenge) and inclusive."""

    object_id: int
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def evaluated_rows(gt: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows MOTChallenge evaluates: ``flag == 1`` and ``class == 1``."""
    return (gt[:, FLAG] == 1) & (gt[:, CLASS] == 1)


def full_occlusion_episodes(gt: np.ndarray, min_len: int = 5) -> list[Episode]:
    """Full-occlusion episodes in an ``(N, 9)`` gt array, sorted by (object, start)."""
    from occtrack_ros.world.episodes import full_occlusion_episodes as shared_definition

    gt = np.asarray(gt, np.float64)
    if gt.ndim != 2 or gt.shape[1] < 9:
        raise ValueError(f"gt must be (N, 9) frame,id,x,y,w,h,flag,class,visibility; got shape {gt.shape}")
    rows = gt[evaluated_rows(gt)]
    view = SimpleNamespace(frame=rows[:, FRAME].astype(int), track_id=rows[:, ID].astype(int), visibility=rows[:, VIS])
    # The shared function keeps the frame numbering it is given: 1-based here.
    return [Episode(int(i), int(s), int(e)) for i, s, e in shared_definition(view, min_len=min_len, max_visibility=0.0)]
