"""Reporting figures from a tiny synthetic sequence and hand-written track records.

One object is fully hidden in frames 10-19 and its track (id 7) coasts through it; a second
object is hidden in frames 5-9 and comes back under a new id. The figures must pick the first
episode, draw the ghost while it is hidden, and plot the states the records carry.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from occtrack_ros.evaluation.occlusion import occlusion_stats
from occtrack_ros.reporting.contact_sheet import CAPTION_HEIGHT, TITLE_HEIGHT, draw_tracks, write_contact_sheet
from occtrack_ros.reporting.episode_outcome import episode_outcomes, longest_recovered
from occtrack_ros.reporting.records import (
    ABSENT,
    LOST,
    OCCLUDED,
    VISIBLE,
    frames_of,
    mot_rows,
    state_timeline,
    tracks_by_frame,
)
from occtrack_ros.reporting.state_plot import COLORS, plot_states, runs
from occtrack_ros.tracking.mot_files import MOT_STATES_WITH_OCCLUDED
from occtrack_ros.types import TrackState

F = 30
BOX_A = [20.0, 20.0, 16.0, 12.0]   # x, y, w, h
BOX_B = [4.0, 40.0, 10.0, 10.0]
STAMP0 = 1_700_000_000 * 10**9


def _gt() -> np.ndarray:
    rows = []
    for f in range(1, F + 1):
        vis_a = 0.0 if 10 <= f <= 19 else 1.0
        rows.append([f, 1, *BOX_A, 1, 1, vis_a])
        if f <= 20:
            vis_b = 0.0 if 5 <= f <= 9 else 1.0
            rows.append([f, 2, *BOX_B, 1, 1, vis_b])
    return np.array(rows, np.float64)


def _records() -> list[dict]:
    recs = []
    for f in range(1, F + 1):
        objs = [{"id": 7, "state": int(TrackState.OCCLUDED if 10 <= f <= 19 else TrackState.CONFIRMED),
                 "bbox": BOX_A, "existence_probability": 0.9}]
        if f <= 4:
            objs.append({"id": 3, "state": int(TrackState.CONFIRMED), "bbox": BOX_B, "existence_probability": 0.8})
        elif f == 5:
            objs.append({"id": 3, "state": int(TrackState.LOST), "bbox": BOX_B, "existence_probability": 0.1})
        elif 10 <= f <= 20:
            state = TrackState.TENTATIVE if f == 10 else TrackState.CONFIRMED
            objs.append({"id": 9, "state": int(state), "bbox": BOX_B, "existence_probability": 0.8})
        recs.append({"topic": "tracks", "stamp_ns": STAMP0 + (f - 1) * 10**8, "frame_id": "odom", "objects": objs})
    return recs


@pytest.fixture(scope="module")
def data():
    recs = _records()
    stamps = [STAMP0 + i * 10**8 for i in range(F)]
    frames = frames_of(recs, stamps)
    rows = mot_rows(recs, frames, MOT_STATES_WITH_OCCLUDED)
    return {"gt": _gt(), "records": recs, "frames": frames, "rows": rows,
            "per_frame": tracks_by_frame(recs, frames, F)}


def test_records_to_mot_rows(data):
    rows = data["rows"]
    assert data["frames"] == list(range(F))
    # Confirmed + occluded only: id 7 in all 30 frames, id 3 in frames 1-4, id 9 in frames 11-20.
    assert len(rows) == 30 + 4 + 10
    observed = mot_rows(data["records"], data["frames"])                  # the default: CONFIRMED rows only
    assert 0 < len(observed) < len(rows) and set(observed[:, 1].astype(int)) <= {3, 7, 9}
    assert set(rows[rows[:, 1] == 7, 0].astype(int)) == set(range(1, F + 1))
    assert set(rows[rows[:, 1] == 9, 0].astype(int)) == set(range(11, 21))
    np.testing.assert_allclose(rows[0, 2:6], BOX_A)


def test_unknown_stamp_is_named(data):
    with pytest.raises(ValueError, match="123"):
        frames_of([{"stamp_ns": 123, "objects": []}], [STAMP0])


def test_episode_outcomes_follow_the_metric(data):
    outcomes = episode_outcomes(data["gt"], data["rows"])
    by_obj = {o.episode.object_id: o for o in outcomes}
    a, b = by_obj[1], by_obj[2]
    assert (a.episode.start, a.episode.end, a.pre_id, a.pre_frame, a.reappear, a.post_id) == (10, 19, 7, 9, 20, 7)
    assert a.recovered
    assert (b.episode.start, b.episode.end, b.pre_id, b.post_id) == (5, 9, 3, 9)
    assert b.judged and not b.recovered
    assert sum(o.recovered for o in outcomes) == occlusion_stats(data["gt"], data["rows"]).recovered == 1
    assert longest_recovered(outcomes) is a
    assert longest_recovered([b]) is b                          # nothing recovered: longest judged
    assert longest_recovered([]) is None


def test_ghost_is_drawn_only_for_occluded_tracks():
    image = np.full((64, 64, 3), 128, np.uint8)
    seen = draw_tracks(image, [{"id": 1, "state": 1, "bbox": [10, 10, 20, 20]}], scale=2)
    ghost = draw_tracks(image, [{"id": 1, "state": 2, "bbox": [10, 10, 20, 20]}], scale=2)
    lost = draw_tracks(image, [{"id": 1, "state": 3, "bbox": [10, 10, 20, 20]}], scale=2)
    assert ghost.shape == (128, 128, 3)
    inside = (slice(30, 50), slice(30, 50))                     # inside the box, away from edges and label
    assert np.abs(ghost[inside].astype(int) - 128).mean() > 10  # translucent fill
    assert (seen[inside] == 128).all()                          # observed: outline only
    assert (lost == 128).all()                                  # a track's final LOST message is not drawn
    assert (seen[100:, :] == 128).all() and (ghost[100:, :] == 128).all()


def test_contact_sheet_tiles_the_recovered_episode(tmp_path, data):
    outcome = longest_recovered(episode_outcomes(data["gt"], data["rows"]))
    image = np.full((64, 64, 3), 128, np.uint8)
    sheet = write_contact_sheet(tmp_path / "sheet.png", outcome, image_of=lambda f: image,
                                objects_of=lambda f: data["per_frame"][f - 1], visibility_of=lambda f: 0.0,
                                inside=4, scale=3, columns=3)
    assert sheet.track_id == 7
    assert sheet.frames[0] == 9 and sheet.frames[-1] == 20
    hidden = sheet.frames[1:-1]
    assert len(hidden) == 4 and hidden[0] == 10 and hidden[-1] == 19
    assert all(10 <= f <= 19 for f in hidden)
    png = cv2.imread(str(sheet.path))
    tile_h, tile_w = 64 * 3 + CAPTION_HEIGHT, 64 * 3
    assert png.shape == (TITLE_HEIGHT + 2 * (tile_h + 4), 3 * (tile_w + 4), 3)
    # Tile 2 (frame 10, hidden): the ghost of id 7 tints the inside of its box.
    y0, x0 = TITLE_HEIGHT, tile_w + 4
    box = png[y0 + 3 * 24:y0 + 3 * 30, x0 + 3 * 23:x0 + 3 * 33]
    assert np.abs(box.astype(int) - 128).mean() > 10
    # Tile 1 (frame 9, seen): no fill there.
    assert (png[y0 + 3 * 24:y0 + 3 * 30, 3 * 23:3 * 33] == 128).all()


def test_contact_sheet_starts_at_the_last_observed_frame(tmp_path, data):
    outcome = longest_recovered(episode_outcomes(data["gt"], data["rows"]))
    per_frame = [list(objs) for objs in data["per_frame"]]
    for f in (7, 8, 9):   # the track coasts before the gt episode: the sheet starts where it was last seen
        per_frame[f - 1] = [dict(o, state=int(TrackState.OCCLUDED)) if o["id"] == 7 else o for o in per_frame[f - 1]]
    image = np.full((64, 64, 3), 128, np.uint8)
    sheet = write_contact_sheet(tmp_path / "sheet.png", outcome, image_of=lambda f: image,
                                objects_of=lambda f: per_frame[f - 1], visibility_of=lambda f: 0.0)
    assert sheet.frames[0] == 6 and sheet.frames[-1] == 20


def test_state_timeline_matches_the_records(data):
    ids, tl = state_timeline(data["per_frame"])
    assert ids == [3, 7, 9]
    assert tl.shape == (3, F)
    t3, t7, t9 = tl
    assert (t7[9:19] == OCCLUDED).all() and (t7[:9] == VISIBLE).all() and (t7[19:] == VISIBLE).all()
    assert (t3[:4] == VISIBLE).all() and t3[4] == LOST and (t3[5:] == ABSENT).all()
    assert (t9[:9] == ABSENT).all() and (t9[9:20] == VISIBLE).all() and (t9[20:] == ABSENT).all()
    assert runs(t7) == [(VISIBLE, 0, 9), (OCCLUDED, 9, 10), (VISIBLE, 19, 11)]


def _has_color(png: np.ndarray, hex_color: str) -> bool:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(png[..., ::-1].astype(int) - rgb).sum(axis=2) < 12).sum() > 50)


def test_state_plot_shows_the_states_it_is_given(tmp_path, data):
    ids, tl = state_timeline(data["per_frame"])
    path = plot_states(tmp_path / "states.png", ids, tl, title="test", highlight=(7, 10, 19))
    png = cv2.imread(str(path))
    assert png is not None and png.shape[0] > 100
    assert _has_color(png, COLORS[OCCLUDED]) and _has_color(png, COLORS[VISIBLE])
    # Without occluded frames there is no occluded colour: the plot follows the data.
    seen_only = np.where(tl == OCCLUDED, VISIBLE, tl)
    png2 = cv2.imread(str(plot_states(tmp_path / "seen.png", ids, seen_only)))
    assert not _has_color(png2, COLORS[OCCLUDED]) and _has_color(png2, COLORS[VISIBLE])
    with pytest.raises(AssertionError, match="timeline"):
        plot_states(tmp_path / "bad.png", ids[:2], tl)
