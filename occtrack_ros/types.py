"""Typed structures passed between the detector, the tracker and the ROS layer.

Plain numpy at these boundaries keeps the tracker usable from boxes alone (public detections)
and keeps the ROS layer free of torch. Conventions used everywhere in the package:

- image boxes are ``xyxy`` in pixels, float32, origin at the top-left corner of the top-left
  pixel (a pixel centre is at +0.5);
- the camera frame is the optical frame (x right, y down, z forward), metres;
- ``T_world_cam`` is the 4x4 pose of the camera in the world/odom frame (maps camera points
  to world points);
- frame indices are 0-based inside the package; MOTChallenge files are 1-based.
"""
from __future__ import annotations

import uuid as uuid_lib
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


@dataclass
class CameraIntrinsics:
    """Pinhole intrinsics of the (undistorted) input image."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def K(self) -> np.ndarray:  # (3, 3)
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64)

    @classmethod
    def default_for(cls, width: int, height: int, hfov_deg: float = 60.0) -> "CameraIntrinsics":
        """The documented fallback when no camera_info is available: 60 degree horizontal FOV."""
        fx = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2.0)
        return cls(fx=fx, fy=fx, cx=width / 2.0, cy=height / 2.0, width=width, height=height)


@dataclass
class Frame:
    """One synchronized input frame. Only ``image`` is required."""

    image: np.ndarray                      # (H, W, 3) uint8 RGB
    stamp_ns: int = 0                      # capture time [ns]
    index: int = 0                         # 0-based frame index in its sequence
    depth: np.ndarray | None = None        # (H, W) float32 metres; NaN or 0 = invalid
    intrinsics: CameraIntrinsics | None = None
    T_world_cam: np.ndarray | None = None  # (4, 4) camera pose in the world/odom frame


@dataclass
class Detections:
    """Per-frame detector output: N objects. Only ``boxes`` and ``scores`` are required."""

    boxes: np.ndarray                       # (N, 4) float32 xyxy [px]
    scores: np.ndarray                      # (N,) float32 objectness/confidence in [0, 1]
    embeddings: np.ndarray | None = None    # (N, D) float32 appearance embedding
    centroids: np.ndarray | None = None     # (N, 2) float32 mask centroid (x, y) [px]
    areas: np.ndarray | None = None         # (N,) float32 mask area [px^2]
    depths: np.ndarray | None = None        # (N,) float32 median depth inside the mask [m]
    masks: np.ndarray | None = None         # (N, H, W) float32 soft masks in [0, 1]
    positions_cam: np.ndarray | None = None  # (N, 3) float32 3D centre in the camera frame [m]
    colours: np.ndarray | None = None       # (N, 3) float32 mean chromaticity rgb / (r + g + b) of the part's pixels

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if len(self.scores) != len(self.boxes):
            raise ValueError(f"Detections: {len(self.boxes)} boxes but {len(self.scores)} scores")

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(boxes=np.zeros((0, 4), np.float32), scores=np.zeros((0,), np.float32))

    def select(self, keep: np.ndarray) -> "Detections":
        """Subset by boolean mask or index array, keeping every optional field aligned."""
        def pick(a):
            return None if a is None else a[keep]
        return Detections(
            boxes=self.boxes[keep], scores=self.scores[keep], embeddings=pick(self.embeddings),
            centroids=pick(self.centroids), areas=pick(self.areas), depths=pick(self.depths),
            masks=pick(self.masks), positions_cam=pick(self.positions_cam), colours=pick(self.colours),
        )


class TrackState(IntEnum):
    """Matches the constants of occtrack_ros/msg/TrackedObject."""

    TENTATIVE = 0
    CONFIRMED = 1
    OCCLUDED = 2
    LOST = 3


@dataclass
class Track:
    """A track as reported by the tracker after one step."""

    track_id: int                               # short id, never reused within a tracker
    state: TrackState
    box: np.ndarray                             # (4,) xyxy [px]; predicted amodal box while occluded
    existence_probability: float = 1.0
    visible_fraction: float = 1.0
    score: float = 1.0                          # confidence of the last associated detection
    position: np.ndarray | None = None          # (3,) [m], world frame if ego-motion known else camera
    position_cov: np.ndarray | None = None      # (3, 3) [m^2]
    velocity: np.ndarray | None = None          # (3,) [m/s] same frame as position
    velocity_cov: np.ndarray | None = None      # (3, 3) [m^2/s^2]
    size: np.ndarray | None = None              # (3,) [m]
    age: int = 0                                # frames since creation
    frames_observed: int = 0
    frames_occluded: int = 0                    # consecutive frames without a detection
    first_seen_ns: int = 0
    last_observed_ns: int = 0
    detection_index: int = -1                   # index into this frame's Detections, -1 if unmatched
    uuid: uuid_lib.UUID = field(default_factory=uuid_lib.uuid4)


class Relation(IntEnum):
    """Matches occtrack_ros/msg/SceneGraphEdge."""

    ADJACENT = 0
    OCCLUDES = 1


@dataclass
class GraphEdge:
    source_id: int
    target_id: int
    relation: Relation
    weight: float


@dataclass
class TrackerOutput:
    """What one tracker step returns."""

    tracks: list[Track]                          # live tracks (tentative, confirmed, occluded)
    ended: list[Track] = field(default_factory=list)   # tracks that became LOST at this step
    edges: list[GraphEdge] = field(default_factory=list)  # scene graph between live tracks
    # (ended_id, surviving_id) for each track that ended at this step because an older track took over its
    # object and observations (re-identification on confirmation, duplicate merge); for offline backfill.
    merged: list[tuple[int, int]] = field(default_factory=list)
