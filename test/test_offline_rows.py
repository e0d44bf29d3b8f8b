"""Offline result rows (occtrack_ros/tracking/offline.py): gap interpolation, backfill, merged tracks."""
from __future__ import annotations

import numpy as np
import pytest

from occtrack_ros.tracking import TrackerConfig, make_tracker
from occtrack_ros.tracking.mot_files import result_rows
from occtrack_ros.tracking.offline import OfflineRecorder, interpolate_rows
from occtrack_ros.tracking.tracker import detection_occluder_sides
from occtrack_ros.types import CameraIntrinsics, Detections, Frame

INTR = CameraIntrinsics.default_for(640, 480)
BLANK = np.zeros((0, 0, 3), np.uint8)


def frame(i: int) -> Frame:
    return Frame(image=BLANK, stamp_ns=int(i * 1e8), index=i, intrinsics=INTR)


def box(i: int) -> list[float]:
    return [100 + 4 * i, 200, 130 + 4 * i, 240]     # constant velocity, well inside the 640x480 image


def walk_with_gap(hidden: range, n: int = 50, **rec_kw):
    """One object, boxes only, at 10 fps; missed (in plain view) during ``hidden``. Returns the recorder
    and the live rows that `mot_files.result_rows` writes frame by frame."""
    tracker = make_tracker(TrackerConfig(fps=10.0))
    rec, live = OfflineRecorder((640, 480), **rec_kw), []
    for i in range(n):
        out = tracker.step(Detections(boxes=np.array([] if i in hidden else [box(i)], np.float32).reshape(-1, 4),
                                      scores=np.ones(0 if i in hidden else 1)), frame(i))
        rec.add(i, out)
        live += result_rows(i, out.tracks, (640, 480))
    return rec, live


def by_frame(rows: np.ndarray) -> dict[int, np.ndarray]:
    return {int(r[0]) - 1: r for r in rows}


def test_off_is_the_live_rows():
    rec, live = walk_with_gap(range(20, 30), max_gap_frames=0, backfill=False)
    assert rec.lines() == live


def test_gap_is_filled_by_interpolation_up_to_max_gap():
    rec, live = walk_with_gap(range(20, 30), max_gap_frames=10, backfill=False)
    rows = rec.rows()
    assert len(np.unique(rows[:, 1])) == 1, "one object, one id"
    got = by_frame(rows)
    live_frames = {int(line.split(",")[0]) - 1 for line in live}
    assert not live_frames & set(range(21, 30)), "the live rule does not write a track missed in plain view"
    for f in range(20, 30):
        assert f in got, f"frame {f} of the gap not filled"
        x, y, w, h = got[f][2:6]
        np.testing.assert_allclose([x, y, x + w, y + h], box(f), atol=0.5)   # linear motion (filter lag < 0.5 px)
    short, _ = walk_with_gap(range(20, 30), max_gap_frames=9, backfill=False)
    assert not set(range(21, 29)) & set(by_frame(short.rows())), "a 10-frame gap filled with max_gap_frames=9"


def test_backfill_writes_the_tentative_frames_of_a_confirmed_track():
    without, _ = walk_with_gap(range(0), n=20, backfill=False)
    with_bf, _ = walk_with_gap(range(0), n=20, backfill=True)
    first = int(without.rows()[:, 0].min()) - 1
    n_init = TrackerConfig().n_init
    assert first == n_init - 1, "live rows start when the track is confirmed"
    assert sorted(by_frame(with_bf.rows())) == list(range(20))
    assert len(np.unique(with_bf.rows()[:, 1])) == 1


def test_a_false_positive_never_confirmed_is_not_written():
    tracker = make_tracker(TrackerConfig(fps=10.0))
    rec = OfflineRecorder((640, 480), max_gap_frames=10, backfill=True)
    for i in range(20):
        b = [box(i)] + ([[500, 50, 520, 80]] if i == 5 else [])       # a one-frame clutter box
        rec.add(i, tracker.step(Detections(boxes=np.array(b, np.float32), scores=np.ones(len(b))), frame(i)))
    rows = rec.rows()
    assert len(np.unique(rows[:, 1])) == 1 and not (rows[:, 2] > 400).any()


