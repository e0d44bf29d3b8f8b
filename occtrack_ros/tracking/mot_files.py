"""MOTChallenge text files as the tracker reads and writes them (det.txt in, results out)."""
from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np

from occtrack_ros.types import Detections, Track, TrackState


def read_seqinfo(path: str | Path) -> dict:
    """seqinfo.ini -> {"name", "fps", "length", "width", "height"} (missing keys are None)."""
    path = Path(path)
    if path.is_dir():
        path = path / "seqinfo.ini"
    if not path.is_file():
        raise FileNotFoundError(f"seqinfo.ini not found: {path}")
    cp = configparser.ConfigParser()
    cp.read(path)
    if "Sequence" not in cp:
        raise ValueError(f"{path}: no [Sequence] section")
    s = cp["Sequence"]

    def num(key, cast):
        return cast(s[key]) if key in s else None
    return {"name": s.get("name"), "fps": num("frameRate", float), "length": num("seqLength", int),
            "width": num("imWidth", int), "height": num("imHeight", int)}


def read_mot_detections(path: str | Path) -> dict[int, Detections]:
    """det.txt (frame,id,x,y,w,h,score,...; 1-based frames, any order) -> {0-based frame: Detections}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"detections file not found: {path}")
    rows = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64) if path.stat().st_size else np.zeros((0, 7))
    if rows.shape[1] < 7:
        raise ValueError(f"{path}: expected at least 7 columns (frame,id,x,y,w,h,score), got {rows.shape[1]}")
    out: dict[int, Detections] = {}
    frames = rows[:, 0].astype(int)
    if len(frames) and frames.min() < 1:
        raise ValueError(f"{path}: frame numbers are 1-based, found {frames.min()}")
    for f in np.unique(frames):
        r = rows[frames == f]
        boxes = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1)
        out[int(f) - 1] = Detections(boxes=boxes, scores=np.clip(r[:, 6], 0.0, 1.0))
    return out


# The tracks written as MOTChallenge result rows, everywhere (`occtrack track`, `track-dets`, `baselines`,
# `replay`, the demo): observed ones only, as SORT-style trackers write them. The occlusion protocol ignores
# fully hidden ground truth, so a coasting box can only be judged against partly visible objects, where the
# detector's box is the better answer; `--occluded-rows` adds the coasting (amodal) boxes, e.g. to measure
# their error ("Coast px") or for MOT17's protocol, which counts occluded people.
MOT_STATES = (TrackState.CONFIRMED,)
MOT_STATES_WITH_OCCLUDED = (TrackState.CONFIRMED, TrackState.OCCLUDED)


def result_rows(frame_index: int, tracks: list[Track], image_size: tuple[int, int] | None = None,
                states: tuple = MOT_STATES) -> list[str]:
    """MOT result lines (1-based frame) for the tracks in ``states`` (see MOT_STATES).

    With ``image_size`` (width, height), an occluded track whose predicted box lies mostly (more than
    half its area) outside the image is not written: it is hidden by the image border, where no ground
    truth exists to match it, and it stays alive only so that it keeps its id when it comes back.
    """
    lines = []
    for t in tracks:
        if t.state not in states:
            continue
        x1, y1, x2, y2 = (float(v) for v in t.box)
        if t.state == TrackState.OCCLUDED and image_size is not None and not _mostly_inside(t.box, image_size):
            continue
        lines.append(f"{frame_index + 1},{t.track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                     f"{t.existence_probability:.3f},-1,-1,-1")
    return lines


def _mostly_inside(box, image_size: tuple[int, int]) -> bool:
    w, h = image_size
    x1, y1, x2, y2 = (float(v) for v in box)
    inside = max(0.0, min(x2, w) - max(x1, 0.0)) * max(0.0, min(y2, h) - max(y1, 0.0))
    return inside >= 0.5 * max((x2 - x1) * (y2 - y1), 1e-9)
