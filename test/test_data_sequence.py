"""Sequence directory reading: MOT rows -> 0-based xyxy arrays, gt3d, frames, clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from occtrack_ros.data.frames import open_frames
from occtrack_ros.data.sequence import load_gt, load_sequence
from occtrack_ros.data.sequence_writer import write_sequence
from occtrack_ros.world.presets import make_sequence


@pytest.fixture(scope="module")
def seq_dir(tmp_path_factory):
    return write_sequence(make_sequence("occlusion", 4, 20), tmp_path_factory.mktemp("s") / "seq", progress=False)


def test_load_gt_matches_gt_txt_and_gt3d(seq_dir):
    gt = load_gt(seq_dir)
    rows = np.loadtxt(seq_dir / "gt" / "gt.txt", delimiter=",", ndmin=2)
    assert len(gt) == len(rows) and gt.num_frames == 20
    assert gt.frame.min() >= 0 and gt.frame.max() <= 19
    np.testing.assert_array_equal(gt.frame, rows[:, 0] - 1)
    np.testing.assert_allclose(gt.boxes[:, 2:] - gt.boxes[:, :2], rows[:, 4:6], atol=1e-3)
    assert (rows[:, 6] == 1).all() and (rows[:, 7] == 1).all()
    for r in gt.rows_at(5):
        match = [o for o in gt.objects_at(5) if o["id"] == gt.track_id[r]]
        assert len(match) == 1
        np.testing.assert_allclose(match[0]["amodal_box"], gt.boxes[r], atol=1e-3)
        assert match[0]["visible_fraction"] == pytest.approx(gt.visibility[r], abs=1e-6)
    assert gt.gt3d["scene"]["objects"] and gt.gt3d["name"] == "occlusion-0004"
    assert len(load_gt(seq_dir / "gt" / "gt.txt")) == len(gt)


def test_open_frames_on_a_sequence_dir_is_lazy_and_ordered(seq_dir):
    it = open_frames(seq_dir)
    first = next(it)
    assert first.index == 0 and first.image.shape == (128, 128, 3) and first.depth is not None
    assert [f.index for f in it] == list(range(1, 20))
    seq = load_sequence(seq_dir, load_depth=False)
    assert seq[-1].index == 19 and seq[-1].depth is None


def test_missing_files_are_named(tmp_path, seq_dir):
    with pytest.raises(FileNotFoundError, match="seqinfo.ini"):
        (tmp_path / "d").mkdir()
        load_sequence(tmp_path / "d")
    with pytest.raises(FileNotFoundError, match="gt.txt"):
        load_gt(tmp_path / "d")
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(seq_dir, broken)
    (broken / "img1" / "000007.png").unlink()
    with pytest.raises(FileNotFoundError, match="000007.png"):
        load_sequence(broken)[6]
    (broken / "poses.txt").write_text("1 0 0 0 0 0 0 1\n")
    with pytest.raises(ValueError, match="expected frames 1..20"):
        load_sequence(broken)