def test_observations_of_a_track_taken_over_are_written_under_the_surviving_id():
    # A walks right, is hidden and comes back behind the occluder short of where constant velocity puts it:
    # a new track starts there and, once it is confirmed, A's hidden track takes it over (tracker.py
    # _reidentify_confirmed). The new track's first frames were written under its own id, or not at all.
    cfg = TrackerConfig(fps=10.0, reid_on_confirm=True, reappear_sigma=0.3, reappear_sigma_growth=0.0)
    tracker = make_tracker(cfg)
    rec = OfflineRecorder(None, max_gap_frames=0, backfill=True)
    merges = []
    for i in range(70):
        boxes = [[100 + 5 * i, 200, 130 + 5 * i, 240]] if i <= 29 else []
        boxes += [[222, 200, 252, 240]] if i >= 55 else []
        out = tracker.step(Detections(boxes=np.array(boxes, np.float32).reshape(-1, 4), scores=np.ones(len(boxes))),
                           frame(i))
        merges += out.merged
        rec.add(i, out)
    assert len(merges) == 1, merges
    ended, survivor = merges[0]
    assert ended != survivor
    rows = rec.rows()
    assert set(np.unique(rows[:, 1])) == {survivor}, "the ended id must not be written"
    assert set(range(55, 70)) <= set(by_frame(rows)), "every frame A is seen again, from its first"


def test_interpolate_rows_fills_any_trackers_gaps():
    rows = np.array([[1, 7, 10, 10, 5, 5, 1.0], [5, 7, 50, 10, 5, 5, 0.5], [20, 7, 60, 10, 5, 5, 1.0],
                     [2, 8, 0, 0, 5, 5, 1.0]])
    out = interpolate_rows(rows, max_gap_frames=3)
    seven = out[out[:, 1] == 7]
    assert list(seven[:, 0]) == [1, 2, 3, 4, 5, 20], "frames 2-4 filled, the 14-frame gap left open"
    np.testing.assert_allclose(seven[1:4, 2], [20, 30, 40])
    np.testing.assert_allclose(seven[1:4, 6], [0.875, 0.75, 0.625])
    assert len(out[out[:, 1] == 8]) == 1
    assert len(interpolate_rows(rows, 0)) == len(rows)
    outside = interpolate_rows(np.array([[1, 1, 90, 0, 10, 10, 1], [3, 1, 110, 0, 10, 10, 1]]), 2, (100, 100))
    assert len(outside) == 2, "an interpolated box mostly outside the image is not written"


def test_negative_gap_is_refused(capsys):
    from occtrack_ros.cli import main

    with pytest.raises(ValueError, match="max_gap_frames"):
        OfflineRecorder(None, max_gap_frames=-1)
    for cmd in (["track-dets", "--dets", "d.txt", "--out", "r.txt"], ["baselines", "--mot17", "x", "--out", "o"]):
        with pytest.raises(SystemExit):
            main([*cmd, "--interpolate", "-1"])
        assert "must be >= 0 seconds" in capsys.readouterr().err


def _crossing(n: int = 60, border_frames: int = 10, start: float = -26.0, speed: float = 4.0, config=None,
              recorder=None):
    """A 30x40 object that comes in at the left border, crosses the 200x120 view and goes out at the
    right. The 'detector' sees the visible part only (clipped box) and misses slivers under 8 px.
    ``config`` / ``recorder(size)``: the tracker's config and the recorder (default: as behind the slot
    detector, with ``border_frames``)."""
    size = (200, 120)
    intr = CameraIntrinsics.default_for(*size)
    tracker = make_tracker(config or TrackerConfig(fps=10.0, report_measured_box=True))
    rec = (recorder(size, tracker.config) if recorder is not None
           else OfflineRecorder(size, max_gap_frames=10, backfill=True, border_frames=border_frames))
    truth = {}
    for i in range(n):
        x1 = start + speed * i
        whole = np.array([x1, 40.0, x1 + 30.0, 80.0])
        vis = np.array([max(x1, 0.0), 40.0, min(x1 + 30.0, size[0]), 80.0])
        if vis[2] - vis[0] > 0:
            truth[i] = whole
        seen = vis[2] - vis[0] >= 8
        out = tracker.step(Detections(boxes=np.array([vis] if seen else [], np.float32).reshape(-1, 4),
                                      scores=np.ones(int(seen))), Frame(image=BLANK, stamp_ns=int(i * 1e8), index=i,
                                                                        intrinsics=intr))
        rec.add(i, out)
    return rec, truth


