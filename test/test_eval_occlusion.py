"""Occlusion recovery rate and coasting error on hand-made cases."""
from __future__ import annotations

import numpy as np
import pytest

from occtrack_ros.evaluation.episodes import Episode, full_occlusion_episodes
from occtrack_ros.evaluation.occlusion import occlusion_stats


def one_object(vis_by_frame: list[float], x0: float = 10.0) -> np.ndarray:
    """Object 1 moving right 2 px/frame; a 'wall' object 2 elsewhere that stays visible."""
    rows = []
    for f, v in enumerate(vis_by_frame, start=1):
        rows.append([f, 1, x0 + 2 * f, 50.0, 20.0, 40.0, 1, 1, v])
        rows.append([f, 2, 200.0, 50.0, 20.0, 40.0, 1, 1, 1.0])
    return np.array(rows)


def track(gt: np.ndarray, obj: int, frames, tid: int, dx: float = 0.0) -> np.ndarray:
    g = gt[(gt[:, 1] == obj) & np.isin(gt[:, 0], list(frames))]
    out = np.column_stack([g[:, :6], np.ones(len(g))])
    out[:, 1] = tid
    out[:, 2] += dx
    return out


VIS = [1.0] * 10 + [0.0] * 6 + [1.0] * 9   # hidden in frames 11..16, back at 17


def test_episode_finder():
    gt = one_object([1.0] * 3 + [0.0] * 4 + [1.0] * 2 + VIS)
    assert full_occlusion_episodes(gt) == [Episode(1, 20, 25)]  # the 4-frame run is too short
    gap = one_object(VIS)
    gap = gap[~((gap[:, 1] == 1) & (gap[:, 0] == 13))]  # leaves the view in frame 13
    assert full_occlusion_episodes(gap) == []
    flagged = one_object(VIS)
    flagged[flagged[:, 1] == 1, 7] = 7  # a static person is not an evaluated object
    assert full_occlusion_episodes(flagged) == []


def test_recovered_with_same_id():
    gt = one_object(VIS)
    res = np.concatenate([track(gt, 1, range(1, 11), 7), track(gt, 1, range(17, 26), 7), track(gt, 2, range(1, 26), 3)])
    s = occlusion_stats(gt, res).summary()
    assert s["occlusion_episodes"] == 1 and s["occlusion_episodes_judged"] == 1
    assert s["occlusion_recovery"] == 1.0
    assert s["coasting_error_px"] is None and s["coasting_coverage"] == 0.0


def test_not_recovered_with_new_id():
    gt = one_object(VIS)
    res = np.concatenate([track(gt, 1, range(1, 11), 7), track(gt, 1, range(17, 26), 8), track(gt, 2, range(1, 26), 3)])
    s = occlusion_stats(gt, res).summary()
    assert s["occlusion_recovery"] == 0.0 and s["occlusion_recovery_tracked"] == 0.0


def test_recovery_window_and_late_match():
    gt = one_object(VIS)
    # Picked up again with the old id only at frame 20 (4th visible frame): outside the 3-frame window.
    late = np.concatenate([track(gt, 1, range(1, 11), 7), track(gt, 1, range(20, 26), 7)])
    assert occlusion_stats(gt, late).summary()["occlusion_recovery"] == 0.0
    # ... at frame 19 (3rd visible frame): inside it.
    ok = np.concatenate([track(gt, 1, range(1, 11), 7), track(gt, 1, range(19, 26), 7)])
    assert occlusion_stats(gt, ok).summary()["occlusion_recovery"] == 1.0


def test_never_tracked_counts_as_not_recovered_but_not_in_tracked_rate():
    gt = one_object(VIS)
    res = track(gt, 1, range(17, 26), 7)
    s = occlusion_stats(gt, res).summary()
    assert s["occlusion_recovery"] == 0.0 and s["occlusion_recovery_tracked"] is None


def test_episode_without_reappearance_is_not_judged():
    gt = one_object([1.0] * 10 + [0.0] * 6 + [0.3] * 12)  # only partly visible afterwards
    res = track(gt, 1, range(1, 11), 7)
    s = occlusion_stats(gt, res).summary()
    assert s["occlusion_episodes"] == 1 and s["occlusion_episodes_judged"] == 0 and s["occlusion_recovery"] is None


def test_coasting_error_is_centre_distance_of_pre_occlusion_id():
    gt = one_object(VIS)
    coast = track(gt, 1, range(11, 17), 7, dx=3.0)   # 3 px off while hidden
    coast[:3, 2] += 10.0                              # 13 px off in three frames: the median is 8
    other = track(gt, 1, range(11, 17), 9, dx=50.0)   # another id: not the pre-occlusion one, ignored
    res = np.concatenate([track(gt, 1, range(1, 11), 7), coast, other, track(gt, 1, range(17, 26), 7)])
    s = occlusion_stats(gt, res).summary()
    assert s["coasting_error_px"] == pytest.approx(8.0)
    assert s["coasting_coverage"] == pytest.approx(1.0)
    assert s["occlusion_recovery"] == 1.0


def test_why_an_episode_was_not_recovered():
    gt = one_object(VIS)
    wall = track(gt, 2, range(1, 26), 3)

    def failures(res):
        s = occlusion_stats(gt, res).summary()
        keys = ("no_pre_id", "unmatched", "new_id", "other_track")
        out = {k: s[f"occlusion_failed_{k}"] for k in keys}
        assert sum(out.values()) == s["occlusion_episodes_judged"] - s["occlusion_episodes_recovered"]
        return {k: v for k, v in out.items() if v}

    assert failures(np.concatenate([track(gt, 1, range(1, 11), 7), track(gt, 1, range(17, 26), 7), wall])) == {}
    assert failures(np.concatenate([track(gt, 1, range(17, 26), 7), wall])) == {"no_pre_id": 1}
    assert failures(np.concatenate([track(gt, 1, range(1, 11), 7), track(gt, 1, range(20, 26), 7), wall])) \
        == {"unmatched": 1}
    assert failures(np.concatenate([track(gt, 1, range(1, 11), 7), track(gt, 1, range(17, 26), 8), wall])) \
        == {"new_id": 1}
    # The wall's track 3 jumps onto the object when it comes back: another track took it.
    jump = np.concatenate([track(gt, 1, range(1, 11), 7), track(gt, 2, range(1, 17), 3),
                           track(gt, 1, range(17, 26), 3)])
    assert failures(jump) == {"other_track": 1}
