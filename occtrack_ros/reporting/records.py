"""The tracker's published tracks, as recorded by ``occtrack_ros.ros.track_recorder``.

A record is one TrackedObjectArray: ``{"topic": "tracks", "stamp_ns", "frame_id", "objects":
[{"id", "state", "bbox": [x, y, w, h], "existence_probability", ...}]}``. Frames are identified by
the input image stamp, which the node copies onto its output; a sequence maps stamps to frames.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from occtrack_ros.tracking.mot_files import MOT_STATES, mot_row_wanted
from occtrack_ros.types import TrackState

# Timeline codes (what a person watching the track sees), -1 where the track does not exist.
ABSENT, VISIBLE, OCCLUDED, LOST = -1, 0, 1, 2
STATE_NAMES = {VISIBLE: "visible", OCCLUDED: "occluded", LOST: "lost"}


def read_records(path: str | Path) -> list[dict]:
    """Tracks records from a recorder ``.jsonl`` file or a ``.json`` list; marker records are skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no track records at {path}")
    text = path.read_text()
    if path.suffix == ".json":
        records = json.loads(text)
        if not isinstance(records, list):
            raise ValueError(f"{path}: expected a JSON list of TrackedObjectArray records")
    else:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r for r in records if r.get("topic", "tracks") == "tracks"]


def frames_of(records: list[dict], stamps_ns: list[int]) -> list[int]:
    """0-based frame of each record, from the sequence's frame stamps; an unknown stamp raises."""
    index = {int(s): i for i, s in enumerate(stamps_ns)}
    frames = []
    for r in records:
        s = int(r["stamp_ns"])
        if s not in index:
            raise ValueError(f"record stamped {s} ns matches no frame of the sequence "
                             f"({stamps_ns[0]} .. {stamps_ns[-1]} ns)")
        frames.append(index[s])
    return frames


def mot_rows(records: list[dict], frames: list[int], states=MOT_STATES) -> np.ndarray:
    """``(M, 7)`` MOTChallenge rows (1-based frame, id, x, y, w, h, existence probability).

    The states of ``MOT_STATES`` (observed tracks) plus the explained coasting tracks
    (``mot_files.coasting_row``), as ``tracks_msg_to_mot_rows`` writes them for `occtrack replay`.
    """
    assert len(records) == len(frames), f"{len(records)} records but {len(frames)} frames"
    rows = []
    for rec, f in zip(records, frames):
        for o in rec["objects"]:
            if mot_row_wanted(o["state"], o.get("frames_occluded", 0), o.get("visible_fraction", 0.0), states):
                rows.append([f + 1, o["id"], *o["bbox"], o["existence_probability"]])
    return np.array(rows, np.float64).reshape(-1, 7)


def tracks_by_frame(records: list[dict], frames: list[int], num_frames: int) -> list[list[dict]]:
    """The objects published for each 0-based frame (empty for frames without a message)."""
    out: list[list[dict]] = [[] for _ in range(num_frames)]
    for rec, f in zip(records, frames):
        if not 0 <= f < num_frames:
            raise ValueError(f"frame {f} outside the sequence of {num_frames} frames")
        out[f] = list(rec["objects"])
    return out


def state_timeline(per_frame: list[list[dict]]) -> tuple[list[int], np.ndarray]:
    """Track ids (sorted) and an ``(K, F)`` int8 matrix of VISIBLE / OCCLUDED / LOST / ABSENT codes.

    TENTATIVE and CONFIRMED are VISIBLE (the track was observed), OCCLUDED is coasting, LOST marks
    the frame of the track's final message.
    """
    code = {TrackState.TENTATIVE: VISIBLE, TrackState.CONFIRMED: VISIBLE, TrackState.OCCLUDED: OCCLUDED,
            TrackState.LOST: LOST}
    ids = sorted({int(o["id"]) for objs in per_frame for o in objs})
    row = {tid: k for k, tid in enumerate(ids)}
    timeline = np.full((len(ids), len(per_frame)), ABSENT, np.int8)  # (K, F)
    for f, objs in enumerate(per_frame):
        for o in objs:
            state = int(o["state"])
            if state not in code:
                raise ValueError(f"frame {f}: track {o['id']} has unknown state {state}")
            timeline[row[int(o["id"])], f] = code[TrackState(state)]
    return ids, timeline
