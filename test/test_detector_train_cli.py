"""`occtrack train detector` end to end on a tiny image-only sequence: checkpoint, resume, refusals."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from occtrack_ros.cli import main
from occtrack_ros.models.detector import load_detector
from occtrack_ros.types import Frame

TINY = ["--set", "image_size=32", "--set", "cnn_channels=8", "--set", "num_slots=3", "--set", "slot_dim=16",
        "--set", "slot_mlp_hidden=16", "--set", "decoder_channels=8", "--set", "decoder_upsamples=2"]


def _write_sequence(root, name, frames=6):
    """Only what training reads: seqinfo.ini and img1/ (no gt/, so reading it would fail)."""
    seq = root / name
    (seq / "img1").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nimDir=img1\nframeRate=10\nseqLength={frames}\n"
                                     "imWidth=48\nimHeight=40\nimExt=.png\n")
    rng = np.random.default_rng(0)
    for i in range(frames):
        cv2.imwrite(str(seq / "img1" / f"{i + 1:06d}.png"), rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
    return seq


def test_train_resume_and_load(tmp_path):
    data = tmp_path / "data"
    _write_sequence(data, "occlusion-0003")
    out = tmp_path / "run"
    base = ["train", "detector", "--data", str(data), "--out", str(out), "--batch", "2", "--clip-len", "2",
            "--threads", "1", "--save-every", "2", "--warmup", "1"]
    assert main(base + ["--steps", "2"] + TINY) == 0
    assert (out / "loss.png").is_file() and (out / "detector.pt").is_file()
    assert main(base + ["--steps", "3", "--resume"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert history["step"] == [1, 2, 3]
    det = load_detector(out / "detector.pt", score_threshold=0.0)
    assert det.cfg.num_slots == 3
    dets = det.detect([Frame(image=np.zeros((40, 48, 3), np.uint8))])
    assert len(dets) == 1


def test_held_out_seed_is_refused(tmp_path, capsys):
    _write_sequence(tmp_path / "data", "occlusion-1004")
    code = main(["train", "detector", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                 "--steps", "1", "--threads", "1"] + TINY)
    assert code == 2
    assert "held-out" in capsys.readouterr().err


def test_bad_override_is_named(tmp_path, capsys):
    _write_sequence(tmp_path / "data", "occlusion-0001")
    assert main(["train", "detector", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                 "--set", "num_slotz=4"]) == 2
    assert "num_slotz" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["nowhere"])
def test_missing_data_dir(tmp_path, capsys, missing):
    assert main(["train", "detector", "--data", str(tmp_path / missing), "--out", str(tmp_path / "run")]) == 2
    assert missing in capsys.readouterr().err


def test_chunks_with_schedule_steps_follow_one_cosine_schedule(tmp_path):
    """`occtrack train all` stops between chunks: the chunks must give the very run the stage alone gives."""
    data = tmp_path / "data"
    _write_sequence(data, "occlusion-0003")
    base = ["train", "detector", "--data", str(data), "--batch", "2", "--clip-len", "2", "--threads", "1",
            "--warmup", "2", "--lr", "1e-3"]
    assert main(base + ["--out", str(tmp_path / "whole"), "--steps", "8"] + TINY) == 0
    chunked = base + ["--out", str(tmp_path / "chunks"), "--schedule-steps", "8"]
    assert main(chunked + ["--steps", "4"] + TINY) == 0
    assert main(chunked + ["--steps", "8", "--resume"]) == 0
    whole_h = json.loads((tmp_path / "whole" / "history.json").read_text())
    parts_h = json.loads((tmp_path / "chunks" / "history.json").read_text())
    whole, parts = whole_h["lr"], parts_h["lr"]
    assert len(whole) == 8 and parts == pytest.approx(whole)
    # The checkpoint carries the sampling and torch random streams: an interrupted run resumes exactly.
    assert parts_h["loss"] == pytest.approx(whole_h["loss"], rel=1e-5)
    assert whole[2] > whole[5] > whole[7], "the cosine decays"
    # Without --schedule-steps the first chunk would have decayed to its own end (the old sawtooth).
    assert main(base + ["--out", str(tmp_path / "short"), "--steps", "4"] + TINY) == 0
    short = json.loads((tmp_path / "short" / "history.json").read_text())["lr"]
    assert short[3] < parts[3]