def _xyxy(row: np.ndarray) -> np.ndarray:
    x, y, w, h = row[2:6]
    return np.array([x, y, x + w, y + h])


def test_border_completion_gives_the_whole_box_of_an_object_coming_in_and_going_out():
    rec, truth = _crossing()
    rows = rec.rows()
    assert len(np.unique(rows[:, 1])) == 1
    got = by_frame(rows)
    assert set(got) == set(truth), f"frames with part of the object in view: {sorted(set(truth) ^ set(got))} differ"
    for f, whole in truth.items():
        np.testing.assert_allclose(_xyxy(got[f]), whole, atol=1.5, err_msg=f"frame {f}")
    off, _ = _crossing(border_frames=0)
    plain = by_frame(off.rows())
    cut = [f for f, whole in truth.items() if f in plain and np.abs(_xyxy(plain[f]) - whole).max() > 1.5]
    missing = [f for f in truth if f not in plain]
    assert cut and missing, "without border completion the slivers are cut boxes or missing (the test could not fail)"


def test_occtrack_track_completes_the_boxes_the_image_border_cuts():
    # `occtrack track` (slot detector, whose boxes are the part in view): the rows of an object cut by the
    # image border are its whole box wherever it was detected, with the recorder that command builds.
    import argparse

    from occtrack_ros.pipeline import SLOT_DETECTOR_TRACKER_OVERRIDES
    from occtrack_ros.tracking.mot_files import MOT_STATES
    from occtrack_ros.tracking.offline import add_offline_arguments, recorder_from_args

    parser = argparse.ArgumentParser()
    add_offline_arguments(parser, relink_default=True)
    args = parser.parse_args([])
    config = TrackerConfig(fps=10.0, **SLOT_DETECTOR_TRACKER_OVERRIDES)
    rec, truth = _crossing(config=config, recorder=lambda size, cfg: recorder_from_args(args, 10.0, size, MOT_STATES,
                                                                                        cfg))
    got = by_frame(rec.rows())
    cut = [f for f, whole in truth.items() if f in got and (whole[0] < 0 or whole[2] > 200)]
    assert len(cut) >= 8, f"too few cut frames written to test: {cut}"
    for f in cut:
        np.testing.assert_allclose(_xyxy(got[f]), truth[f], atol=1.5, err_msg=f"frame {f}")


def test_border_rows_stay_within_the_recorded_frames_and_leave_inner_tracks_alone():
    rec, truth = _crossing(n=50)           # the object is still going out at the last frame
    assert max(by_frame(rec.rows())) == 49
    tracker_rows = {}
    for bf in (0, 10):
        r, _ = walk_with_gap(range(20, 30), max_gap_frames=10, backfill=True, border_frames=bf)
        tracker_rows[bf] = r.rows()
    np.testing.assert_array_equal(tracker_rows[0], tracker_rows[10])


def test_negative_border_frames_are_refused():
    with pytest.raises(ValueError, match="border_frames"):
        OfflineRecorder((10, 10), border_frames=-1)
    with pytest.raises(ValueError, match="offline_border_frames"):
        TrackerConfig(offline_border_frames=-1).validate()


def _half_hidden(occluder_completion: bool, hidden: range, n: int = 45, right_cut: bool | None = None):
    """A 30x40 object walking right at 4 px/frame in plain view; during ``hidden`` a nearer object
    covers its right half, so the 'detector' boxes only the left half (a modal box). ``right_cut``:
    None, no depth map (no occluder sides); else the sides a depth map gives, with the right edge of
    the hidden frames' boxes bordering a nearer surface if True, and no edge bordering one if False."""
    tracker = make_tracker(TrackerConfig(fps=10.0, report_measured_box=True))
    rec = OfflineRecorder((640, 480), max_gap_frames=10, backfill=True, occluder_completion=occluder_completion)
    for i in range(n):
        b = np.array(box(i), np.float32)
        sides = None if right_cut is None else np.zeros((1, 2, 2), bool)
        if i in hidden:
            b[2] = b[0] + 15.0
            if right_cut:
                sides[0, 0, 1] = True
        rec.add(i, tracker.step(Detections(boxes=b[None], scores=np.ones(1)), frame(i)), None, None, sides)
    return rec


