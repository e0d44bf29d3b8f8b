"""Offline re-linking across occlusion gaps (occtrack_ros/tracking/relink.py, offline.relink_rows)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from occtrack_ros.tracking import TrackerConfig, make_tracker
from occtrack_ros.tracking.offline import OfflineRecorder, relink_rows
from occtrack_ros.tracking.relink import RelinkConfig, Tracklet, _fit, _min_on_triangle, link_cost, relink, split_frames
from occtrack_ros.types import CameraIntrinsics, Detections, Frame


def path(points: list[tuple[int, float, float]], frames: range) -> np.ndarray:
    """Piecewise-linear centre path through (frame, x, y) knots -> (len(frames), 4) xyxy boxes, 20x16 px."""
    f, x, y = (np.array(v, float) for v in zip(*points))
    cx, cy = np.interp(frames, f, x), np.interp(frames, f, y)
    return np.column_stack([cx - 10, cy - 8, cx + 10, cy + 8])


def test_min_on_triangle_matches_a_brute_force_search():
    rng = np.random.default_rng(0)
    grid = np.linspace(0, 1, 201)
    for _ in range(20):
        a, b, c = rng.normal(0, 5, 2), rng.normal(0, 1, 2), rng.normal(0, 1, 2)
        limit = float(rng.uniform(1, 10))
        t, u = np.meshgrid(grid * limit, grid * limit)
        keep = t + u <= limit
        brute = np.linalg.norm(a[None] + t[keep][:, None] * b + u[keep][:, None] * c, axis=1).min()
        assert _min_on_triangle(a, b, c, limit) == pytest.approx(brute, abs=0.05 * limit)


def test_split_frames_cuts_at_gaps_of_split_gap_frames():
    runs = split_frames(np.array([0, 1, 2, 4, 5, 9, 10]), split_gap=3)
    assert [r.tolist() for r in runs] == [[0, 1, 2, 4, 5], [9, 10]]
    assert split_frames(np.array([], int), 3) == []


@pytest.mark.parametrize("time_slack", [0.0, 1.0])
def test_two_objects_that_turn_behind_one_occluder_get_their_own_pieces_back(time_slack):
    # A walks right and B walks left into the same occluder at x = 100; while hidden, A turns back
    # (it comes out on the left, moving left) and B keeps going (it also comes out on the left, later
    # and lower). Forward prediction alone gives the left exit to whichever is nearer; from both sides,
    # only A's paths meet (at its turn) and only B's do (it never turned).
    before, after = range(0, 20), range(40, 60)
    a = path([(0, 40, 50), (30, 100, 50), (60, 40, 50)], range(60))
    b = path([(0, 160, 70), (60, 40, 70)], range(60))
    t_a0 = Tracklet(np.array(before), a[list(before)], source=1)
    t_b0 = Tracklet(np.array(before), b[list(before)], source=2)
    t_a1 = Tracklet(np.array(after), a[list(after)], source=3)
    t_b1 = Tracklet(np.array(after), b[list(after)], source=4)
    chains = relink([t_a0, t_b0, t_b1, t_a1], RelinkConfig(time_slack=time_slack))
    assert sorted(map(sorted, chains)) == [[0, 3], [1, 2]]


def test_far_apart_pieces_are_not_linked():
    before, after = range(0, 20), range(30, 50)
    a = path([(0, 40, 50), (50, 140, 50)], range(50))
    other = path([(0, 400, 300), (50, 420, 300)], range(50))
    chains = relink([Tracklet(np.array(before), a[list(before)], 1),
                     Tracklet(np.array(after), other[list(after)], 2)], RelinkConfig())
    assert sorted(map(sorted, chains)) == [[0], [1]]


def test_an_object_that_stayed_out_of_view_for_120_frames_is_linked_back():
    # It leaves at the right border, stays out for 120 frames (longer than the live tracker keeps a track)
    # and comes back where it left, at the same size: one chain. A gap beyond max_gap stays two.
    a = path([(0, 500, 200), (20, 630, 200), (140, 630, 200), (160, 500, 200)], range(160))
    before, after = range(0, 20), range(140, 160)
    pieces = [Tracklet(np.array(before), a[list(before)], 1, border_end=True),
              Tracklet(np.array(after), a[list(after)], 2, border_start=True)]
    assert sorted(map(sorted, relink(pieces, RelinkConfig()))) == [[0, 1]]
    assert sorted(map(sorted, relink(pieces, RelinkConfig(max_gap=100)))) == [[0], [1]]


def test_relink_rows_undoes_an_identity_swap_at_a_gap():
    # Two objects on parallel lanes, both hidden for frames 20-34; the tracker brought them back with
    # swapped ids (1 on the lower lane, 2 on the upper). Relinking gives each lane one id.
    frames = range(50)
    up = path([(0, 50, 100), (50, 300, 100)], frames)
    down = path([(0, 50, 200), (50, 300, 200)], frames)
    rows = []
    for f in frames:
        if 20 <= f < 35:
            continue
        for tid, b in ((1, up[f]), (2, down[f])) if f < 20 else ((2, up[f]), (1, down[f])):
            rows.append([f + 1, tid, b[0], b[1], b[2] - b[0], b[3] - b[1], 1.0])
    out = relink_rows(np.array(rows))
    lane = out[:, 3] < 150
    assert len(np.unique(out[lane, 1])) == 1 and len(np.unique(out[~lane, 1])) == 1
    assert np.unique(out[lane, 1]) != np.unique(out[~lane, 1])
    assert len(out) == len(rows)


def test_recorder_with_relink_keeps_the_id_of_an_object_that_turned_while_hidden():
    # Boxes only, one object: it walks right, is hidden for 30 frames during which it turns back, and
    # comes out where it went in, moving left. The live tracker's prediction has gone on to the right,
    # so it starts a new track; relinking joins the two.
    intr = CameraIntrinsics.default_for(640, 480)
    boxes = path([(0, 100, 200), (40, 260, 200), (55, 230, 200), (100, 50, 200)], range(100))
    hidden = range(40, 70)
    ids = {}
    for relinked in (False, True):
        tracker = make_tracker(TrackerConfig(fps=10.0))
        rec = OfflineRecorder((640, 480), max_gap_frames=10, backfill=True,
                              relink=RelinkConfig(time_slack=1.0) if relinked else None)
        for i in range(100):
            b = np.array([] if i in hidden else [boxes[i]], np.float32).reshape(-1, 4)
            rec.add(i, tracker.step(Detections(boxes=b, scores=np.ones(len(b))),
                                    Frame(image=np.zeros((0, 0, 3), np.uint8), stamp_ns=int(i * 1e8), index=i,
                                          intrinsics=intr)))
        ids[relinked] = set(np.unique(rec.rows()[:, 1]).astype(int))
    assert len(ids[False]) == 2, f"the scene must defeat the live tracker alone: {ids[False]}"
    assert len(ids[True]) == 1


@pytest.mark.parametrize("field,value", [("split_gap", 1), ("sigma", 0.0), ("online_bonus", -1.0),
                                         ("time_slack", -0.5), ("aspect_sigma", 0.0), ("scale_growth", -0.1),
                                         ("across_growth", 1.5), ("contest_gate", -1.0), ("colour_sigma", -0.1),
                                         ("colour_veto", -0.1), ("colour_jump", -0.1), ("nested_gate", -1.0)])
def test_bad_config_is_refused(field, value):
    with pytest.raises(ValueError, match="RelinkConfig"):
        RelinkConfig(**{field: value}).validate()


def test_every_tracklet_is_in_exactly_one_time_ordered_chain():
    rng = np.random.default_rng(3)
    tracklets = []
    for k in range(30):
        s = int(rng.integers(0, 150))
        fr = np.arange(s, s + int(rng.integers(1, 30)))
        tracklets.append(Tracklet(fr, path([(s, rng.uniform(0, 600), rng.uniform(0, 400)),
                                            (s + 40, rng.uniform(0, 600), rng.uniform(0, 400))], fr), k % 7))
    chains = relink(tracklets, RelinkConfig(gate=6.0))
    assert sorted(itertools.chain(*chains)) == list(range(30))
    for c in chains:
        assert all(tracklets[a].end < tracklets[b].start for a, b in zip(c, c[1:]))


def test_split_frames_cuts_where_an_observation_jumps_off_the_path():
    frames = np.arange(10)
    boxes = path([(0, 50, 50), (9, 95, 50)], frames)
    boxes[6] += 30                                       # the live tracker took a box 1.7 sizes away
    runs = split_frames(frames, split_gap=2, boxes=boxes, jump=0.5)
    assert [r.tolist() for r in runs] == [[0, 1, 2, 3, 4, 5], [6], [7, 8, 9]]
    assert len(split_frames(frames, 2, boxes=path([(0, 50, 50), (9, 95, 50)], frames), jump=0.5)) == 1
    assert [r.tolist() for r in split_frames(frames, 2, min_run=2, boxes=boxes, jump=0.5)] == [
        [0, 1, 2, 3, 4, 5, 6], [7, 8, 9]], "a one-frame piece stays with the run before it"


def test_a_false_positive_that_begins_a_run_does_not_cut_the_rest_of_it_into_single_frames():
    # After a gap the live tracker takes a false positive 15 px off, then the object moving 1.5 px a
    # frame. The velocity of that first pair is false; the object's own run must stay whole.
    frames = np.concatenate([np.arange(0, 10), np.arange(20, 45)])
    boxes = path([(0, 120, 50), (44, 54, 50)], frames)
    boxes[10] += np.array([-15, 8, -15, 8])
    runs = split_frames(frames, split_gap=2, boxes=boxes, jump=0.5)
    assert max(len(r) for r in runs) >= 23, [r.tolist() for r in runs]
    assert len(runs) <= 4, [r.tolist() for r in runs]


def test_size_change_is_scale_tolerated_more_after_long_gaps_and_aspect():
    def cost(size_j, gap, **kw):
        end = (np.zeros(2), np.zeros(2), np.array([20.0, 10.0]), 6)        # at rest: the size terms alone
        return link_cost(end, (np.zeros(2), np.zeros(2), np.asarray(size_j, float), 6), gap, RelinkConfig(**kw))

    nearer, other_shape = [30.0, 15.0], [20.0, 15.0]    # 1.5 x the scale; 1.5 x the height at the same width
    assert cost(nearer, 60) < 0.5 * cost(nearer, 2), "it may have come nearer while hidden for long"
    # the other shape changed one side by 1.5, the nearer object both, yet the other shape costs more
    assert cost(other_shape, 60) > 1.2 * cost(nearer, 60), "depth does not change the aspect"
    # scale_growth 0 and aspect_sigma = size_sigma: the plain 0.5 |log size change|^2 / size_sigma^2
    d = np.log(np.array(other_shape) / [20.0, 10.0])
    assert cost(other_shape, 30, scale_growth=0.0, aspect_sigma=0.25) == pytest.approx(0.5 * (d @ d) / 0.25 ** 2)


def test_where_objects_never_return_a_piece_that_left_is_not_joined_to_one_that_came_in():
    # A leaves through the right border of a 200 x 100 view; 20 frames later B comes in through the
    # right border moving left. Their paths meet out of view, which is a link where objects roam
    # out and back (border_links=True) and never one where what leaves is gone (Sprites-MOT).
    from occtrack_ros.tracking.relink import touches_border

    a = path([(0, 150, 50), (20, 195, 50)], range(21))
    b = path([(40, 195, 60), (60, 150, 60)], range(40, 61))
    view = (200, 100)
    pieces = [Tracklet(np.arange(21), a, 1, 0, touches_border(a[0], view), touches_border(a[-1], view)),
              Tracklet(np.arange(40, 61), b, 2, 0, touches_border(b[0], view), touches_border(b[-1], view))]
    assert pieces[0].border_end and pieces[1].border_start
    assert sorted(map(sorted, relink(pieces, RelinkConfig(border_links=True)))) == [[0, 1]]
    assert sorted(map(sorted, relink(pieces, RelinkConfig(border_links=False)))) == [[0], [1]]


@pytest.mark.parametrize("cue", ["embedding", "colour"])
def test_appearance_decides_where_motion_cannot(cue):
    # A and B walk side by side into one occluder and come out side by side, swapped in the image:
    # by motion alone either pairing costs the same (both paths meet); their embeddings, or their
    # colours (the detections' mean chromaticity), tell them apart.
    before, after = range(0, 20), range(35, 55)
    upper = path([(0, 40, 50), (55, 150, 50)], range(55))
    lower = path([(0, 40, 58), (55, 150, 58)], range(55))
    if cue == "embedding":
        look_a, look_b = {"embedding": np.array([1.0, 0.0, 0.0])}, {"embedding": np.array([0.0, 1.0, 0.0])}
        on, veto = RelinkConfig(appearance_sigma=0.1), RelinkConfig(appearance_sigma=10.0, appearance_veto=0.5)
    else:
        look_a, look_b = {"colour": np.array([0.7, 0.15, 0.15])}, {"colour": np.array([0.15, 0.2, 0.65])}
        on, veto = RelinkConfig(colour_sigma=0.05), RelinkConfig(colour_sigma=10.0, colour_veto=0.1)
    pieces = [Tracklet(np.array(before), upper[list(before)], 1, **look_a),
              Tracklet(np.array(before), lower[list(before)], 2, **look_b),
              Tracklet(np.array(after), lower[list(after)], 3, **look_a),   # A came out on the lower lane
              Tracklet(np.array(after), upper[list(after)], 4, **look_b)]
    assert sorted(map(sorted, relink(pieces, on))) == [[0, 2], [1, 3]]
    assert sorted(map(sorted, relink(pieces, RelinkConfig()))) == [[0, 3], [1, 2]], "motion alone: the lanes"
    vetoed = relink(pieces[:1] + pieces[3:], veto)
    assert sorted(map(sorted, vetoed)) == [[0], [1]], "looks unlike: never linked"


def test_recorder_keeps_the_detections_embeddings_for_relinking():
    intr = CameraIntrinsics.default_for(640, 480)
    tracker = make_tracker(TrackerConfig(fps=10.0))
    rec = OfflineRecorder((640, 480), relink=RelinkConfig(appearance_sigma=0.1))
    boxes = path([(0, 100, 200), (30, 250, 200)], range(30))
    for i in range(30):
        out = tracker.step(Detections(boxes=boxes[i:i + 1].astype(np.float32), scores=np.ones(1)),
                           Frame(image=np.zeros((0, 0, 3), np.uint8), stamp_ns=int(i * 1e8), index=i, intrinsics=intr))
        rec.add(i, out, np.array([[3.0, 4.0]], np.float32))
    observed = [r for r in rec._rows if r.observed]
    assert observed and all(np.allclose(r.embedding, [3.0, 4.0]) for r in observed)
    assert len(np.unique(rec.rows()[:, 1])) == 1


def test_the_live_link_across_a_jump_gets_no_bonus():
    # The live track 1 follows A (moving right) and jumps, at frame 10, onto B: the nearly still object
    # that track 2 followed until frame 3. Without its bonus the live link loses to 2 -> B.
    a = Tracklet(np.arange(0, 10), path([(0, 100, 100), (9, 145, 100)], np.arange(0, 10)), source=1, piece=0)
    b = Tracklet(np.arange(10, 20), path([(10, 147, 108), (19, 143, 108)], np.arange(10, 20)), source=1, piece=1)
    c = Tracklet(np.arange(0, 4), path([(0, 150, 108), (3, 149, 108)], np.arange(0, 4)), source=2, piece=0)
    cfg = RelinkConfig(online_bonus=1.0)
    fit = [(t.frames, t.boxes) for t in (a, b, c)]
    ends = [_fit(f, bx, f[-1], cfg.fit_frames) for f, bx in fit]
    starts = [_fit(f, bx, f[0], cfg.fit_frames) for f, bx in fit]
    a_b, c_b = link_cost(ends[0], starts[1], 1, cfg), link_cost(ends[2], starts[1], 7, cfg)
    assert a_b - cfg.online_bonus < c_b < a_b, "the scene must be one the bonus would decide"
    chains = relink([a, b, c], cfg)
    assert [2, 1] in chains and [0] in chains, chains


def test_the_spread_grows_more_slowly_across_the_axis_of_motion():
    def cost(offset, v=(2.0, 0.0), **kw):
        size = np.array([12.0, 12.0])
        end = (np.zeros(2), np.asarray(v, float), size, 6)
        start = (np.asarray(offset, float), np.asarray(v, float), size, 6)
        return link_cost(end, start, 40, RelinkConfig(time_slack=0.0, **kw))   # meets at t + u = gap exactly

    along, across = [80.0 + 20.0, 0.0], [80.0, 20.0]    # 20 px ahead of / beside where 40 frames at 2 px put it
    assert cost(along, across_growth=0.1) == pytest.approx(cost(along, across_growth=1.0))
    assert cost(across, across_growth=0.1) > 3 * cost(across, across_growth=1.0)
    assert cost(across, v=(0.0, 0.0), across_growth=0.1) == pytest.approx(
        cost(across, v=(0.0, 0.0), across_growth=1.0)), "no motion, no axis"


def test_two_live_links_that_cross_at_a_shared_occlusion_lose_their_bonus():
    # A (5 px a frame) and B (3 px a frame, 8 px lower) are hidden together for 10 frames; the live
    # tracker gave each the other's id when they came back (sources 1 and 2 cross). The motion after
    # the gap fits the swap back better, but by less than the two bonuses: only the contest rule undoes it.
    frames_before, frames_after = np.arange(0, 10), np.arange(20, 30)
    a0 = path([(0, 100, 100), (9, 145, 100)], frames_before)
    a1 = path([(20, 200, 100), (29, 245, 100)], frames_after)
    b0 = path([(0, 120, 108), (9, 147, 108)], frames_before)
    b1 = path([(20, 180, 108), (29, 207, 108)], frames_after)
    pieces = [Tracklet(frames_before, a0, source=1, piece=0), Tracklet(frames_after, b1, source=1, piece=1),
              Tracklet(frames_before, b0, source=2, piece=0), Tracklet(frames_after, a1, source=2, piece=1)]
    cfg = RelinkConfig()
    ends = [_fit(t.frames, t.boxes, t.end, cfg.fit_frames) for t in pieces]
    starts = [_fit(t.frames, t.boxes, t.start, cfg.fit_frames) for t in pieces]
    live = link_cost(ends[0], starts[1], 11, cfg) + link_cost(ends[2], starts[3], 11, cfg)
    right = link_cost(ends[0], starts[3], 11, cfg) + link_cost(ends[2], starts[1], 11, cfg)
    assert right < live < right + 2 * cfg.online_bonus, "the scene must be one the bonuses would decide"
    assert sorted(relink(pieces, cfg)) == [[0, 3], [2, 1]]
    assert sorted(relink(pieces, RelinkConfig(contest_gate=0.0))) == [[0, 1], [2, 3]], "without the rule the swap stays"


def test_a_piece_too_short_to_link_keeps_the_live_trackers_association():
    # The live track 1 saw the object before a gap, once as it came out (frame 20) and again from frame
    # 30. The one-observation piece is never assigned; it stays in the chain between its live neighbours
    # rather than becoming an id of its own.
    def piece(frames, k):
        return Tracklet(frames, path([(0, 100, 100), (40, 180, 100)], frames), source=1, piece=k)

    pieces = [piece(np.arange(0, 10), 0), piece(np.array([20]), 1), piece(np.arange(30, 40), 2)]
    assert sorted(relink(pieces, RelinkConfig())) == [[0, 1, 2]]
    # Where another piece of the chain covers its frames, it stays alone.
    other = Tracklet(np.arange(18, 25), path([(0, 100, 100), (40, 180, 100)], np.arange(18, 25)), source=2, piece=0)
    chains = relink([pieces[0], pieces[1], other], RelinkConfig())
    assert [1] in chains and all(1 not in c for c in chains if len(c) > 1), chains


def test_split_frames_cuts_where_the_colour_jumps():
    frames = np.arange(10)
    colours = np.tile([0.5, 0.3, 0.2], (10, 1))
    colours[6:] = [0.2, 0.3, 0.5]                  # the live track went on with another object at frame 6
    colours[2] = np.nan                            # a frame without a colour neither cuts nor hides the jump
    colours[3] += 0.01                             # a small change does not cut
    runs = split_frames(frames, 3, colours=colours, colour_jump=0.07)
    assert [r.tolist() for r in runs] == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9]]
    assert len(split_frames(frames, 3, colours=colours)) == 1, "colour_jump 0: off"


def test_two_live_tracks_that_take_turns_on_one_object_become_one():
    # One object walks right at 3 px a frame, hidden every few frames. The live tracker had two tracks
    # on it that took turns (1: frames 0-9 and 30-39; 2: frames 15-24 and 45-54), each with a live link
    # over the other's piece. With a strong live bonus those two links win; the nested rule takes their
    # bonus away, and the object is one chain.
    whole = path([(0, 40, 50), (60, 220, 50)], range(60))
    spans = [(range(0, 10), 1, 0), (range(15, 25), 2, 0), (range(30, 40), 1, 1), (range(45, 55), 2, 1)]
    pieces = [Tracklet(np.array(r), whole[list(r)], source=s, piece=p) for r, s, p in spans]
    strong = RelinkConfig(online_bonus=5.0, contest_gate=0.0)    # as behind the slot detector
    assert sorted(relink(pieces, strong)) == [[0, 2], [1, 3]], "the scene must be one the bonus decides"
    assert relink(pieces, RelinkConfig(online_bonus=5.0, contest_gate=0.0, nested_gate=3.0)) == [[0, 1, 2, 3]]
