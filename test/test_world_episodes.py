"""The shared definition of a full-occlusion episode, on hand-made ground truth."""
from __future__ import annotations

import numpy as np
import pytest

from occtrack_ros.data.sequence import GroundTruth
from occtrack_ros.world.episodes import full_occlusion_episodes


def _gt(rows):
    rows = np.asarray(rows, dtype=np.float64)  # frame (0-based), id, visibility
    return GroundTruth(frame=rows[:, 0].astype(int), track_id=rows[:, 1].astype(int),
                       boxes=np.zeros((len(rows), 4), np.float32), visibility=rows[:, 2].astype(np.float32),
                       num_frames=int(rows[:, 0].max()) + 1)


def test_runs_are_split_by_visibility_and_by_leaving_the_view():
    rows = [(f, 1, 0.0) for f in range(0, 6)] + [(6, 1, 0.4)] + [(f, 1, 0.0) for f in range(7, 11)]
    rows += [(f, 2, 0.0) for f in range(0, 4)] + [(f, 2, 0.0) for f in range(5, 12)]  # frame 4: out of view
    rows += [(f, 3, 0.5) for f in range(0, 12)]
    episodes = full_occlusion_episodes(_gt(rows), min_len=5)
    assert episodes == [(1, 0, 5), (2, 5, 11)]
    assert full_occlusion_episodes(_gt(rows), min_len=4) == [(1, 0, 5), (1, 7, 10), (2, 0, 3), (2, 5, 11)]


def test_episode_at_sequence_end_and_bad_min_len():
    rows = [(f, 4, 1.0) for f in range(0, 3)] + [(f, 4, 0.0) for f in range(3, 9)]
    assert full_occlusion_episodes(_gt(rows)) == [(4, 3, 8)]
    with pytest.raises(ValueError, match="min_len=0"):
        full_occlusion_episodes(_gt(rows), min_len=0)