# Live, the tracker completes a cut box from the whole size it saw before, for up to
# amodal_max_cut_frames (15); it cannot where it never saw the object whole before, or for longer.
@pytest.mark.parametrize("hidden", [range(10, 32), range(0, 12)], ids=["longer than live", "seen whole after only"])
def test_occluder_completion_gives_the_whole_box_of_a_partly_hidden_object(hidden):
    got = by_frame(_half_hidden(True, hidden).rows())
    plain = by_frame(_half_hidden(False, hidden).rows())
    for f in hidden:
        np.testing.assert_allclose(_xyxy(got[f]), box(f), atol=1.0, err_msg=f"frame {f}")
    modal = [f for f in hidden if _xyxy(plain[f])[2] - _xyxy(plain[f])[0] < 20]
    assert modal, "without completion some boxes are the visible half (else the test could not fail)"
    for f in set(range(45)) - set(hidden):
        np.testing.assert_array_equal(got[f], plain[f])        # boxes seen whole are left alone


def test_occluder_completion_leaves_an_object_that_comes_nearer_alone():
    """An object approaching the camera grows from 20 to 40 px wide: without depths its early boxes
    look cut (below 0.8 x its later extent); with the detections' depths they are not."""
    tracker = make_tracker(TrackerConfig(fps=10.0, report_measured_box=True))
    recs = {d: OfflineRecorder((640, 480), occluder_completion=True) for d in (False, True)}
    truth = {}
    for i in range(40):
        z = 20.0 / (1.0 + i / 39.0)                    # 20 m -> 10 m: the image size doubles
        w = 400.0 / z
        b = np.array([300 - w / 2, 200 - w, 300 + w / 2, 200 + w], np.float32)
        truth[i] = b
        out = tracker.step(Detections(boxes=b[None], scores=np.ones(1)), frame(i))
        for with_depth, rec in recs.items():
            rec.add(i, out, None, np.array([z], np.float32) if with_depth else None)
    scaled = by_frame(recs[True].rows())
    flat = by_frame(recs[False].rows())
    for f, b in truth.items():
        np.testing.assert_allclose(_xyxy(scaled[f]), b, atol=0.5, err_msg=f"frame {f}")
    assert any(np.abs(_xyxy(flat[f]) - b).max() > 2 for f, b in truth.items()), \
        "without depths the growth looks like a cut (else the test could not fail)"


def test_occluder_sides_say_which_edge_a_nearer_surface_borders():
    depth = np.full((480, 640), 10.0, np.float32)
    depth[:, 300:340] = 5.0                                    # a pillar at 5 m
    depth[0:5, :] = np.nan                                     # invalid pixels say nothing
    boxes = np.array([[250, 200, 300, 240], [340, 200, 390, 240], [250, 2, 290, 30]], np.float32)
    sides = detection_occluder_sides(boxes, np.array([10.0, 10.0, 10.0]), depth)
    assert sides.shape == (3, 2, 2)
    np.testing.assert_array_equal(sides[0], [[False, True], [False, False]])    # pillar on its right
    np.testing.assert_array_equal(sides[1], [[True, False], [False, False]])    # pillar on its left
    assert not sides[2].any()
    in_front = detection_occluder_sides(boxes[:1], np.array([4.0]), depth)      # nearer than the pillar
    assert not in_front.any()
    assert detection_occluder_sides(boxes[:1], np.array([np.nan]), depth).all()   # no depth: nothing ruled out
    assert detection_occluder_sides(boxes, None, depth) is None
    assert detection_occluder_sides(boxes, np.ones(3), None) is None


def test_occluder_completion_keeps_the_edge_no_occluder_borders():
    """An object stops while a nearer object (right of it, in the depth map) hides its right half,
    then walks back. Its path is not the line between the whole boxes before and after; its left edge,
    which no occluder borders, is its own: with the sides the whole box is the truth."""
    def run(with_sides: bool) -> dict[int, np.ndarray]:
        tracker = make_tracker(TrackerConfig(fps=10.0, report_measured_box=True))
        rec = OfflineRecorder((640, 480), max_gap_frames=10, backfill=True, occluder_completion=True)
        for i in range(45):
            x = 100 + 4 * min(i, 10) - 4 * max(0, i - 31)        # stops during frames 10-31, then turns back
            b = np.array([x, 200, x + (15 if 10 <= i < 32 else 30), 240], np.float32)
            sides = np.zeros((1, 2, 2), bool)
            sides[0, 0, 1] = 10 <= i < 32
            rec.add(i, tracker.step(Detections(boxes=b[None], scores=np.ones(1)), frame(i)), None, None,
                    sides if with_sides else None)
            truth[i] = [x, 200, x + 30, 240]
        return by_frame(rec.rows())
    truth: dict[int, list] = {}
    got, unsided = run(True), run(False)
    for f in range(10, 32):
        np.testing.assert_allclose(_xyxy(got[f]), truth[f], atol=1e-3, err_msg=f"frame {f}")
    assert any(np.abs(_xyxy(unsided[f]) - truth[f]).max() > 1 for f in range(10, 32)), \
        "centred on the path the completion is off (else the test could not fail)"


