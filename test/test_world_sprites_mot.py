"""Sprites-MOT follows the Tracking-by-Animation protocol."""
from __future__ import annotations

import numpy as np
import pytest

from occtrack_ros.data.sequence import load_gt, load_sequence
from occtrack_ros.data.sequence_writer import write_sequence
from occtrack_ros.world.presets import make_sequence
from occtrack_ros.world.sprites_mot import PLANE_DEPTH


@pytest.fixture(scope="module")
def sprites_seq(tmp_path_factory):
    return write_sequence(make_sequence("sprites-mot", 5, 300), tmp_path_factory.mktemp("spr") / "s", progress=False)


def test_protocol_frame_size_object_count_and_speed(sprites_seq):
    seq, gt = load_sequence(sprites_seq), load_gt(sprites_seq)
    assert len(seq) == 300 and seq[0].image.shape == (128, 128, 3)
    per_frame = np.bincount(gt.frame, minlength=300)
    assert per_frame.max() == 3 and per_frame.min() >= 0
    assert len(gt.ids) >= 15  # objects keep arriving and leaving
    for oid in gt.ids:
        sel = gt.track_id == oid
        frames, boxes = gt.frame[sel], gt.boxes[sel].astype(np.float64)
        assert (np.diff(frames) == 1).all()  # straight through, never re-enters
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        np.testing.assert_allclose(np.linalg.norm(np.diff(centres, axis=0), axis=1), 5.3, atol=2e-3)
        size = boxes[0, 2:] - boxes[0, :2]
        assert np.sqrt(size.prod()) == pytest.approx(21.0, rel=0.1 + 1e-3)
        assert 0.8 - 1e-3 <= size[1] / size[0] <= 1.2 + 1e-3  # aspect ratio h / w jitter 0.2
        entry, exit_ = boxes[0], boxes[-1]
        assert min(entry[0], entry[1], 128 - entry[2], 128 - entry[3]) < 5.3 + 1e-3  # enters at an edge
        if frames[-1] < 299:  # left before the end: it was at an edge in its last frame
            assert min(exit_[0], exit_[1], 128 - exit_[2], 128 - exit_[3]) < 5.3 + 1e-3


def test_slot_compositing_gives_real_occlusion_and_exact_masks(sprites_seq):
    seq, gt = load_sequence(sprites_seq), load_gt(sprites_seq)
    assert (gt.visibility < 1).any()
    for i in range(0, 300, 17):
        mask, image = seq.mask(i), seq.image(i)
        assert ((mask > 0) == (image.max(axis=2) > 0)).all()  # black background, saturated sprites
        for o in gt.objects_at(i):
            assert (mask == o["id"]).sum() == o["visible_area"]


def test_static_camera_constant_depth_plane(sprites_seq):
    seq = load_sequence(sprites_seq)
    assert np.allclose(seq.poses, np.eye(4))
    assert (seq.depth(10) == PLANE_DEPTH).all()


def test_sprites_is_fixed_at_128(tmp_path):
    with pytest.raises(ValueError, match="128x128"):
        make_sequence("sprites-mot", 0, 5, width=64)


def test_free_slot_waits_five_frames_then_spawns_with_probability_half():
    from occtrack_ros.world.sprites_mot import SpritesMot, SpritesMotConfig

    world = SpritesMot(11, SpritesMotConfig(num_frames=600))
    occupied = []
    for _ in world.frames():
        occupied.append([s is not None for s in world.slots])
    occupied = np.array(occupied)  # (T, 3)
    excess = []
    for k in range(3):
        runs, start = [], None
        for t, busy in enumerate(occupied[:, k]):
            if not busy and start is None:
                start = t
            if busy and start is not None:
                runs.append(t - start)
                start = None
        assert min(runs) >= 5, runs
        excess += [r - 5 for r in runs]
    assert 0.6 < np.mean(excess) < 1.5  # geometric with p = 0.5: mean 1 extra frame


def test_generate_count_writes_one_directory_per_seed(tmp_path):
    from occtrack_ros.cli import main

    assert main(["generate", "--preset", "sprites-mot", "--frames", "3", "--count", "2", "--seed", "40",
                 "--out", str(tmp_path), "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sprites-mot-0040", "sprites-mot-0041"]
    assert len(load_sequence(tmp_path / "sprites-mot-0041")) == 3
