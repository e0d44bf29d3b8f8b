"""Run a tracker on per-frame detections (a det.txt) and get MOTChallenge result rows.

Baselines come from the ``trackers`` package (Roboflow, Apache-2.0), each with the package's
default settings; only ``frame_rate`` is set, to the sequence's fps, because the package scales
its lost-track buffer (given in 30 fps frames) by it:

- ``sort``: ``SORTTracker()``: lost_track_buffer 30, track_activation_threshold 0.25,
  minimum_consecutive_frames 3, minimum_iou_threshold 0.3, XYXY Kalman state.
- ``bytetrack``: ``ByteTrackTracker()``: lost_track_buffer 30, track_activation_threshold 0.7,
  minimum_consecutive_frames 2, minimum_iou_threshold 0.1, high_conf_det_threshold 0.6.
- ``ocsort``: ``OCSORTTracker()``: lost_track_buffer 30, minimum_consecutive_frames 3,
  minimum_iou_threshold 0.3, direction_consistency_weight 0.2, high_conf_det_threshold 0.6,
  delta_t 3, XCYCSR Kalman state.

These trackers report the matched detection box of each confirmed track and nothing for a track
without a detection in the frame: they do not coast. Any row they give during a full-occlusion
episode is a detection (usually of another object) that was associated with the hidden track.

``ours`` is ``occtrack_ros.tracking.make_tracker()`` (imported lazily), set up as ``occtrack
track-dets`` does: ``TrackerConfig(fps=...)``, the sequence's intrinsics and, when given, the
camera poses (odometry, which the baselines cannot use). Its rows are those of
``occtrack_ros.tracking.mot_files.MOT_STATES`` (observed tracks, as the baselines write theirs),
with the existence probability as confidence.
"""
from __future__ import annotations

import numpy as np

from occtrack_ros.evaluation.mot_io import FRAME, H, X

BASELINES = ("sort", "bytetrack", "ocsort")
OURS = "ours"


def _baseline_tracker(name: str, frame_rate: float):
    import trackers

    classes = {"sort": trackers.SORTTracker, "bytetrack": trackers.ByteTrackTracker, "ocsort": trackers.OCSORTTracker}
    if name not in classes:
        raise ValueError(f"unknown baseline {name!r}; choose from {sorted(classes)}")
    return classes[name](frame_rate=float(frame_rate))


def ours_available() -> tuple[bool, str]:
    """Whether ``occtrack_ros.tracking.make_tracker`` can be imported, and why not."""
    try:
        from occtrack_ros.tracking import make_tracker  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip with a note"
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def _dets_by_frame(dets: np.ndarray, num_frames: int) -> list[np.ndarray]:
    frames = dets[:, FRAME].astype(int)
    if len(dets) and frames.max() > num_frames:
        raise ValueError(f"detections have frame {frames.max()} beyond the sequence length {num_frames}")
    order = np.argsort(frames, kind="stable")
    bounds = np.searchsorted(frames[order], np.arange(1, num_frames + 2))
    return [dets[order[bounds[t]:bounds[t + 1]]] for t in range(num_frames)]