def test_occluder_completion_leaves_a_box_no_nearer_surface_borders():
    """The same shrinking boxes, but the depth map shows nothing nearer at any edge: the detector
    saw the object's own extent, which is left alone."""
    hidden = range(10, 32)
    got = by_frame(_half_hidden(True, hidden, right_cut=False).rows())
    plain = by_frame(_half_hidden(False, hidden, right_cut=False).rows())
    for f in range(45):
        np.testing.assert_array_equal(got[f], plain[f])
    assert any(_xyxy(got[f])[2] - _xyxy(got[f])[0] < 20 for f in hidden)


def _merging(merge_ratio: float, merged: range = range(20, 25), n: int = 45, live_ratio: float = 1.3):
    """Two 30x40 objects walking right side by side at 4 px/frame, one 25 px below the other (their
    boxes overlap by 15 px); during ``merged`` the 'detector' boxes the two as one (their union), as
    the slot detector does with overlapping sprites. ``live_ratio``: the tracker's merge_size_ratio
    (the sprites-mot preset's 1.3). Returns the recorder and the true boxes."""
    tracker = make_tracker(TrackerConfig(fps=10.0, report_measured_box=True, merge_size_ratio=live_ratio))
    rec = OfflineRecorder((640, 480), max_gap_frames=10, backfill=True, merge_ratio=merge_ratio)
    truth = {}
    for i in range(n):
        a = np.array(box(i), np.float32)
        b = a + np.array([0, 25, 0, 25], np.float32)
        truth[i] = (a, b)
        boxes = np.array([[a[0], a[1], a[2], b[3]]] if i in merged else [a, b], np.float32)
        rec.add(i, tracker.step(Detections(boxes=boxes, scores=np.ones(len(boxes))), frame(i)))
    return rec, truth


def _worst_error(rec: OfflineRecorder, truth: dict, frames: range) -> float:
    """Largest corner error [px] over ``frames`` of the best-fitting row for each true box (inf: none)."""
    rows = rec.rows()
    worst = 0.0
    for f in frames:
        got = [_xyxy(r) for r in rows if int(r[0]) - 1 == f]
        for t in truth[f]:
            worst = max(worst, min((float(np.abs(g - t).max()) for g in got), default=np.inf))
    return worst


def test_merge_repair_puts_both_objects_of_a_merged_box_back_on_their_paths():
    merged = range(20, 25)
    rec, truth = _merging(1.3, merged)
    rows = rec.rows()
    assert len(np.unique(rows[:, 1])) == 2, "two objects, two ids"
    assert _worst_error(rec, truth, merged) < 1.0, "a merged frame's rows are not the two objects' own boxes"
    assert _worst_error(rec, truth, range(45)) < 1.0
    off, _ = _merging(0.0, merged)
    assert _worst_error(off, truth, merged) > 10.0, "without the repair the merged box is written (could not fail)"


def test_merge_repair_leaves_boxes_alone_without_another_track_inside():
    # one object whose box grows for 5 frames (a detector glitch, or it came nearer): no second track
    # lies inside, so the big boxes are observations and are written as they are
    tracker = make_tracker(TrackerConfig(fps=10.0, report_measured_box=True))
    recs = [OfflineRecorder((640, 480), max_gap_frames=10, backfill=True, merge_ratio=r) for r in (0.0, 1.3)]
    for i in range(40):
        b = np.array(box(i), np.float32)
        if i in range(20, 25):
            b[3] += 25
        out = tracker.step(Detections(boxes=b[None], scores=np.ones(1)), frame(i))
        for rec in recs:
            rec.add(i, out)
    np.testing.assert_array_equal(recs[0].rows(), recs[1].rows())


