"""Ground-truth full-occlusion episodes.

An episode is a maximal run of at least ``min_len`` consecutive frames in which one evaluated
ground-truth object (``flag == 1`` and ``class == 1``) has a gt row (it is inside the view) with
``visibility == 0`` (fully hidden). A missing row (the object left the view) or a frame with
``visibility > 0`` ends the run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occtrack_ros.evaluation.mot_io import CLASS, FLAG, FRAME, ID, VIS


@dataclass(frozen=True)
class Episode:
    """One full-occlusion episode of a gt object; frames are 1-based and inclusive."""

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
    gt = np.asarray(gt, np.float64)
    if gt.ndim != 2 or gt.shape[1] < 9:
        raise ValueError(f"gt must be (N, 9) frame,id,x,y,w,h,flag,class,visibility; got shape {gt.shape}")
    if min_len < 1:
        raise ValueError(f"min_len must be >= 1, got {min_len}")
    rows = gt[evaluated_rows(gt)]
    episodes: list[Episode] = []
    for oid in np.unique(rows[:, ID]):
        r = rows[rows[:, ID] == oid]
        r = r[np.argsort(r[:, FRAME], kind="stable")]
        frames = r[:, FRAME].astype(int)
        hidden = r[:, VIS] <= 0.0
        start = prev = None
        for f, h in zip(frames, hidden):
            if h and start is not None and f == prev + 1:
                prev = f
                continue
            if start is not None and prev - start + 1 >= min_len:
                episodes.append(Episode(int(oid), int(start), int(prev)))
            start, prev = (f, f) if h else (None, None)
        if start is not None and prev - start + 1 >= min_len:
            episodes.append(Episode(int(oid), int(start), int(prev)))
    return episodes
