"""Images drawn from one pipeline step: the debug overlay and the instance-id label image.

Pure numpy/OpenCV (no ROS), shared by the node's ~/debug_image and ~/instances and by the
overlay video of ``occtrack replay``.
"""
from __future__ import annotations

import numpy as np

from occtrack_ros.ros.markers import id_color
from occtrack_ros.types import Detections, TrackerOutput, TrackState

MASK_THRESHOLD = 0.5


def _track_masks(output: TrackerOutput, detections: Detections, shape: tuple[int, int]):
    """Yield (track, bool mask (H, W)) for tracks matched to a detection this frame, far to near."""
    height, width = shape
    matched = [t for t in output.tracks if 0 <= t.detection_index < len(detections)]
    if detections.depths is not None:
        matched.sort(key=lambda t: -float(np.nan_to_num(detections.depths[t.detection_index], nan=0.0)))
    for track in matched:
        i = track.detection_index
        if detections.masks is not None and detections.masks.shape[1:] == (height, width):
            yield track, detections.masks[i] > MASK_THRESHOLD
        else:
            mask = np.zeros((height, width), dtype=bool)
            x0, y0, x1, y1 = np.round(detections.boxes[i]).astype(int)
            mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
            yield track, mask


def instance_image(output: TrackerOutput, detections: Detections, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) int32 image of track ids of the visible pixels (0 = none); ids are the tracks' own.

    Nearer objects (smaller detection depth) are painted last, so they win overlaps. Tracks
    without a detection this frame (occluded) have no pixels.
    """
    labels = np.zeros(shape, dtype=np.int32)
    for track, mask in _track_masks(output, detections, shape):
        labels[mask] = int(track.track_id)
    return labels


def draw_overlay(image: np.ndarray, output: TrackerOutput, detections: Detections) -> np.ndarray:
    """(H, W, 3) uint8 RGB: masks tinted per id, boxes (dashed when occluded), "<id> <STATE>" labels."""
    import cv2

    assert image.ndim == 3 and image.shape[2] == 3, f"image must be (H, W, 3), got {image.shape}"
    canvas = image.copy()
    height, width = image.shape[:2]
    for track, mask in _track_masks(output, detections, (height, width)):
        color = np.array(id_color(track.track_id)) * 255.0
        canvas[mask] = (0.5 * canvas[mask] + 0.5 * color).astype(np.uint8)
    font_scale = max(0.25, 0.5 * width / 640)  # readable on 128 px synthetic frames and on 640 px cameras
    for track in output.tracks:
        color = tuple(int(255 * c) for c in id_color(track.track_id))
        x0, y0, x1, y1 = (int(round(float(v))) for v in track.box)
        state = TrackState(track.state)
        if state == TrackState.OCCLUDED:
            dashed_rectangle(canvas, (x0, y0), (x1, y1), color)
        else:
            cv2.rectangle(canvas, (x0, y0), (x1, y1), color, 1 if state == TrackState.TENTATIVE else 2)
        cv2.putText(canvas, f"{track.track_id} {state.name}", (x0, max(y0 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, color, 1, cv2.LINE_AA)
    return canvas


def dashed_rectangle(canvas, p0, p1, color, dash: int = 6, thickness: int = 1) -> None:
    """A dashed box (OpenCV has none): how a ghost, an occluded track's predicted box, is drawn."""
    import cv2

    (x0, y0), (x1, y1) = p0, p1
    for a, b, fixed, horizontal in ((x0, x1, y0, True), (x0, x1, y1, True), (y0, y1, x0, False),
                                    (y0, y1, x1, False)):
        for s in range(a, b, 2 * dash):
            e = min(s + dash, b)
            pts = ((s, fixed), (e, fixed)) if horizontal else ((fixed, s), (fixed, e))
            cv2.line(canvas, pts[0], pts[1], color, thickness)
