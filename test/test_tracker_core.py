"""Tracker behaviour without a ROS graph: shapes, lifecycle, occlusion through a camera pan."""
from __future__ import annotations

import numpy as np
import pytest

from occtrack_ros.tracking import TrackerConfig, make_tracker
from occtrack_ros.types import CameraIntrinsics, Detections, Frame, Relation, TrackState

INTR = CameraIntrinsics.default_for(640, 480)
BLANK = np.zeros((480, 640, 3), np.uint8)


def frame(i: int, T=None) -> Frame:
    return Frame(image=BLANK, stamp_ns=int(i * 1e8), index=i, intrinsics=INTR, T_world_cam=T)


def dets(boxes, scores=None, **kw) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections(boxes=boxes, scores=np.ones(len(boxes)) if scores is None else scores, **kw)


def pan_pose(i: int, start=30, rate=np.deg2rad(0.6)) -> np.ndarray:
    """Camera at the origin, still until ``start``, then panning right about its y (down) axis."""
    a = max(0, i - start) * rate
    T = np.eye(4)
    T[:3, :3] = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return T


def project_box(center_w, size, T):
    """Amodal box of an upright square of ``size`` metres at world point ``center_w``."""
    p = np.linalg.inv(T) @ np.append(center_w, 1.0)
    uv = INTR.K @ p[:3]
    u, v = uv[:2] / uv[2]
    half = 0.5 * size * INTR.fx / p[2]
    return np.array([u - half, v - half, u + half, v + half]), p[:3]


def pillar_scene(n_frames=90, hide=(30, 60)):
    """Object walking left-to-right at 8 m behind a pillar while the camera pans; hidden for 30 frames.

    A second object walks the other way in front, so the association has a distractor. The pan
    starts when A disappears, so its image position on return is off by ~180 px from a
    constant-velocity guess that ignores the camera.
    Returns per frame (boxes, positions_cam, T_world_cam); hidden frames carry no detection of object A.
    """
    out = []
    for i in range(n_frames):
        T = pan_pose(i)
        a = np.array([-3.0 + 0.07 * i, 0.0, 8.0])
        b = np.array([2.5 - 0.05 * i, 0.5, 5.0])
        boxes, pos = [], []
        if not hide[0] <= i < hide[1]:
            box, p = project_box(a, 0.8, T)
            boxes.append(box)
            pos.append(p)
        box, p = project_box(b, 0.8, T)
        if 0 < 0.5 * (box[0] + box[2]) < INTR.width:
            boxes.append(box)
            pos.append(p)
        out.append((np.array(boxes), np.array(pos), T))
    return out


def run_scene(tracker, scene, use_depth, hide=(30, 60)):
    ids_a = {}
    for i, (boxes, pos, T) in enumerate(scene):
        kw = {"positions_cam": pos.astype(np.float32)} if use_depth else {}
        out = tracker.step(dets(boxes, **kw), frame(i, T))
        for t in out.tracks:
            # Object A is the first detection whenever it is visible.
            if t.detection_index == 0 and not hide[0] <= i < hide[1]:
                ids_a[i] = t.track_id
    return ids_a, out


@pytest.mark.parametrize("use_depth", [False, True])
def test_identity_survives_30_frame_occlusion_during_pan(use_depth):
    scene = pillar_scene()
    # The same tight reappearance gate as the counter-example below, and no take-over at confirmation
    # (its spread grows with the time hidden): only ego-motion can bridge the gap.
    tracker = make_tracker(TrackerConfig(fps=10.0, gate_max_offset=1.0, reappear_sigma=0.2, reappear_sigma_growth=0.0,
                                         reid_on_confirm=False))
    ids_a, _ = run_scene(tracker, scene, use_depth)
    before = {ids_a[i] for i in range(5, 30) if i in ids_a}
    after = {ids_a[i] for i in range(61, 90) if i in ids_a}
    assert len(before) == 1, f"object A changed id before the occlusion: {before}"
    assert after == before, f"object A came back as {after}, was {before}"


def test_without_ego_motion_the_pan_breaks_the_identity():
    """The same scene with the camera rotation ignored: the tracker must lose object A.

    This is what makes the test above able to fail: the pan moves A by ~10 px per second.
    """
    scene = pillar_scene()
    cfg = TrackerConfig(fps=10.0, use_ego_motion=False, gate_max_offset=1.0, reappear_sigma=0.2,
                        reappear_sigma_growth=0.0, reid_on_confirm=False)
    tracker = make_tracker(cfg)
    ids_a, _ = run_scene(tracker, scene, use_depth=False)
    before = {ids_a[i] for i in range(5, 30) if i in ids_a}
    after = {ids_a[i] for i in range(61, 90) if i in ids_a}
    assert after != before


def test_occluded_track_coasts_and_reports_occludes_edge():
    tracker = make_tracker(TrackerConfig(fps=10.0))
    for i in range(10):   # A at x=100 moving right, B static at x=200
        tracker.step(dets([[100 + 5 * i, 100, 140 + 5 * i, 180], [200, 90, 260, 200]]), frame(i))
    out = None
    for i in range(10, 20):   # A passes behind B: only B is detected
        out = tracker.step(dets([[200, 90, 260, 200]]), frame(i))
    states = {t.track_id: t.state for t in out.tracks}
    assert sorted(states.values()) == [TrackState.CONFIRMED, TrackState.OCCLUDED]
    occluded = next(t for t in out.tracks if t.state == TrackState.OCCLUDED)
    assert occluded.frames_occluded == 10
    assert 0.0 < occluded.existence_probability < 1.0
    cx = 0.5 * (occluded.box[0] + occluded.box[2])
    assert 195 < cx < 225, f"coasting box should have kept moving right, centre at {cx}"
    occ_edges = [e for e in out.edges if e.relation == Relation.OCCLUDES]
    assert occ_edges and occ_edges[0].target_id == occluded.track_id


