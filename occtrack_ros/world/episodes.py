"""Full-occlusion episodes: the one definition shared by the generator's tests and the evaluation.

An episode is a maximal run of consecutive frames in which an object is inside the view (it
has a ground-truth row) but has visibility 0, lasting at least ``min_len`` frames. A frame
where the object leaves the view ends the run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _rows(gt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, id, visibility) arrays from a GroundTruth or a sequence directory / gt.txt path."""
    if isinstance(gt, (str, Path)):
        from occtrack_ros.data.sequence import load_gt

        gt = load_gt(gt)
    return np.asarray(gt.frame), np.asarray(gt.track_id), np.asarray(gt.visibility)


def full_occlusion_episodes(gt, min_len: int = 5, max_visibility: float = 0.0) -> list[tuple[int, int, int]]:
    """Return ``(id, start_frame, end_frame)`` (inclusive, in the gt's 0-based frame indices).

    ``gt``: a :class:`occtrack_ros.data.sequence.GroundTruth` (or any object with aligned
    ``frame``, ``track_id``, ``visibility`` arrays; frames are returned in its numbering), or a
    sequence directory or gt.txt path. A frame counts as fully occluded when its visibility is <= ``max_visibility``.
    Sorted by id, then start frame.
    """
    if min_len < 1:
        raise ValueError(f"min_len={min_len} must be >= 1")
    frames, ids, vis = _rows(gt)
    episodes: list[tuple[int, int, int]] = []
    for object_id in np.unique(ids):
        sel = ids == object_id
        f = frames[sel]
        order = np.argsort(f, kind="stable")
        f, hidden = f[order], vis[sel][order] <= max_visibility
        start = None
        for k in range(len(f) + 1):
            continues = k < len(f) and hidden[k] and start is not None and f[k] == f[k - 1] + 1
            if start is not None and not continues:
                if f[k - 1] - start + 1 >= min_len:
                    episodes.append((int(object_id), int(start), int(f[k - 1])))
                start = None
            if k < len(f) and hidden[k] and start is None:
                start = int(f[k])
    return episodes