def run_tracker(
    name: str, dets: np.ndarray, num_frames: int, frame_rate: float = 30.0,
    image_size: tuple[int, int] | None = None, ours_weights: str | None = None,
    intrinsics=None, poses: dict[int, np.ndarray] | None = None,
    interpolate_s: float = 0.0, backfill: bool = False, relink: bool = False, objects_return: bool = True,
) -> np.ndarray:
    """Track ``(K, >=7)`` detections (frame, id, x, y, w, h, score) -> ``(M, 7)`` results (frame, id, x, y, w, h, conf).

    ``name`` is one of ``BASELINES`` or ``"ours"``; every frame 1..num_frames is stepped, empty or not.
    ``intrinsics`` (CameraIntrinsics) and ``poses`` ({0-based frame: (4, 4) T_world_cam}) are used by
    ``ours`` only. ``interpolate_s`` > 0 fills each track's gaps of at most that many seconds offline
    (``tracking.offline``; for the baselines, between any two of their rows); ``backfill`` writes our
    tracker's tentative observations and merged tracks' rows (``OfflineRecorder``), and means nothing to
    the baselines. ``relink`` re-links every tracker's tracks across gaps before the gaps are filled
    (``tracking.relink``; for the baselines every row counts as observed); with ``objects_return``
    False it never joins a piece that left the view to one that came into it.
    """
    from occtrack_ros.tracking.offline import interpolate_rows, relink_rows
    from occtrack_ros.tracking.relink import RelinkConfig

    gap = int(round(interpolate_s * frame_rate))
    dets = np.asarray(dets, np.float64)
    if dets.size == 0:
        dets = np.zeros((0, 7))
    if dets.ndim != 2 or dets.shape[1] < 7:
        raise ValueError(f"detections must be (K, 7) frame,id,x,y,w,h,score; got {dets.shape}")
    per_frame = _dets_by_frame(dets, num_frames)
    if name == OURS:
        return _run_ours(per_frame, frame_rate, image_size, ours_weights, intrinsics, poses or {}, gap, backfill,
                         RelinkConfig(border_links=objects_return) if relink else None)
    import supervision as sv

    tracker = _baseline_tracker(name, frame_rate)
    out = []
    for t, d in enumerate(per_frame):
        xyxy = np.column_stack([d[:, X], d[:, X + 1], d[:, X] + d[:, X + 2], d[:, X + 1] + d[:, H]])  # (n, 4)
        det = sv.Detections(
            xyxy=xyxy.astype(np.float32).reshape(-1, 4), confidence=d[:, 6].astype(np.float32),
            class_id=np.zeros(len(d), int),
        )
        tracked = tracker.update(det)
        if len(tracked) == 0 or tracked.tracker_id is None:
            continue
        keep = tracked.tracker_id >= 0
        b = tracked.xyxy[keep].astype(np.float64)
        conf = tracked.confidence[keep] if tracked.confidence is not None else np.ones(keep.sum())
        ids = tracked.tracker_id[keep]
        out.append(np.column_stack([np.full(len(b), t + 1), ids, b[:, :2], b[:, 2:] - b[:, :2], conf]))
    rows = np.concatenate(out) if out else np.zeros((0, 7))
    view = _known_size(image_size)
    if relink:
        rows = relink_rows(rows, RelinkConfig(border_links=objects_return), view_size=view)
    return interpolate_rows(rows, gap, view)


def _known_size(image_size):
    """``(width, height)`` when both are known, else None."""
    return image_size if image_size is not None and None not in image_size else None


def _run_ours(per_frame, frame_rate, image_size, weights, intrinsics, poses, gap=0, backfill=False,
              relink=None) -> np.ndarray:
    from occtrack_ros.tracking import TrackerConfig, make_tracker
    from occtrack_ros.tracking.offline import OfflineRecorder
    from occtrack_ros.types import CameraIntrinsics, Detections, Frame

    view = _known_size(image_size)
    if intrinsics is None and view is not None:
        intrinsics = CameraIntrinsics.default_for(int(view[0]), int(view[1]))
    if weights and weights.lower() != "none":
        tracker = make_tracker(None, weights)
        tracker.config.fps = frame_rate
    else:
        tracker = make_tracker(TrackerConfig(fps=frame_rate))
    # Boxes only: an empty image keeps the Frame contract without pixels (as `occtrack track-dets`).
    blank = np.zeros((0, 0, 3), np.uint8)
    # No image size: these rows have never dropped coasting boxes at the image border (result_rows does).
    rec = OfflineRecorder(None, gap, backfill, relink=relink, view_size=view)
    for t, d in enumerate(per_frame):
        boxes = np.column_stack([d[:, X], d[:, X + 1], d[:, X] + d[:, X + 2], d[:, X + 1] + d[:, H]])  # (n, 4) xyxy
        frame = Frame(image=blank, stamp_ns=int(round(t * 1e9 / frame_rate)), index=t, intrinsics=intrinsics,
                      T_world_cam=poses.get(t))
        rec.add(t, tracker.step(Detections(boxes=boxes, scores=d[:, 6]), frame))
    return rec.rows()