def test_a_merged_box_does_not_grow_the_tracks_size_live():
    # without the live guard the union box is blended into the track's full size, and the amodal
    # completion then inflates the boxes it reports after the objects part (for amodal_max_cut_frames)
    after = range(25, 35)
    guarded, truth = _merging(0.0, live_ratio=1.3)
    assert _worst_error(guarded, truth, after) < 1.0
    inflated, _ = _merging(0.0, live_ratio=0.0)
    assert _worst_error(inflated, truth, after) > 10.0, "no inflation without the guard (the test could not fail)"


def test_merge_ratio_must_exceed_one():
    with pytest.raises(ValueError, match="merge_ratio"):
        OfflineRecorder((10, 10), merge_ratio=0.9)
    with pytest.raises(ValueError, match="offline_merge_ratio"):
        TrackerConfig(offline_merge_ratio=1.0).validate()
    with pytest.raises(ValueError, match="merge_size_ratio"):
        TrackerConfig(merge_size_ratio=0.5).validate()


def test_lead_rows_carry_a_track_back_from_where_it_came_back_after_a_long_gap():
    # Missed for 10 frames with interpolation up to 5: the gap stays open. With lead_frames=3 the three
    # frames before the track came back (27-29) are written, on its path after the gap; not before them.
    hidden = range(20, 30)
    plain, _ = walk_with_gap(hidden, max_gap_frames=5, backfill=False)
    lead, _ = walk_with_gap(hidden, max_gap_frames=5, backfill=False, lead_frames=3)
    plain_rows, lead_rows = by_frame(plain.rows()), by_frame(lead.rows())
    assert not set(range(22, 30)) & set(plain_rows), "the gap is open without lead rows"
    assert set(range(22, 30)) & set(lead_rows) == {27, 28, 29}
    assert len(np.unique(lead.rows()[:, 1])) == 1
    for f in (27, 28, 29):
        x, y, w, h = lead_rows[f][2:6]
        np.testing.assert_allclose([x, y, x + w, y + h], box(f), atol=1.0)
    # A gap short enough to interpolate gets no lead rows: the interpolation writes it.
    short, _ = walk_with_gap(hidden, max_gap_frames=10, backfill=False, lead_frames=3)
    np.testing.assert_allclose(short.rows(), walk_with_gap(hidden, max_gap_frames=10, backfill=False)[0].rows())


def test_lead_rows_reach_an_object_coming_back_into_the_view():
    # An object walks out of the left border, stays out, and comes back through it. It is observed again
    # from frame 41, when half of it is in view; at frames 39 and 40 only 30 % and 40 % are. The lead rows
    # put it there, though most of the box is outside the image.
    from occtrack_ros.types import Track, TrackerOutput, TrackState

    def whole(i: int) -> np.ndarray:
        x1 = 60.0 - 3.0 * i if i < 20 else -30.0 + 3.0 * (i - 36)
        return np.array([x1, 200.0, x1 + 30.0, 240.0])

    rec = OfflineRecorder((640, 480), max_gap_frames=5, backfill=False, lead_frames=2)
    for i in [*range(20), *range(41, 60)]:
        rec.add(i, TrackerOutput(tracks=[Track(track_id=1, state=TrackState.CONFIRMED, box=whole(i),
                                               detection_index=0)]))
    rows = by_frame(rec.rows())
    assert set(range(20, 41)) & set(rows) == {39, 40}
    for f in (39, 40):
        np.testing.assert_allclose(_xyxy(rows[f]), whole(f), atol=1e-3)


def test_negative_lead_frames_are_refused():
    with pytest.raises(ValueError, match="lead_frames"):
        OfflineRecorder((10, 10), lead_frames=-1)
    with pytest.raises(ValueError, match="offline_lead_frames"):
        TrackerConfig(offline_lead_frames=-1).validate()


