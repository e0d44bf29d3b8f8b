"""Debug overlay and instance-label image (no ROS graph)."""
from __future__ import annotations

import numpy as np

from occtrack_ros.ros.overlay import draw_overlay, instance_image
from occtrack_ros.types import Detections, Track, TrackerOutput, TrackState


def scene():
    masks = np.zeros((2, 20, 30), np.float32)
    masks[0, 2:12, 2:12] = 1.0      # far object
    masks[1, 8:16, 8:20] = 1.0      # near object, overlapping the far one
    det = Detections(boxes=np.array([[2, 2, 12, 12], [8, 8, 20, 16]], np.float32), scores=np.ones(2, np.float32),
                     masks=masks, depths=np.array([5.0, 2.0], np.float32))
    tracks = [Track(track_id=41, state=TrackState.CONFIRMED, box=det.boxes[0], detection_index=0),
              Track(track_id=7, state=TrackState.CONFIRMED, box=det.boxes[1], detection_index=1),
              Track(track_id=9, state=TrackState.OCCLUDED, box=np.array([20, 2, 28, 10], np.float32))]
    return TrackerOutput(tracks=tracks), det


def test_instance_image_uses_track_ids_and_nearer_wins():
    out, det = scene()
    labels = instance_image(out, det, (20, 30))
    assert labels.dtype == np.int32 and set(np.unique(labels)) == {0, 7, 41}
    assert labels[10, 10] == 7            # overlap: the nearer object (depth 2 m)
    assert labels[3, 3] == 41
    assert not (labels == 9).any()        # occluded tracks have no visible pixels


def test_instance_image_falls_back_to_boxes_without_masks():
    out, det = scene()
    det.masks = None
    labels = instance_image(out, det, (20, 30))
    assert labels[14, 18] == 7 and labels[3, 3] == 41


def test_overlay_draws_without_changing_the_input():
    out, det = scene()
    image = np.full((20, 30, 3), 100, np.uint8)
    drawn = draw_overlay(image, out, det)
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    assert (image == 100).all() and (drawn != 100).any()
