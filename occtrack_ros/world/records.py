"""What a synthetic world produces per frame, independent of the preset that rendered it."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from occtrack_ros.types import CameraIntrinsics


@dataclass
class ObjectRecord:
    """Ground truth of one object in one frame, for objects inside the view.

    Inside the view: the amodal box meets the image and at least one pixel of the full
    silhouette falls inside it (a box corner that holds no silhouette pixel does not count).
    """

    object_id: int                 # >= 1, stable over the sequence
    position_world: np.ndarray     # (3,) centre in the world frame [m]
    position_cam: np.ndarray       # (3,) centre in the camera optical frame [m]
    amodal_box: np.ndarray         # (4,) xyxy [px], the full sprite, not clipped to the image
    visible_box: np.ndarray | None  # (4,) xyxy [px] of the visible pixels, None when fully hidden
    visible_fraction: float        # visible pixels / pixels of the full shape inside the image
    amodal_area: int               # pixels of the full shape inside the image
    visible_area: int              # visible pixels


@dataclass
class FrameRecord:
    """One rendered frame with its exact ground truth."""

    image: np.ndarray               # (H, W, 3) uint8 RGB
    depth: np.ndarray               # (H, W) float32 metres along the optical axis
    instance_ids: np.ndarray        # (H, W) uint16 id of the visible object, 0 = not a tracked object
    T_world_cam: np.ndarray         # (4, 4) float64 camera pose (optical frame) in the world frame
    objects: list[ObjectRecord] = field(default_factory=list)


@dataclass
class SyntheticSequence:
    """A lazily rendered sequence: ``frames`` yields ``num_frames`` FrameRecords in order."""

    name: str
    preset: str
    seed: int
    fps: float
    num_frames: int
    intrinsics: CameraIntrinsics
    frames: Iterator[FrameRecord]
    metadata: dict = field(default_factory=dict)  # JSON-serialisable scene description