def test_a_track_that_goes_out_and_comes_back_is_carried_to_the_border_where_it_went_out():
    # A 30x40 object walks out at the right border of the 200x120 view, turns outside and comes back.
    # The live tracker keeps one id (re-identified as it comes back), so its exit is in the middle of
    # the track. The 'detector' misses parts under 20 px; the live rule writes the first two coasting
    # frames and then drops the track as mostly outside. The slivers after those are written all the same.
    size = (200, 120)
    intr = CameraIntrinsics.default_for(*size)
    tracker = make_tracker(TrackerConfig(fps=10.0, report_measured_box=True, max_outside_fraction=0.5))
    rec = OfflineRecorder(size, max_gap_frames=10, backfill=True, border_frames=10)

    def x1(i):
        return 120.0 + 5.0 * i if i <= 25 else 245.0 - 5.0 * (i - 25)

    slivers, live = [], set()
    for i in range(60):
        vis = np.array([max(x1(i), 0.0), 40.0, min(x1(i) + 30.0, size[0]), 80.0])
        seen = vis[2] - vis[0] >= 20
        if i <= 25 and 0.05 * 30 <= vis[2] - vis[0] < 20:
            slivers.append(i)
        out = tracker.step(Detections(boxes=np.array([vis] if seen else [], np.float32).reshape(-1, 4),
                                      scores=np.ones(int(seen))), Frame(image=BLANK, stamp_ns=int(i * 1e8), index=i,
                                                                        intrinsics=intr))
        rec.add(i, out)
        live |= {i for r in result_rows(i, out.tracks, size)}
    rows = rec.rows()
    assert len(np.unique(rows[:, 1])) == 1, "the scene needs one track that went out and came back"
    assert set(slivers) - live, "the scene needs slivers the live rule does not write"
    got = by_frame(rows)
    assert set(slivers) <= set(got), f"slivers {slivers} not written: {sorted(set(slivers) - set(got))}"
    for f in slivers:
        np.testing.assert_allclose(_xyxy(got[f]), [x1(f), 40.0, x1(f) + 30.0, 80.0], atol=1.5, err_msg=f"frame {f}")


def test_smoothing_takes_the_frame_to_frame_jitter_out_of_observed_boxes():
    # One object at constant velocity, its boxes jittered by about a pixel (a small object's mask edges).
    rng = np.random.default_rng(0)
    truth = np.array([box(i) for i in range(40)], float)
    noisy = truth + rng.normal(0.0, 1.0, truth.shape)

    def rows(smooth_frames):
        tracker = make_tracker(TrackerConfig(fps=10.0, report_measured_box=True))
        rec = OfflineRecorder((640, 480), backfill=True, smooth_frames=smooth_frames)
        for i in range(40):
            rec.add(i, tracker.step(Detections(boxes=noisy[i:i + 1].astype(np.float32), scores=np.ones(1)), frame(i)))
        got = by_frame(rec.rows())
        return np.stack([_xyxy(got[i]) for i in range(40)])

    raw, smooth = rows(0), rows(5)
    np.testing.assert_allclose(raw, noisy, atol=0.01)
    err_raw, err_smooth = np.abs(raw - truth).mean(), np.abs(smooth - truth).mean()
    assert err_smooth < 0.6 * err_raw, (err_raw, err_smooth)
    with pytest.raises(ValueError, match="smooth_frames"):
        OfflineRecorder((640, 480), smooth_frames=4)
    with pytest.raises(ValueError, match="offline_smooth_frames"):
        TrackerConfig(offline_smooth_frames=1).validate()


def test_smoothing_leaves_boxes_the_border_cuts_alone():
    from occtrack_ros.tracking.offline import _Row, _smoothed

    rng = np.random.default_rng(1)
    boxes = [np.array([20.0 + 3 * i, 50.0, 50.0 + 3 * i, 80.0]) + rng.normal(0, 1, 4) for i in range(11)]
    boxes[6] = np.array([0.0, 40.0, 12.0, 60.0])              # a box the left border cuts
    rows = [_Row(i, 1, b, 1.0, True, True) for i, b in enumerate(boxes)]
    rows.append(_Row(11, 1, np.array([60.0, 50.0, 90.0, 80.0]), 1.0, False, True))   # coasting: not observed
    out = _smoothed(rows, 5, (200, 120))
    np.testing.assert_array_equal(out[6].box, boxes[6])
    np.testing.assert_array_equal(out[11].box, rows[11].box)
    assert all(not np.allclose(out[i].box, boxes[i]) for i in range(6)), "the run before the cut box is smoothed"
    assert all(np.array_equal(out[i].box, boxes[i]) for i in range(7, 11)), "the run after it is too short"
