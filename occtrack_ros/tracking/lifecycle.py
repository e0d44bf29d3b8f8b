"""Per-track internal record and its lifecycle (tentative -> confirmed -> occluded -> lost)."""
from __future__ import annotations

import uuid as uuid_lib
from dataclasses import dataclass, field

import numpy as np

from occtrack_ros.types import TrackState


@dataclass
class TrackRecord:
    """Internal state of one track; ``Tracker`` turns it into a public ``types.Track`` each step."""

    track_id: int
    x: np.ndarray                       # (8,) image state: cx, cy, w, h and their velocities [px, px/frame]
    P: np.ndarray                       # (8, 8)
    first_seen_ns: int
    state: TrackState = TrackState.TENTATIVE
    x3: np.ndarray | None = None        # (6,) world (or camera) position and velocity [m, m/frame]
    P3: np.ndarray | None = None        # (6, 6)
    hits: int = 1                       # frames with an associated detection
    age: int = 0                        # frames since creation
    misses: int = 0                     # consecutive frames without a detection
    score: float = 1.0
    existence: float = 1.0
    last_observed_ns: int = 0
    last_z: np.ndarray | None = None    # (4,) last observed cx, cy, w, h (ego-motion compensated)
    last_z3: np.ndarray | None = None   # (3,) last observed 3D position
    depth: float | None = None          # [m] current (predicted or observed) depth in the camera
    memory: np.ndarray | None = None    # (H,) GRU state of the learned graph
    embedding: np.ndarray | None = None  # (D,) running mean appearance embedding
    colour: np.ndarray | None = None     # (3,) running mean chromaticity of its detections
    detection_index: int = -1
    prior_center: np.ndarray | None = None  # (2,) predicted centre before this frame's correction
    full_size: np.ndarray | None = None  # (2,) w, h of the whole object, from boxes nothing cut
    full_size_depth: float | None = None  # [m] depth at which full_size was measured (None: unknown)
    cut_frames: int = 0                  # consecutive observations smaller than full_size (cut by an occluder)
    amodal: np.ndarray | None = None     # (4,) reported cx, cy, w, h: x[:4] completed where cut (Tracker.complete_box)
    covered: float = 0.0                # how much of the predicted box visible objects cover now
    uuid: uuid_lib.UUID = field(default_factory=uuid_lib.uuid4)

    def mark_hit(self, n_init: int) -> None:
        self.hits += 1
        self.misses = 0
        self.existence = 1.0
        if self.state == TrackState.TENTATIVE and self.hits >= n_init:
            self.state = TrackState.CONFIRMED
        elif self.state == TrackState.OCCLUDED:
            self.state = TrackState.CONFIRMED

    def mark_miss(self, max_tentative_misses: int, max_occluded_frames: int, decay_frames: float) -> None:
        self.misses += 1
        self.detection_index = -1
        if self.state == TrackState.TENTATIVE:
            if self.misses >= max_tentative_misses:
                self.state = TrackState.LOST
            return
        self.state = TrackState.OCCLUDED
        # An object whose predicted box is covered by visible objects is plausibly just hidden:
        # its existence decays slowly; one in plain view that the detector misses decays faster.
        tau = decay_frames if self.covered > 0.3 else 0.5 * decay_frames
        self.existence *= float(np.exp(-1.0 / max(tau, 1e-6)))
        if self.misses > max_occluded_frames:
            self.state = TrackState.LOST
