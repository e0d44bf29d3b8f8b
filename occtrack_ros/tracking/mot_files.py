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
# `replay`, the demo): observed ones, as SORT-style trackers write them, plus the coasting tracks whose miss
# is explained (``coasting_row``). `--occluded-rows` adds every coasting (amodal) box, e.g. to measure their
# error ("Coast px") or for MOT17's protocol, which counts occluded people.
MOT_STATES = (TrackState.CONFIRMED,)
MOT_STATES_WITH_OCCLUDED = (TrackState.CONFIRMED, TrackState.OCCLUDED)
# A coasting track is written for its first MOT_COAST_FRAMES unobserved frames when it is partly visible,
# at most MOT_COAST_MAX_VISIBLE of it (Track.visible_fraction): the image border cuts it, or nearer surfaces
# or detected objects cover part of it. Such an object is still there and the detector cannot box it. A
# track missed in plain view is not written (the object may be gone), nor one wholly hidden or outside the
# image (the occlusion protocol ignores fully hidden ground truth). Chosen on tuning seeds 24-69
# (weights/tracker.md, session 9).
MOT_COAST_FRAMES = 2
MOT_COAST_MAX_VISIBLE = 0.7


def coasting_row(state, frames_occluded: int, visible_fraction: float) -> bool:
    """Whether a coasting track is written as a result row beside the observed ones (see MOT_COAST_FRAMES)."""
    return (state == TrackState.OCCLUDED and 0 < frames_occluded <= MOT_COAST_FRAMES
            and 0.0 < visible_fraction <= MOT_COAST_MAX_VISIBLE)


def mot_row_wanted(state, frames_occluded: int, visible_fraction: float, states=MOT_STATES) -> bool:
    """Whether a track is a result row: its state is in ``states``, or it is an explained coasting track."""
    return state in states or coasting_row(state, frames_occluded, visible_fraction)


def result_rows(frame_index: int, tracks: list[Track], image_size: tuple[int, int] | None = None,
                states: tuple = MOT_STATES) -> list[str]:
    """MOT result lines (1-based frame) for the tracks in ``states`` (see MOT_STATES).

    With ``image_size`` (width, height), an occluded track whose predicted box lies mostly (more than
    half its area) outside the image is not written: it is hidden by the image border, where no ground
    truth exists to match it, and it stays alive only so that it keeps its id when it comes back.
    """
    lines = []
    for t in tracks:
        if not row_written(t, image_size, states):
            continue
        x1, y1, x2, y2 = (float(v) for v in t.box)
        lines.append(f"{frame_index + 1},{t.track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                     f"{t.existence_probability:.3f},-1,-1,-1")
    return lines


def row_written(t: Track, image_size: tuple[int, int] | None = None, states: tuple = MOT_STATES) -> bool:
    """Whether ``result_rows`` writes track ``t``.

    It must be ``mot_row_wanted``; with ``image_size``, an occluded track mostly outside the image is
    left out unless it is an explained coasting track.
    """
    if not mot_row_wanted(t.state, t.frames_occluded, t.visible_fraction, states):
        return False
    return not (t.state == TrackState.OCCLUDED and image_size is not None and not _mostly_inside(t.box, image_size)
                and not coasting_row(t.state, t.frames_occluded, t.visible_fraction))


def inside_area(box, image_size: tuple[int, int]) -> float:
    """Area [px^2] of the part of an xyxy box that lies inside a ``(width, height)`` image."""
    w, h = image_size
    x1, y1, x2, y2 = (float(v) for v in box)
    return max(0.0, min(x2, w) - max(x1, 0.0)) * max(0.0, min(y2, h) - max(y1, 0.0))


def _mostly_inside(box, image_size: tuple[int, int]) -> bool:
    x1, y1, x2, y2 = (float(v) for v in box)
    return inside_area(box, image_size) >= 0.5 * max((x2 - x1) * (y2 - y1), 1e-9)
