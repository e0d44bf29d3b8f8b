"""The occlusion world: determinism, exact depth/masks, geometry, and frequent full occlusions."""
from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pytest

from occtrack_ros.data.sequence import load_gt, load_sequence
from occtrack_ros.data.sequence_writer import write_sequence
from occtrack_ros.world.episodes import full_occlusion_episodes
from occtrack_ros.world.presets import make_sequence


def _generate(out: Path, seed: int, frames: int, preset: str = "occlusion") -> Path:
    return write_sequence(make_sequence(preset, seed, frames), out, progress=False)


@pytest.fixture(scope="module")
def default_seq(tmp_path_factory) -> Path:
    """A default-length occlusion sequence (200 frames, training seed 0)."""
    return _generate(tmp_path_factory.mktemp("occ") / "seq", seed=0, frames=200)


def _tree(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path):
    a = _generate(tmp_path / "a", seed=7, frames=40)
    b = _generate(tmp_path / "b", seed=7, frames=40)
    c = _generate(tmp_path / "c", seed=8, frames=40)
    files = _tree(a)
    assert files == _tree(b)
    assert {"seqinfo.ini", "camera.json", "poses.txt", "gt/gt.txt", "gt/gt3d.json", "img1/000040.png",
            "depth/000040.npy", "gt/masks/000040.png"} <= set(files)
    assert len([f for f in files if f.startswith("img1/")]) == 40
    _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert not mismatch and not errors, mismatch + errors
    _, mismatch, _ = filecmp.cmpfiles(a, c, ["img1/000001.png", "gt/gt.txt", "poses.txt"], shallow=False)
    assert len(mismatch) == 3


def test_layout_and_seqinfo(default_seq):
    seq = load_sequence(default_seq)
    assert len(seq) == 200 and seq.fps == 10.0 and seq.name == "occlusion-0000"
    frame = seq[199]
    assert frame.image.shape == (128, 128, 3) and frame.image.dtype == np.uint8
    assert frame.depth.shape == (128, 128) and frame.depth.dtype == np.float32
    assert frame.T_world_cam.shape == (4, 4) and frame.index == 199
    camera = json.loads((default_seq / "camera.json").read_text())
    assert set(camera) == {"fx", "fy", "cx", "cy", "width", "height"}
    with pytest.raises(IndexError):
        seq[200]


def test_visible_masks_have_the_object_depth_and_visibility_matches_masks(default_seq):
    seq = load_sequence(default_seq)
    gt = load_gt(default_seq)
    checked = 0
    for i in range(0, 200, 7):
        mask, depth = seq.mask(i), seq.depth(i)
        assert np.isfinite(depth).all() and (depth > 0).all()
        objects = gt.objects_at(i)
        ids_in_gt = {o["id"] for o in objects}
        assert set(np.unique(mask)) - {0} <= ids_in_gt
        for o in objects:
            pixels = mask == o["id"]
            assert pixels.sum() == o["visible_area"]
            assert o["visible_fraction"] == pytest.approx(o["visible_area"] / max(o["amodal_area"], 1), abs=1e-6)
            if pixels.any():
                np.testing.assert_allclose(depth[pixels], o["position_cam"][2], rtol=1e-6)
                # nothing visible in front of the sprite is farther than it, inside its visible box
                checked += 1
    assert checked > 20


def test_world_positions_project_to_the_amodal_box_centres(default_seq):
    seq = load_sequence(default_seq)
    gt = load_gt(default_seq)
    K = seq.intrinsics.K
    for i in range(0, 200, 13):
        T_cam_world = np.linalg.inv(seq.poses[i])
        for o in gt.objects_at(i):
            p = T_cam_world @ np.r_[o["position"], 1.0]
            uv = (K @ p[:3])[:2] / p[2]
            box = np.asarray(o["amodal_box"])
            np.testing.assert_allclose(uv, (box[:2] + box[2:]) / 2, atol=1e-2)


def test_camera_translates_and_pans_and_scene_has_parallax(default_seq):
    poses = load_sequence(default_seq).poses
    travel = np.ptp(poses[:, :3, 3], axis=0)
    assert travel[0] > 0.3 and travel[2] > 0.1, travel
    yaw = np.degrees(np.arctan2(poses[:, 0, 2], poses[:, 2, 2]))
    assert np.ptp(yaw) > 2.0
    depth = load_sequence(default_seq).depth(0)
    assert depth.max() > 3 * depth.min()  # occluders near, far wall far


def test_gt_rows_cover_fully_occluded_frames_with_visibility_zero(default_seq):
    gt = load_gt(default_seq)
    seq = load_sequence(default_seq)
    hidden = np.flatnonzero(gt.visibility == 0)
    assert len(hidden) > 0
    for row in hidden[:: max(1, len(hidden) // 25)]:
        f, oid, box = gt.frame[row], gt.track_id[row], gt.boxes[row]
        assert not (seq.mask(int(f)) == oid).any()
        assert box[2] > 0 and box[3] > 0 and box[0] < 128 and box[1] < 128  # amodal box meets the image


def test_full_occlusion_episodes_are_frequent(default_seq):
    gt = load_gt(default_seq)
    episodes = full_occlusion_episodes(gt, min_len=5)
    assert len(episodes) >= 3, episodes
    for oid, start, end in episodes:
        assert end - start + 1 >= 5
        rows = (gt.track_id == oid) & (gt.frame >= start) & (gt.frame <= end)
        assert rows.sum() == end - start + 1 and (gt.visibility[rows] == 0).all()
        # maximal: the frames just before/after are visible or out of view
        for f in (start - 1, end + 1):
            r = (gt.track_id == oid) & (gt.frame == f)
            assert not r.any() or gt.visibility[r][0] > 0
    assert full_occlusion_episodes(default_seq) == episodes  # path input, same definition


def test_objects_enter_and_leave_the_view(default_seq):
    gt = load_gt(default_seq)
    gaps = 0
    for oid in gt.ids:
        frames = np.sort(gt.frame[gt.track_id == oid])
        gaps += int((frames[0] > 0) or (frames[-1] < 199) or (np.diff(frames) > 1).any())
    assert gaps >= 1


def test_frame_size_option_and_its_bounds(tmp_path):
    seq = make_sequence("occlusion", 3, num_frames=3, width=96, height=64)
    out = write_sequence(seq, tmp_path / "s", progress=False)
    loaded = load_sequence(out)
    assert loaded[0].image.shape == (64, 96, 3)
    with pytest.raises(ValueError, match="width=300"):
        make_sequence("occlusion", 3, num_frames=3, width=300)
    with pytest.raises(ValueError, match="unknown preset"):
        make_sequence("nope", 0)