def test_ids_are_never_reused():
    tracker = make_tracker(TrackerConfig(n_init=1, max_occluded_frames=2))
    seen = []
    for i in range(40):
        # A new object appears every 5 frames far from the previous one, the old one vanishes.
        k = i // 5
        out = tracker.step(dets([[50 + 60 * (k % 8), 50 + 40 * (k // 8), 90 + 60 * (k % 8), 90 + 40 * (k // 8)]]),
                           frame(i))
        seen.extend(t.track_id for t in out.tracks if t.frames_occluded == 0)
    distinct = sorted(set(seen))
    assert len(distinct) == 8
    assert distinct == sorted(distinct) and len(distinct) == len(set(distinct))
    tracker.reset()
    out = tracker.step(dets([[10, 10, 40, 40]]), frame(0))
    assert out.tracks[0].track_id > max(distinct), "reset must not reuse ids of this tracker"


def test_empty_frames_and_lost_tracks():
    cfg = TrackerConfig(max_occluded_frames=5)
    tracker = make_tracker(cfg)
    out = tracker.step(Detections.empty(), frame(0))
    assert out.tracks == [] and out.ended == [] and out.edges == []
    for i in range(1, 5):
        out = tracker.step(dets([[10, 10, 50, 80]]), frame(i))
    tid = out.tracks[0].track_id
    ended = []
    for i in range(5, 15):
        out = tracker.step(Detections.empty(), frame(i))
        ended += out.ended
    assert out.tracks == []
    assert [t.track_id for t in ended] == [tid] and ended[0].state == TrackState.LOST


def test_tentative_track_dies_without_confirmation():
    tracker = make_tracker(TrackerConfig(n_init=3))
    for i in range(4):   # the first n_init - 1 frames confirm at once: nothing to confirm against yet
        tracker.step(dets([[10 + 2 * i, 10, 50 + 2 * i, 80]]), frame(i))
    out = tracker.step(dets([[18, 10, 58, 80], [300, 300, 340, 380]]), frame(4))
    assert [t.state for t in out.tracks] == [TrackState.CONFIRMED, TrackState.TENTATIVE]
    out = tracker.step(dets([[20, 10, 60, 80]]), frame(5))
    assert [t.state for t in out.tracks] == [TrackState.CONFIRMED]
    assert out.ended and out.ended[0].state == TrackState.LOST


def test_predict_and_correct_are_separate():
    tracker = make_tracker(TrackerConfig(fps=10.0))
    for i in range(6):
        tracker.step(dets([[100 + 10 * i, 100, 140 + 10 * i, 180]]), frame(i))
    before = tracker.tracks[0].x.copy()
    tracker.predict(int(6e8))
    after_predict = tracker.tracks[0].x.copy()
    assert after_predict[0] > before[0] + 5, "predict must move the track along its velocity"
    assert tracker.tracks[0].misses == 0, "predict alone must not count a miss"
    out = tracker.correct(dets([[160, 100, 200, 180]]), frame(6))
    assert out.tracks[0].frames_occluded == 0 and out.tracks[0].detection_index == 0
    # A timer-driven predict twice the interval moves the state twice as far.
    tracker.predict(int(8e8))
    x2 = tracker.tracks[0].x.copy()
    assert x2[0] - out.tracks[0].box[:3:2].mean() > 15


def test_boxes_only_and_full_outputs_have_documented_shapes():
    tracker = make_tracker()
    emb = np.random.default_rng(0).normal(size=(3, 16)).astype(np.float32)
    boxes = [[10, 10, 50, 80], [100, 100, 150, 170], [300, 50, 340, 120]]
    for i in range(4):
        full = dets(boxes, embeddings=emb, depths=np.array([3.0, 4.0, 5.0], np.float32))
        out = tracker.step(full, frame(i))
    for t in out.tracks:
        assert t.box.shape == (4,) and t.box.dtype == np.float32
        assert t.position.shape == (3,) and t.position_cov.shape == (3, 3)
        assert t.velocity.shape == (3,) and t.size.shape == (3,)
    boxes_only = make_tracker()
    for i in range(4):
        out = boxes_only.step(dets(boxes), frame(i))
    assert len(out.tracks) == 3 and all(t.position is None for t in out.tracks)


def test_bad_pose_is_rejected():
    tracker = make_tracker()
    with pytest.raises(ValueError, match="T_world_cam"):
        tracker.predict(0, np.eye(3))


def test_amodal_measurement_keeps_size_and_the_uncut_edge():
    from occtrack_ros.tracking.tracker import amodal_measurement

    pred = np.array([[100.0, 50.0, 20.0, 20.0]])             # cx, cy, w, h
    # the object slides behind an occluder on its right: the visible box is its left 8 px
    z = np.array([[96.0, 50.0, 8.0, 20.0]])
    out = amodal_measurement(pred, z, 0.75)
    np.testing.assert_allclose(out, [[102.0, 50.0, 20.0, 20.0]])   # left edge 92 kept, full width
    np.testing.assert_allclose(amodal_measurement(pred, z, 0.0), z)  # off
    whole = np.array([[103.0, 51.0, 18.0, 19.0]])            # a normal measurement passes unchanged
    np.testing.assert_allclose(amodal_measurement(pred, whole, 0.75), whole)


def _reid_run(reid: float):
    """Object A (red embedding) is hidden 20 frames and comes back where it started (it turned round);
    meanwhile object B (blue) appears right where A's constant-velocity prediction is."""
    red, blue = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    tracker = make_tracker(TrackerConfig(fps=10.0, reid_min_similarity=reid))
    ids_a = {}
    for i in range(45):
        seen = []                                                          # (box, embedding)
        if i < 15:
            seen.append(([100 + 6 * i, 200, 130 + 6 * i, 240], red))
        elif i >= 35:
            seen.append(([100, 200, 130, 240], red))                       # back at its start
        if i >= 33:
            seen.append(([100 + 6 * i, 200, 130 + 6 * i, 240], blue))     # on A's predicted path
        boxes, embs = [b for b, _ in seen], [e for _, e in seen]
        out = tracker.step(dets(boxes, embeddings=np.array(embs).reshape(-1, 4)), frame(i))
        for t in out.tracks:
            if t.detection_index >= 0 and (embs[t.detection_index] == red).all():
                ids_a[i] = t.track_id
    return ids_a


def test_appearance_reidentifies_an_object_that_comes_back_elsewhere():
    ids = _reid_run(0.95)
    before, after = {ids[i] for i in range(5, 15)}, {ids[i] for i in range(38, 45) if i in ids}
    assert len(before) == 1 and after == before, f"A was {before}, came back as {after}"
    ids_off = _reid_run(0.0)                                 # motion gate only: A gets a new id
    assert {ids_off[i] for i in range(38, 45) if i in ids_off} != {ids_off[i] for i in range(5, 15)}


def test_result_rows_skip_coasting_boxes_outside_the_image():
    from occtrack_ros.tracking.mot_files import MOT_STATES_WITH_OCCLUDED, result_rows
    from occtrack_ros.types import Track

    tracks = [Track(1, TrackState.OCCLUDED, np.array([120.0, 10, 140, 30])),    # 8 of 20 px wide inside
              Track(2, TrackState.OCCLUDED, np.array([50.0, 10, 70, 30])),
              Track(3, TrackState.CONFIRMED, np.array([125.0, 10, 145, 30])),  # observed: always written
              Track(4, TrackState.TENTATIVE, np.array([50.0, 50, 70, 70]))]
    ids = [r.split(",")[1] for r in result_rows(0, tracks, (128, 128), MOT_STATES_WITH_OCCLUDED)]
    assert ids == ["2", "3"]
    assert len(result_rows(0, tracks, None, MOT_STATES_WITH_OCCLUDED)) == 3
    assert [r.split(",")[1] for r in result_rows(0, tracks)] == ["3"]        # default: observed tracks only


def test_track_cli_tracker_overrides_are_parsed_and_checked():
    from occtrack_ros.commands.track import _tracker_overrides

    overrides = _tracker_overrides(["max_outside_frames=0", "reid_min_similarity=0.9", "use_ego_motion=false"])
    assert overrides == {"max_outside_frames": 0, "reid_min_similarity": 0.9, "use_ego_motion": False}
    tracker = make_tracker(overrides, "default")                 # on top of the shipped weights' stored config
    assert tracker.config.max_outside_frames == 0 and tracker.config.reid_min_similarity == 0.9
    assert tracker.config.gnn.hidden == make_tracker(None, "default").config.gnn.hidden
    with pytest.raises(ValueError, match="unknown field"):
        make_tracker(_tracker_overrides(["bogus=1"]), "default")
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        _tracker_overrides(["max_outside_frames"])


def test_track_cli_tracker_preset(tmp_path):
    from pathlib import Path

    import occtrack_ros
    from occtrack_ros.cli import main
    from occtrack_ros.tracking.config import TRACKER_PRESETS

    for name, preset in TRACKER_PRESETS.items():                 # every preset is a valid set of fields
        assert TrackerConfig.from_dict({**TrackerConfig().to_dict(), **preset}), name
    seq, out = tmp_path / "spr", tmp_path / "res.txt"
    assert main(["generate", "--preset", "sprites-mot", "--seed", "3", "--frames", "15", "--out", str(seq),
                 "--quiet"]) == 0
    weights = Path(occtrack_ros.__file__).parent / "weights" / "detector_sprites.pt"
    args = ["track", "--seq", str(seq), "--detector", str(weights), "--out", str(out), "--threads", "1"]
    assert main([*args, "--tracker-preset", "sprites-mot"]) == 0
    assert out.is_file() and out.read_text().strip(), "no result rows for 15 frames of sprites (two from frame 7)"
    with pytest.raises(SystemExit, match="unknown --tracker-preset 'bogus'"):
        main([*args, "--tracker-preset", "bogus"])


def _stop_behind_occluder(reid_on_confirm: bool, other_seen_until: int | None = None, **kw):
    """Boxes only. A walks right, is hidden for 25 frames and turned back behind the occluder: it
    comes back 23 px (2.2 reappearance sigmas) short of where it vanished, outside the
    frame-by-frame gate (1.55 sigmas at match_threshold 0.3) but inside the take-over's 3.
    ``other_seen_until``: A's last frame, while the object that appears at frame 30 is already
    seen (two objects at once)."""
    cfg = TrackerConfig(fps=10.0, reid_on_confirm=reid_on_confirm, reappear_sigma=0.3, reappear_sigma_growth=0.0, **kw)
    tracker = make_tracker(cfg)
    ids_a = {}
    last_a = 29 if other_seen_until is None else other_seen_until
    for i in range(70):
        boxes = []
        if i <= last_a:
            boxes.append([100 + 5 * i, 200, 130 + 5 * i, 240])
        if i >= 55 or (other_seen_until is not None and i >= 30):
            boxes.append([222, 200, 252, 240])                     # A again (or, in the second case, another one)
        out = tracker.step(dets(boxes), frame(i))
        for t in out.tracks:
            if t.state == TrackState.CONFIRMED and t.detection_index == len(boxes) - 1 and boxes:
                ids_a.setdefault(i, t.track_id)
    return ids_a


def test_new_track_takes_over_the_hidden_track_it_continues():
    ids = _stop_behind_occluder(True)
    before, after = {ids[i] for i in range(5, 29)}, {ids[i] for i in range(60, 70)}
    assert len(before) == 1 and after == before, f"A was {before}, came back as {after}"
    ids_off = _stop_behind_occluder(False)                    # the frame-by-frame gate alone: a new id
    assert {ids_off[i] for i in range(60, 70)} != {ids_off[i] for i in range(5, 29)}


def test_take_over_comes_at_the_second_hit_before_confirmation():
    # A is seen again from frame 55: its id is back at the second hit (56), not at n_init = 3 hits (57).
    early = _stop_behind_occluder(True, reid_confirm_hits=2)
    late = _stop_behind_occluder(True, reid_confirm_hits=0)
    a = early[10]
    assert min(i for i in early if i >= 55 and early[i] == a) == 56
    assert min(i for i in late if i >= 55 and late[i] == late[10]) == 57


def test_take_over_never_joins_two_objects_seen_at_once():
    # The second object is seen from frame 30 while A is still seen until frame 31: never A.
    ids = _stop_behind_occluder(True, other_seen_until=31)
    a = {ids[i] for i in range(5, 29)}
    other = {ids[i] for i in range(40, 70) if i in ids}
    assert other and not (other & a), f"the second object took A's id: {other} vs {a}"


def test_take_over_measures_the_objects_size_anew():
    """A (30 x 40 px) hides, turns back and comes back farther away, 23 x 31 px: once its hidden track
    takes the new one over, the reported box is the box seen, not one inflated to the old size (the
    amodal completion would read a box under amodal_ratio x the old size as cut by an occluder)."""
    tracker = make_tracker(TrackerConfig(fps=10.0, reappear_sigma=0.3, reappear_sigma_growth=0.0))
    reported = {}
    for i in range(70):
        boxes = [[100 + 5 * i, 200, 130 + 5 * i, 240]] if i <= 29 else []
        if i >= 55:
            boxes = [[226, 205, 249, 236]]
        out = tracker.step(dets(boxes), frame(i))
        for t in out.tracks:
            if t.state == TrackState.CONFIRMED and boxes and t.detection_index == 0:
                reported[i] = (t.track_id, t.box[2] - t.box[0], t.box[3] - t.box[1])
    assert reported[60][0] == reported[20][0], "the hidden track did not take its object back"
    for i in range(60, 70):
        assert reported[i][1:] == pytest.approx((23, 31), abs=1.5), f"frame {i}: reported {reported[i][1:]}"


def _coast_after_a_noisy_return(**kw) -> float:
    """Boxes only: a 30 x 40 box walks right 5 px a frame, is missed for 3 frames, comes back 4 px too
    high (box noise) for one frame, and is never seen again. Returns how far (px) the coasting box
    drifts up over the next 20 frames."""
    tracker = make_tracker(TrackerConfig(fps=10.0, **kw))
    for i in range(30):
        y = 196 if i == 23 else 200
        boxes = [[100 + 5 * i, y, 130 + 5 * i, y + 40]] if i < 20 or i == 23 else []
        out = tracker.step(dets(boxes), frame(i))
        if i == 24:
            y24 = out.tracks[0].box[1]
        if i == 29:
            return float(y24 - out.tracks[0].box[1])
    raise AssertionError("unreachable")


def test_a_short_gap_does_not_turn_box_noise_into_velocity():
    # OC-SORT's re-anchoring alone (reanchor_frames 0): the 4 px over a 4-frame gap become 1 px a frame.
    # Weighed (4 / (4 + 12)), what drift is left is mostly the Kalman update's own gain: about half.
    alone, weighed = _coast_after_a_noisy_return(reanchor_frames=0.0), _coast_after_a_noisy_return()
    assert alone > 3.0, f"re-anchoring alone drifted only {alone:.1f} px"
    assert weighed < 0.6 * alone, f"weighed re-anchoring drifted {weighed:.1f} px (alone: {alone:.1f})"


def test_complete_box_at_the_border_and_behind_an_occluder():
    from occtrack_ros.tracking.tracker import complete_box

    full = np.array([20.0, 10.0])
    # Cut by the left image border: 6 px of a 20 px wide object are inside; the right edge (6) is kept.
    out = complete_box(np.array([3.0, 50.0, 6.0, 10.0]), full, None, (128, 128))
    np.testing.assert_allclose(out, [-4.0, 50.0, 20.0, 10.0])
    # ... and by the bottom border.
    out = complete_box(np.array([60.0, 125.0, 20.0, 6.0]), full, None, (128, 128))
    np.testing.assert_allclose(out, [60.0, 127.0, 20.0, 10.0])
    # Cut on its right by an occluder: the left edge is where the moved last box expects it.
    expected = np.array([60.0, 50.0, 20.0, 10.0])
    seen = np.array([55.0, 50.0, 10.0, 10.0])                 # edges 50..60; expected 50..70
    np.testing.assert_allclose(complete_box(seen, full, expected, (128, 128), ratio=0.8), expected)
    np.testing.assert_allclose(complete_box(seen, full, expected, (128, 128), ratio=0.0), seen)  # border only
    whole = np.array([60.0, 50.0, 19.0, 10.0])                # not cut: unchanged
    np.testing.assert_allclose(complete_box(whole, full, expected, (128, 128), ratio=0.8), whole)


def test_reported_box_keeps_the_full_size_while_leaving_the_image():
    tracker = make_tracker(TrackerConfig(fps=10.0))
    out = None
    for i in range(23):                                       # 40 px wide, moving left by 10 px a frame
        x0 = 200 - 10 * i
        out = tracker.step(dets([[max(x0, 0), 200, x0 + 40, 240]]), frame(i))   # the detector clips at 0
    (t,) = [t for t in out.tracks if t.state == TrackState.CONFIRMED]
    assert 35 < t.box[2] - t.box[0] < 45 and t.box[0] < -5, f"reported box {t.box} should extend past x=0"
    plain = make_tracker(TrackerConfig(fps=10.0, amodal_output=False))
    for i in range(23):
        x0 = 200 - 10 * i
        out = plain.step(dets([[max(x0, 0), 200, x0 + 40, 240]]), frame(i))
    b = out.tracks[0].box
    assert b[2] - b[0] < 30, f"without completion the box follows the clipped detections, got {b}"


def test_prior_full_sizes_from_the_scene_shape():
    from occtrack_ros.tracking.tracker import prior_full_sizes

    prior = np.array([np.log(2.0), np.log(40.0), np.log(20.0)])   # whole boxes: 40 x 20, twice as wide
    boxes = np.array([[3.0, 50.0, 6.0, 20.0],        # cut by the left border: width from the height
                      [60.0, 126.0, 30.0, 4.0],      # cut by the bottom border: height from the width
                      [2.0, 2.0, 4.0, 4.0],          # in the corner: the prior size
                      [3.0, 50.0, 60.0, 20.0],       # cut, but already wider than the prior says
                      [60.0, 60.0, 10.0, 10.0]])     # nothing cuts it: nothing to complete
    out = prior_full_sizes(boxes, prior, (128, 128))
    np.testing.assert_allclose(out[:4], [[40.0, 20.0], [30.0, 15.0], [40.0, 20.0], [60.0, 20.0]])
    assert np.isnan(out[4]).all()
    assert np.isnan(prior_full_sizes(boxes, prior, None)).all()      # no image size: no border known


def _enter_from_the_left(shape_prior_rate: float):
    """Two whole 40 x 40 objects in view, then a third enters from the left border at 5 px a frame."""
    tracker = make_tracker(TrackerConfig(fps=10.0, shape_prior_rate=shape_prior_rate))
    out = None
    for i in range(8):
        boxes = [[300, 100, 340, 140], [400, 300, 440, 340]]
        if i >= 2:
            right = 5.0 * (i - 1)                                   # 5, 10, ... 30 px inside the image
            boxes.append([0, 200, right, 240])
        out = tracker.step(dets(boxes), frame(i))
    (t,) = [t for t in out.tracks if t.state == TrackState.CONFIRMED and t.box[1] > 190 and t.box[3] < 250]
    return t.box


def test_entering_object_is_reported_whole_before_it_was_ever_seen_whole():
    box = _enter_from_the_left(0.05)          # the 40 px object spans -10 .. 30; 30 px of it are seen
    assert 35 < box[2] - box[0] < 45 and abs(box[2] - 30) < 4 and box[0] < -5, box
    plain = _enter_from_the_left(0.0)
    assert plain[2] - plain[0] < 30 and plain[0] >= -1, f"without the prior the seen part is reported: {plain}"


def _split_then_whole(duplicate_iou: float):
    """The detector splits one object into two nearly identical boxes for 5 frames, then sees it whole."""
    tracker = make_tracker(TrackerConfig(fps=10.0, duplicate_iou=duplicate_iou))
    out = None
    for i in range(12):
        box = [100 + 3 * i, 100, 140 + 3 * i, 180]
        boxes = [box, [box[0] + 3, 102, box[2] + 2, 181]] if i < 5 else [box]
        out = tracker.step(dets(boxes), frame(i))
    return out


def test_duplicate_tracks_on_one_object_are_merged_into_the_older():
    out = _split_then_whole(0.7)
    assert [t.track_id for t in out.tracks] == [1], [(t.track_id, t.state) for t in out.tracks]
    kept = _split_then_whole(0.0)                            # off: the second track coasts on the same object
    assert sorted(t.track_id for t in kept.tracks) == [1, 2]


def _fragment_inside(fragment_ioa: float, depths=None):
    """One object, and for 8 frames a second, smaller box that lies inside its box (a part the detector split
    off). Returns the last frame's output."""
    tracker = make_tracker(TrackerConfig(fps=10.0, fragment_ioa=fragment_ioa))
    out = None
    for i in range(12):
        box = [100 + 3 * i, 100, 140 + 3 * i, 180]
        part = [box[0] + 20, 140, box[2], 180]                     # the lower right quarter, IoU 0.25
        boxes = [part, box] if 2 <= i < 10 else [box]
        out = tracker.step(dets(boxes, depths=None if depths is None or len(boxes) == 1 else np.array(depths)),
                           frame(i))
    return out


def test_a_part_the_detector_split_off_an_object_starts_no_track():
    out = _fragment_inside(0.8)
    assert [t.track_id for t in out.tracks] == [1], [(t.track_id, t.state) for t in out.tracks]
    assert sorted(t.track_id for t in _fragment_inside(0.0).tracks) == [1, 2]           # off: the part is an object
    far = _fragment_inside(0.8, depths=[12.0, 6.0])                 # a farther object seen inside the box
    assert sorted(t.track_id for t in far.tracks) == [1, 2]


def test_detection_index_refers_to_the_detections_given_to_the_tracker():
    # A detection the tracker ignores (score below min_det_score, or a fragment) comes first: the matched
    # track's detection_index must still point into the Detections the caller passed.
    for kw, extra in [({}, [[400, 300, 420, 320]]), ({"fragment_ioa": 0.8}, [[120, 140, 140, 180]])]:
        tracker = make_tracker(TrackerConfig(fps=10.0, **kw))
        for i in range(4):
            box = [100, 100, 140, 180]
            out = tracker.step(dets(extra + [box], scores=np.array([0.05 if not kw else 1.0, 1.0])), frame(i))
        assert [t.detection_index for t in out.tracks] == [1], kw


def test_depth_map_tells_which_edge_an_occluder_cuts():
    from occtrack_ros.tracking.tracker import complete_box, occluder_sides

    depth = np.full((128, 128), 20.0, np.float32)            # far wall
    depth[:, 60:70] = 4.0                                    # a pillar at 4 m
    seen = np.array([55.0, 50.0, 10.0, 10.0])                # object at 8 m, visible 50..60, right of it the pillar
    sides = occluder_sides(seen, 8.0, depth)
    assert sides.tolist() == [[False, True], [False, False]]
    assert not occluder_sides(seen, 3.0, depth).any()        # an object in front of the pillar is not cut by it
    # The moved last box puts the object at 36..56, so "keep the edge nearer the expected one" keeps the
    # right edge (60); the depth map overrules it: the right edge is the cut one, the left edge (50) stays.
    expected = np.array([46.0, 50.0, 20.0, 10.0])
    full = np.array([20.0, 10.0])
    np.testing.assert_allclose(complete_box(seen, full, expected, (128, 128), ratio=0.8), [50.0, 50.0, 20.0, 10.0])
    out = complete_box(seen, full, expected, (128, 128), ratio=0.8, occluded=sides)
    np.testing.assert_allclose(out, [60.0, 50.0, 20.0, 10.0])


@pytest.mark.parametrize("weights", ["none", "default"])
def test_reported_adjacency_means_near(weights):
    """ADJACENT edges join objects near each other, with or without the learned graph."""
    tracker = make_tracker(TrackerConfig(fps=10.0) if weights == "none" else None, weights)
    boxes = [[100, 100, 140, 180], [150, 100, 190, 180], [500, 300, 540, 380]]   # two side by side, one far
    out = None
    for i in range(5):
        out = tracker.step(dets(boxes), frame(i))
    ids = {t.detection_index: t.track_id for t in out.tracks}
    adjacent = {tuple(sorted((e.source_id, e.target_id))) for e in out.edges if e.relation == Relation.ADJACENT}
    assert adjacent == {tuple(sorted((ids[0], ids[1])))}, adjacent


def test_reappear_distance_counts_offsets_across_the_path_more():
    from occtrack_ros.tracking.features import reappear_distance, segment_distance

    a, b = np.array([[0.0, 0.0]]), np.array([[100.0, 0.0]])       # a path 100 px long, to the right
    scale = np.array([10.0])
    p = np.array([[-20.0, 0.0], [50.0, 20.0], [50.0, 0.0]])      # behind its start, beside it, on it
    iso = reappear_distance(p, a, b, scale)
    np.testing.assert_allclose(iso, segment_distance(p, a, b) / 10.0)
    np.testing.assert_allclose(iso, [[2.0, 2.0, 0.0]])
    shaped = reappear_distance(p, a, b, scale, perp_ratio=0.5)
    np.testing.assert_allclose(shaped, [[2.0, 4.0, 0.0]])          # the same 20 px: along 2, across 4
    short = reappear_distance(p, a, a + 5.0, scale, perp_ratio=0.5)  # 0.7 box sizes: no direction
    np.testing.assert_allclose(short, reappear_distance(p, a, a + 5.0, scale))


def _hide_then_reappear(new_box, **cfg):
    """A 30 x 40 box moves right 4 px a frame, is hidden for frames 15..24, then ``new_box`` shows up.

    Returns (A's id, the id reported on the new box once it is confirmed)."""
    cfg.setdefault("reid_on_confirm", False)
    tracker = make_tracker(TrackerConfig(fps=10.0, **cfg))
    a_id, new_id = None, None
    for i in range(32):
        boxes = []
        if i < 15:
            boxes = [[100 + 4 * i, 200, 130 + 4 * i, 240]]
        elif i >= 25:
            boxes = [new_box(i)]
        out = tracker.step(dets(boxes), frame(i))
        for t in out.tracks:
            if t.state == TrackState.CONFIRMED and t.detection_index == 0:
                if i < 15:
                    a_id = t.track_id
                elif i >= 28:
                    new_id = t.track_id
    return a_id, new_id


def test_hidden_track_does_not_take_an_object_of_another_size():
    # On A's path, where constant velocity puts it, but twice as tall: another object.
    def tall(i):
        return [100 + 4 * i, 180, 130 + 4 * i, 260]

    def same(i):
        return [100 + 4 * i, 200, 130 + 4 * i, 240]

    a, new = _hide_then_reappear(tall, hidden_size_sigma=0.0)
    assert a == new, "without the size term the hidden track takes the taller object (the case this guards)"
    a, new = _hide_then_reappear(tall, hidden_size_sigma=0.25)
    assert new is not None and a != new, "a hidden track took an object twice its height"
    a, new = _hide_then_reappear(same, hidden_size_sigma=0.25)
    assert a == new, "the same object coming back must keep its id"


def test_hidden_track_expects_its_object_on_its_path_not_beside_it():
    # 1.5 box heights below the path, the same size: too far for the frame-by-frame gate, so it starts a
    # new track; at its confirmation the take-over decides, and only the shape of the path can tell.
    def below(i):
        return [100 + 4 * i, 260, 130 + 4 * i, 300]

    kw = {"reid_on_confirm": True, "hidden_size_sigma": 0.0}
    a, new = _hide_then_reappear(below, reappear_perp_ratio=1.0, **kw)
    assert a == new, "the isotropic take-over accepts it (the case this guards)"
    a, new = _hide_then_reappear(below, reappear_perp_ratio=0.3, **kw)
    assert new is not None and a != new, "a hidden track took over an object beside its path"

    def behind(i):                                              # stopped 5 frames behind the occluder
        return [100 + 4 * 20, 200, 130 + 4 * 20, 240]

    a, new = _hide_then_reappear(behind, reappear_perp_ratio=0.3, reid_on_confirm=True)
    assert a == new, "an object that stopped on its path must keep its id"


def _walk_away_behind_a_wall(scaling: bool):
    """Seen whole at 5 m (40 x 40 px), then walking away to 8 m with its lower half behind a low wall."""
    tracker = make_tracker(TrackerConfig(fps=10.0, full_size_depth_scaling=scaling))
    out = None
    for i in range(15):
        d = 5.0 + 0.3 * max(0, i - 4)
        s = 200.0 / d                                             # image size ~ 1 / depth: 40 px at 5 m, 25 at 8
        box = [300 - s / 2, 200 - s / 2, 300 + s / 2, 200 + (s / 2 if i < 5 else 0.0)]
        out = tracker.step(dets([box], depths=np.array([d], np.float32)), frame(i))
    (t,) = out.tracks
    return t.box


def test_full_size_follows_the_depth_of_a_partly_hidden_object():
    w, h = np.diff(_walk_away_behind_a_wall(True)[[0, 2, 1, 3]].reshape(2, 2)).ravel()
    assert abs(w - 25) < 3 and abs(h - 25) < 3, f"at 8 m the whole object is 25 x 25 px, reported {w} x {h}"
    w, h = np.diff(_walk_away_behind_a_wall(False)[[0, 2, 1, 3]].reshape(2, 2)).ravel()
    assert w > 32, f"without depth scaling the size measured at 5 m (40 px) is expected, got {w} x {h}"


def _jump(report_measured_box: bool) -> np.ndarray:
    """A box still for 10 frames, then its detection jumps 20 px right (the detector boxed it anew)."""
    tracker = make_tracker(TrackerConfig(fps=10.0, report_measured_box=report_measured_box))
    out = None
    for i in range(11):
        x0 = 100 if i < 10 else 120
        out = tracker.step(dets([[x0, 100, x0 + 40, 140]]), frame(i))
    (t,) = out.tracks
    return t.box


def test_reported_box_is_the_detection_or_the_filtered_box():
    np.testing.assert_allclose(_jump(True), [120, 100, 160, 140], atol=1e-3)
    filtered = _jump(False)
    assert 100 < filtered[0] < 118, f"the filter's box lags behind the jump, got {filtered}"


def test_coasting_rows_are_written_only_where_the_miss_is_explained():
    from occtrack_ros.tracking.mot_files import MOT_COAST_FRAMES, result_rows
    from occtrack_ros.types import Track

    def coasting(track_id, frames, visible):
        return Track(track_id, TrackState.OCCLUDED, np.array([50.0, 10, 70, 30]), frames_occluded=frames,
                     visible_fraction=visible)

    tracks = [coasting(1, 1, 0.4),                       # partly hidden, just missed: written
              coasting(2, 1, 1.0),                       # missed in plain view: maybe gone
              coasting(3, 1, 0.0),                       # wholly hidden (or outside): nothing to match
              coasting(4, MOT_COAST_FRAMES + 1, 0.4),    # missed too long: its prediction drifts
              Track(5, TrackState.CONFIRMED, np.array([0.0, 0, 10, 10]))]
    assert [r.split(",")[1] for r in result_rows(0, tracks, (128, 128))] == ["1", "5"]


def _coast_one_frame(depth_map, x0=300.0):
    """A 40 px object at 8 m seen for 5 frames (still), then missed once; returns its visible_fraction."""
    tracker = make_tracker(TrackerConfig(fps=10.0))
    out = None
    for i in range(6):
        boxes = [[x0, 200, x0 + 40, 240]] if i < 5 else []
        f = Frame(image=BLANK, stamp_ns=int(i * 1e8), index=i, intrinsics=INTR, depth=depth_map)
        out = tracker.step(dets(boxes, depths=np.full(len(boxes), 8.0, np.float32)), f)
    (t,) = out.tracks
    assert t.state == TrackState.OCCLUDED and t.frames_occluded == 1
    return t.visible_fraction


def test_visible_fraction_of_a_coasting_track():
    wall = np.full((480, 640), 20.0, np.float32)
    assert _coast_one_frame(wall) == pytest.approx(1.0)             # nothing hides it: a plain miss
    pillar = wall.copy()
    pillar[:, :320] = 3.0                                            # a nearer surface over its left half
    assert _coast_one_frame(pillar) == pytest.approx(0.5, abs=0.05)
    assert _coast_one_frame(wall, x0=620.0) == pytest.approx(0.5, abs=0.05)   # half outside the image


@pytest.mark.parametrize("field, value", [("reid_confirm_hits", -1), ("hidden_size_sigma", -0.1),
                                          ("reappear_perp_ratio", 0.0), ("reappear_perp_ratio", 1.5),
                                          ("hidden_spread_power", -1.0), ("reanchor_frames", -1.0),
                                          ("fragment_ioa", -0.1), ("fragment_ioa", 1.5)])
def test_new_tracker_knobs_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        make_tracker(TrackerConfig(**{field: value}))


def _leave_through_left_border(clip: bool):
    """Boxes only, 640 x 480: a 40 x 40 object walks left 8 px a frame and leaves the image; the detector
    sees its in-view part (a box whose left edge stays on the border and that loses 8 px a frame, its
    height shrinking too, as the slot detector's boxes of a sliver do). Returns the ids per frame."""
    tracker = make_tracker(TrackerConfig(fps=10.0, clip_prediction_to_view=clip, border_overlap=False,
                                         max_outside_frames=0))    # an unmatched track that left the view ends
    ids = {}
    for i in range(20):
        x = 100 - 8 * i
        if x + 40 <= 3:
            break
        h = 40 if x >= 0 else 40 * (0.5 + 0.5 * (x + 40) / 40)     # the sliver's box is shorter too
        box = [max(x, 0), 200, x + 40, 200 + h]
        out = tracker.step(dets([box]), frame(i))
        ids[i] = {t.track_id for t in out.tracks if t.detection_index == 0 and t.state == TrackState.CONFIRMED}
    return ids


def test_object_leaving_the_image_keeps_its_id_to_the_last_sliver():
    # While it crosses the border, the filter's prediction of its box runs on past the border; the detector
    # sees the in-view part only, so that is what the detection is compared with.
    on, off = _leave_through_left_border(True), _leave_through_left_border(False)
    first, last = on[5], max(on)                                  # the last frame: a 4 px sliver
    assert len(first) == 1
    assert all(on[i] == first for i in range(5, last + 1)), on
    assert off[last] != first, "without clipping the last sliver keeps the id (the case this guards)"


def _enter_through_left_border(overlap: bool, n_init: int = 2):
    """A 24 x 20 object 5 m away enters from the left at 5 px a frame; its first box is a 5 x 10 sliver,
    the next 10 x 20 (the slot detector's boxes of slivers are short too). Shipped weights, with depth
    (its 3D gate admits the pair, as in Sprites-MOT). Returns the frames at which a confirmed track
    reports it."""
    tracker = make_tracker({"fps": 10.0, "n_init": n_init, "border_overlap": overlap}, "default")
    seen = []
    for i in range(6):
        right = 5 + 5 * i
        box = [0, 105, right, 115] if i == 0 else [0, 100, min(right, 24 + 5 * i), 120]
        out = tracker.step(dets([box], depths=np.array([5.0], np.float32)), frame(i))
        if any(t.detection_index == 0 and t.state == TrackState.CONFIRMED for t in out.tracks):
            seen.append(i)
    return seen


def test_object_entering_the_image_is_confirmed_at_its_second_box():
    # The sliver and the next box differ too much in size for IoU and the filter, but the smaller lies
    # within the larger, both on the border: one object coming into view.
    assert _enter_through_left_border(True)[0] == 1
    assert _enter_through_left_border(False)[0] > 1, "without the overlap the sliver's track dies (this case)"


def test_iou_and_ioa_from_one_intersection_equal_the_separate_functions():
    from occtrack_ros.tracking.box_ops import ioa_matrix, iou_ioa_matrices, iou_matrix

    rng = np.random.default_rng(0)
    xy_a, xy_b = rng.uniform(0, 60, (7, 2)), rng.uniform(0, 60, (5, 2))
    a = np.concatenate([xy_a, xy_a + rng.uniform(1, 40, (7, 2))], axis=1)          # xyxy
    b = np.concatenate([xy_b, xy_b + rng.uniform(1, 40, (5, 2))], axis=1)
    iou, ioa = iou_ioa_matrices(a, b)
    assert (iou == iou_matrix(a, b)).all() and (ioa == ioa_matrix(a, b)).all()
    assert iou.shape == (7, 5) and (iou > 0).any()


def _two_hidden_tracks_one_detection(hidden_spread_power: float, with_b: bool = True) -> dict:
    """A (moving right) hides at frame 15; B (moving left) is seen at 40..49 and hides; at 55 one box D
    shows up 10 px past A's predicted box and half a box width past B's.

    Returns {"A"|"B"|"D": ids reported on that object's boxes}."""
    tracker = make_tracker(TrackerConfig(fps=10.0, reid_on_confirm=False, hidden_spread_power=hidden_spread_power))
    ids: dict[str, set] = {}
    for i in range(60):
        boxes = []
        if i < 15:
            boxes.append(([100 + 4 * i, 200, 130 + 4 * i, 240], "A"))
        if with_b and 40 <= i < 50:
            boxes.append(([407 - 4 * (i - 40), 200, 437 - 4 * (i - 40), 240], "B"))
        if i >= 55:
            boxes.append(([330, 200, 360, 240], "D"))
        out = tracker.step(dets([b for b, _ in boxes]), frame(i))
        for t in out.tracks:
            if t.detection_index >= 0:
                ids.setdefault(boxes[t.detection_index][1], set()).add(t.track_id)
    return ids


def test_recently_hidden_track_beats_a_long_hidden_one_for_a_detection_both_explain():
    # D is 0.3 box sizes from A's path, A hidden 4 s (reappearance sigma 1.8 box sizes), and 0.5 box sizes
    # from B's, B hidden 0.5 s (sigma 0.75): as a density B explains D 2.4 times better.
    ids = _two_hidden_tracks_one_detection(0.0)
    assert ids["D"] == ids["A"], "by distance in sigmas alone A takes D (the case this guards)"
    ids = _two_hidden_tracks_one_detection(1.0)
    assert ids["D"] == ids["B"] != ids["A"], "the track hidden 8 times longer took the detection"
    ids = _two_hidden_tracks_one_detection(1.0, with_b=False)
    assert ids["D"] == ids["A"], "alone, the long-hidden track must still take its object back"


def _still_object_hidden_8_s(hidden_spread_power: float, x_new: float) -> dict:
    """A stands at x = 300 for 2 s, is hidden for 8 s, then a box of its size shows up at ``x_new``.

    Returns {"A"|"N": ids of confirmed tracks on that object's boxes}."""
    tracker = make_tracker(TrackerConfig(fps=10.0, hidden_spread_power=hidden_spread_power))
    ids: dict[str, set] = {}
    for i in range(110):
        boxes = []
        if i < 20:
            boxes.append(([300, 200, 330, 240], "A"))
        if i >= 100:
            boxes.append(([x_new, 200, x_new + 30, 240], "N"))
        out = tracker.step(dets([b for b, _ in boxes]), frame(i))
        for t in out.tracks:
            if t.detection_index >= 0 and t.state == TrackState.CONFIRMED:
                ids.setdefault(boxes[t.detection_index][1], set()).add(t.track_id)
    return ids


def test_long_hidden_track_takes_back_only_what_starts_near_it():
    # After 8 s hidden the reappearance sigma is 0.6 + 0.3 * 8 = 3 box sizes; 260 px is 7.5 box sizes, 2.5 sigmas:
    # within the take-over's 3 sigmas, but as a density 5 times thinner than a fresh track's.
    far = _still_object_hidden_8_s(0.0, 560)
    assert far["N"] == far["A"], "by distance in sigmas alone the far box gets A's id (the case this guards)"
    far = _still_object_hidden_8_s(1.0, 560)
    assert far["N"] != far["A"], "a box 7.5 box sizes from where A vanished 8 s ago took A's id"
    near = _still_object_hidden_8_s(1.0, 310)
    assert near["N"] == near["A"], "A coming back where it was must keep its id"


def test_max_over_the_other_detections_matches_brute_force():
    from occtrack_ros.tracking.features import _max_excluding_self

    rng = np.random.default_rng(0)
    for T, N in [(1, 1), (3, 1), (4, 2), (6, 7), (20, 20)]:
        m = rng.integers(0, 4, size=(T, N)).astype(float) / 4     # many ties
        brute = np.array([[max((m[i, k] for k in range(N) if k != j), default=0.0) for j in range(N)]
                          for i in range(T)])
        np.testing.assert_array_equal(_max_excluding_self(m), brute)


def test_a_track_never_takes_a_detection_of_another_colour():
    # A (red) walks right and is hidden from frame 15; from frame 20 B (blue) walks on exactly the path A
    # was predicted on. By motion B is A; by colour (the detections' mean chromaticity) it is not.
    red, blue = [0.7, 0.15, 0.15], [0.15, 0.2, 0.65]

    def ids(veto):
        tracker = make_tracker(TrackerConfig(fps=10.0, colour_veto=veto))
        a, b = set(), set()
        for i in range(30):
            if 15 <= i < 20:
                d = dets([])
            else:
                d = dets([[100 + 6 * i, 200, 130 + 6 * i, 240]], colours=np.array([red if i < 15 else blue]))
            for t in tracker.step(d, frame(i)).tracks:
                if t.detection_index >= 0:
                    (a if i < 15 else b).add(t.track_id)
        return a, b

    a, b = ids(0.0)
    assert a == b, "the scene must be one the motion alone gives to A"
    a, b = ids(0.1)
    assert len(a) == 1 and a.isdisjoint(b), (a, b)
    with pytest.raises(ValueError, match="colour_veto"):
        TrackerConfig(colour_veto=-0.1).validate()
