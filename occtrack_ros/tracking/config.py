"""Configuration of the tracker: lifecycle, motion model, association and the GNN size."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class GNNConfig:
    """Shape of the learned association network (stored in checkpoints; shape fields must match)."""

    hidden: int = 32            # node/edge width; kept tiny so a step stays well under 2 ms at 20 objects
    rounds: int = 2             # message-passing rounds over temporal (track-det) and spatial (det-det) edges
    history: int = 8            # GRU window used in training; inference integrates the full history
    embed_dim: int = 0          # appearance embedding size of the detector (0 = boxes only)
    edge_features: int = 18     # fixed by occtrack_ros.tracking.features.EDGE_FEATURES
    det_features: int = 8       # fixed by features.DET_FEATURES
    track_features: int = 8     # fixed by features.TRACK_FEATURES
    spatial_features: int = 6   # fixed by features.SPATIAL_FEATURES

    SHAPE_FIELDS = ("hidden", "rounds", "embed_dim", "edge_features", "det_features", "track_features",
                    "spatial_features")


# Two objects boxed as one (``merge_size_ratio`` live, ``offline_merge_ratio`` offline): at least this
# share of another track's box lies inside the big box.
MERGE_COVER = 0.5


@dataclass
class TrackerConfig:
    """Every knob of the tracker; defaults were tuned on synthetic training seeds (0-999) only."""

    fps: float = 30.0                 # used only when frame stamps are missing or not increasing
    n_init: int = 3                   # hits before a tentative track is confirmed
    max_tentative_misses: int = 1     # a tentative track dies after this many consecutive misses
    max_occluded_frames: int = 90     # an unmatched confirmed track coasts this long, then it is LOST
    existence_decay_frames: float = 60.0  # existence probability = exp(-frames_occluded / this)
    min_new_track_score: float = 0.5  # detections below this never start a track (they may still match)
    min_det_score: float = 0.1        # detections below this are ignored entirely
    fragment_ioa: float = 0.0         # > 0: a detection whose box lies at least this share inside a larger
    #                                   detection's box, at the same depth (within reid_depth_sigma) when both
    #                                   have one, is a fragment of that object and is ignored (the slot detector
    #                                   splits some objects into parts, which started a second track that took
    #                                   turns with the first). 0.8 behind the slot detector (pipeline.SLOT_
    #                                   DETECTOR_TRACKER_OVERRIDES): tuning seeds 30-69 / 70-149 HOTA +0.5 / +0.3,
    #                                   IDSW 90 -> 75 / 105 -> 93 (weights/tracker.md, session 23). 0 = off, the
    #                                   default (boxes only: in crowds a far person's box can lie inside a near one's)
    max_outside_frames: int = 80      # an unmatched track that has left the image is LOST after this (it may
    #                                   come back: objects roam past the view edge; with appearance it keeps its id)
    max_outside_fraction: float = 0.5  # "leaving": more than this share of its predicted box is off-image
    # Association.
    match_threshold: float = 0.3      # minimum association probability to accept a match
    gate_chi2: float = 16.0           # Mahalanobis gate on (cx, cy, w, h); widened with occlusion length
    gate_max_offset: float = 4.0      # max centre offset in predicted-box sizes, also for long occlusions
    recent_misses: int = 3            # tracks missed fewer frames than this are matched first
    reappear_sigma: float = 0.6       # [box sizes] spread of the reappearance position of a hidden track
    reappear_sigma_growth: float = 0.03  # ... growing per hidden frame (stops, turns, speed changes)
    reappear_perp_ratio: float = 0.3  # offsets across a hidden track's path count 1 / this times more than offsets
    #                                   along it (stops and turn-backs move objects along their path); 1 = isotropic
    reappear_size_sigma: float = 0.25  # log size change tolerated between disappearance and reappearance
    hidden_size_sigma: float = 0.25   # > 0: every match of a hidden track pays exp(-0.5 (size change / this)^2),
    #                                   size change = |log w ratio| + |log h ratio| to its last seen box; 0 = off
    reid_min_similarity: float = 0.98  # > 0: a hidden track matches a detection anywhere in view whose appearance
    #                                   embedding has at least this cosine similarity with its own (re-identification
    #                                   after occlusion; needs detector embeddings; 0 = motion gate only). 0.98 since
    #                                   session 18 (tuning seeds 30-45 and sprites 18-21; 0.95 before)
    reid_veto_similarity: float = 0.9  # ... and never matches a detection that looks less alike than this (a
    #                                   different object crossing its predicted path); only with reid enabled
    colour_veto: float = 0.0          # > 0: a track never matches (nor, hidden, takes over) a detection whose mean
    #                                   chromaticity (Detections.colours) differs from its running colour by more
    #                                   than this; 0 = off (boxes only have no colour)
    hidden_spread_power: float = 1.0  # a hidden track's motion score is scaled by (reappear_sigma / its current
    #                                   reappearance sigma)^this, and a take-over must satisfy 0.5 (d / sigma)^2 +
    #                                   this * log(sigma / reappear_sigma) <= 0.5 reid_confirm_sigmas^2: a density
    #                                   that thins as the region grows, not only a distance (0 = off)
    reid_on_confirm: bool = True      # when a new track is confirmed, it takes over the id of a hidden track
    #                                   that could have reappeared there (see Tracker._reidentify_confirmed).
    #                                   Boxes only, it cost 3.4 IDF1 points on MOT17's crowds (50.9 vs 54.3):
    #                                   false there
    reid_confirm_hits: int = 2        # ... already when a new tentative track has this many hits (before n_init
    #                                   confirms it; the take-over confirms it), so the id is back 1 frame sooner
    reid_confirm_sigmas: float = 3.0  # ... within this many reappearance sigmas of position and size
    reid_sigma_growth_per_s: float = 0.3  # [box sizes / s] ... the reappearance spread grows this much per second
    reid_depth_sigma: float = 0.15    # [log depth] depth tolerance of that take-over when both have depth
    duplicate_iou: float = 0.7        # two tracks on one object (see Tracker._merge_duplicates); 0 = off
    learned_weight: float = 0.5       # exponent of the learned score in the geometric blend with the motion score
    # Motion model (image space, per-frame units scaled by the frame interval).
    std_position: float = 1.0 / 20    # measurement/process noise on position, relative to box height
    std_velocity: float = 1.0 / 160   # process noise on velocity, relative to box height
    std_size: float = 1.0 / 20        # measurement noise on box width/height, relative to that size
    size_velocity_damping: float = 0.8  # shrink box-size velocity each frame a track coasts
    reanchor_frames: float = 12.0     # a track seen again after g >= 3 frames takes the displacement across the
    #                                   gap as its velocity with weight g / (g + this), the filter's with the
    #                                   rest; 0 = the displacement alone (OC-SORT). Chosen on tuning seeds
    #                                   30-45 (weights/tracker.md, session 13): noisy boxes over short gaps
    #                                   sent coasting tracks off their objects' paths
    partial_ratio: float = 0.0        # > 0: a matched box narrower/shorter than this x the track's is partly
    #                                   hidden: keep the track's size, anchor at the box edge nearer the
    #                                   prediction. Off: with the shipped detector 0.75 cost 5.8 IDF1 points
    #                                   on seeds 24-29 (it helped with an earlier detector)
    report_measured_box: bool = False  # report a matched track's detection box (completed as below), not the
    #                                   filter's smoothed box, which lags behind a detection that jumped
    amodal_output: bool = True        # report whole-object boxes: a box cut by the image border (or, with
    #                                   amodal_ratio > 0, by an occluder) takes the track's full size
    amodal_ratio: float = 0.8         # boxes smaller than this x the full size (away from the border) count as
    #                                   cut by an occluder; 0 = complete at the image border only
    amodal_max_cut_frames: int = 15   # a box smaller than the full size for longer is the object's new size
    merge_size_ratio: float = 0.0     # > 1: a matched box more than this x the area of the track's full size,
    #                                   with another track's predicted box at least half inside it, is two objects
    #                                   boxed as one: it does not grow the full size (Tracker._merged_boxes); 0 = off
    full_size_depth_scaling: bool = True  # with depth: the full size scales with the depth ratio (size ~ 1 / depth)
    occluder_depth_ratio: float = 0.85  # a depth-map pixel nearer than this x a coasting track's depth hides it
    #                                   (its reported visible_fraction)
    clip_prediction_to_view: bool = False  # a detection cut by the image border is compared with the in-view
    #                                   part of each prediction (Tracker._compare_cut_detections_in_view).
    #                                   On for Sprites-MOT (objects cross the border and never come back):
    #                                   HOTA +1.4 on tuning seeds 18-21; off for occlusion, where it cost
    #                                   0.2 HOTA on tuning seeds 24-69 (weights/tracker.md, session 10)
    border_overlap: bool = False      # a box and the next one cut by the same image border match by how much
    #                                   the smaller lies within the larger (Tracker._border_overlap). The same:
    #                                   Sprites-MOT +0.5 HOTA on top of the above, occlusion -0.1
    border_margin_px: float = 1.0     # a box edge this close to the image border counts as cut by it
    shape_prior_rate: float = 0.05    # > 0: a track never seen whole whose box the image border cuts is reported
    #                                   with the scene's running aspect ratio (size, in a corner) of whole
    #                                   boxes, learned at this rate (prior_full_sizes); 0 = report the seen part
    offline_border_frames: int = 0    # > 0, offline rows only (OfflineRecorder's border_frames): a track's boxes
    #                                   that the image border cuts are completed to its whole size from its
    #                                   nearest uncut box, and a track that came in (went out) at the border
    #                                   is carried at constant velocity to it, at most this many frames. On for
    #                                   Sprites-MOT (tracks start as slivers at the border): tuning seeds
    #                                   18-21 HOTA 81.7 -> 86.0, MOTA 85.7 -> 90.8 (session 15). 1 behind the
    #                                   slot detector (pipeline.SLOT_DETECTOR_TRACKER_OVERRIDES), which
    #                                   reports the part in view: tuning seeds 30-69 / 70-149 HOTA +0.4 / +0.5,
    #                                   MOTA +0.6 / +1.0, recovery -0.3 / +0.0 points; carrying further adds
    #                                   nothing there (objects turn back past the edge). Off for boxes only, whose boxes
    #                                   are whole (weights/tracker.md, sessions 15 and 23)
    offline_occluder_completion: bool = False  # offline rows only (OfflineRecorder's occluder_completion): a
    #                                   box smaller than the track's whole boxes around it (a nearer object
    #                                   hides part of it) takes the whole extent, on the track's path; with
    #                                   a depth map only axes a nearer surface cuts, keeping the edge it does
    #                                   not. On behind the slot detector (modal boxes; pipeline.SLOT_DETECTOR_
    #                                   TRACKER_OVERRIDES): tuning seeds 30-45 HOTA 66.5 -> 70.0, IDF1 80.5 ->
    #                                   83.0, MOTA 69.1 -> 74.0, recovery 80.1 -> 82.3 %; off for Sprites-MOT
    #                                   (HOTA 86.0 -> 85.5) and for boxes that are already whole
    #                                   (weights/tracker.md, sessions 15 and 16)
    offline_lead_frames: int = 0      # > 0, offline rows only (OfflineRecorder's lead_frames): where a track comes
    #                                   back after a gap too long to interpolate, it is written this many frames
    #                                   before its first observation, carried back at its velocity after the
    #                                   gap (the object coming out from behind an occluder, too little of it in
    #                                   view for the detector). On behind the slot detector (pipeline.SLOT_
    #                                   DETECTOR_TRACKER_OVERRIDES, 2): tuning seeds 30-149 HOTA 71.2 -> 71.8,
    #                                   IDF1 85.0 -> 85.5, recovery 83.5 -> 84.2 %; off for boxes only (corrupted
    #                                   gt tuning HOTA -0.3 at 2, -2.1 at 3) (weights/tracker.md, session 22).
    #                                   Written while 5 % of the box is in view (an object coming back into
    #                                   the view): tuning 30-69 / 70-149 HOTA +0.5 / +0.5 (session 23)
    offline_smooth_frames: int = 0    # odd >= 3, offline rows only (OfflineRecorder's smooth_frames): observed boxes
    #                                   are smoothed along each run of consecutive observations by a local line
    #                                   through this many frames (scipy's savgol_filter), boxes the image border
    #                                   cuts left alone. On (5) behind the slot detector, whose boxes of objects
    #                                   10-20 px across jitter by a pixel from frame to frame: tuning seeds 30-69
    #                                   HOTA 77.7 -> 79.0 (weights/tracker.md, session 25); 0 = off
    offline_merge_ratio: float = 0.0  # > 1, offline rows only (OfflineRecorder's merge_ratio): an observed box
    #                                   more than this x the area of the track's own boxes around it, over
    #                                   another track's box, is two objects boxed as one; it is re-written on
    #                                   the track's path by the gap interpolation. On for Sprites-MOT (1.3:
    #                                   tuning seeds 18-21 HOTA 87.2 -> 87.8, MOTA 92.1 -> 93.3, IDSW 28 -> 11;
    #                                   weights/tracker.md, session 20); 0 = off
    # Motion model in the world frame (used when detections carry depth / 3D positions).
    accel_std: float = 1.0            # [m/s^2] process noise of the constant-velocity 3D filter
    std_depth_rel: float = 0.05       # measurement std of 3D positions, relative to depth
    std_depth_abs: float = 0.05       # [m] measurement std floor
    use_ego_motion: bool = True       # use T_world_cam (and intrinsics) to compensate camera motion
    common_motion_gain: float = 1.0   # without poses: shift coasting tracks by the median residual of seen ones
    common_motion_min_tracks: int = 2  # observed tracks needed to trust that median
    # Scene graph between tracks reported each step.
    edge_min_weight: float = 0.1      # edges with lower soft adjacency are not reported
    adjacent_depth_sigma: float = 0.2  # [log depth] depth spread of "adjacent" (objects at other depths are not)
    gnn: GNNConfig = field(default_factory=GNNConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrackerConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"TrackerConfig: unknown field(s) {unknown}")
        data = dict(data)
        gnn = data.pop("gnn", None)
        cfg = cls(**data)
        if gnn is not None:
            gnn_known = {f.name for f in fields(GNNConfig)}
            bad = sorted(set(gnn) - gnn_known)
            if bad:
                raise ValueError(f"GNNConfig: unknown field(s) {bad}")
            cfg.gnn = GNNConfig(**gnn)
        return cfg

    def validate(self) -> None:
        if not self.colour_veto >= 0:
            raise ValueError(f"TrackerConfig.colour_veto must be >= 0 (0 = off), got {self.colour_veto}")
        if not 0.0 <= self.fragment_ioa <= 1.0:
            raise ValueError(f"TrackerConfig.fragment_ioa must be in [0, 1] (0 = off), got {self.fragment_ioa}")
        if self.n_init < 1:
            raise ValueError(f"TrackerConfig.n_init must be >= 1, got {self.n_init}")
        if not self.reanchor_frames >= 0:
            raise ValueError(f"TrackerConfig.reanchor_frames must be >= 0, got {self.reanchor_frames}")
        if self.max_occluded_frames < 0:
            raise ValueError(f"TrackerConfig.max_occluded_frames must be >= 0, got {self.max_occluded_frames}")
        if not 0.0 <= self.match_threshold < 1.0:
            raise ValueError(f"TrackerConfig.match_threshold must be in [0, 1), got {self.match_threshold}")
        if self.reid_confirm_hits < 0:
            raise ValueError(f"TrackerConfig.reid_confirm_hits must be >= 0 (0 = at confirmation), got "
                             f"{self.reid_confirm_hits}")
        if self.hidden_size_sigma < 0 or not 0.0 < self.reappear_perp_ratio <= 1.0:
            raise ValueError(f"TrackerConfig: hidden_size_sigma must be >= 0 and reappear_perp_ratio in (0, 1], got "
                             f"{self.hidden_size_sigma}, {self.reappear_perp_ratio}")
        if self.hidden_spread_power < 0:
            raise ValueError(f"TrackerConfig.hidden_spread_power must be >= 0 (0 = off), got "
                             f"{self.hidden_spread_power}")
        if self.offline_lead_frames < 0:
            raise ValueError(f"TrackerConfig.offline_lead_frames must be >= 0 (0 = off), got "
                             f"{self.offline_lead_frames}")
        if self.offline_smooth_frames != 0 and (self.offline_smooth_frames < 3 or self.offline_smooth_frames % 2 == 0):
            raise ValueError(f"TrackerConfig.offline_smooth_frames must be 0 (off) or odd and >= 3, got "
                             f"{self.offline_smooth_frames}")
        if self.offline_border_frames < 0:
            raise ValueError(f"TrackerConfig.offline_border_frames must be >= 0 (0 = off), got "
                             f"{self.offline_border_frames}")
        if not (self.merge_size_ratio == 0 or self.merge_size_ratio > 1):
            raise ValueError(f"TrackerConfig.merge_size_ratio must be 0 (off) or > 1, got {self.merge_size_ratio}")
        if not (self.offline_merge_ratio == 0 or self.offline_merge_ratio > 1):
            raise ValueError(f"TrackerConfig.offline_merge_ratio must be 0 (off) or > 1, got "
                             f"{self.offline_merge_ratio}")
        if self.fps <= 0:
            raise ValueError(f"TrackerConfig.fps must be > 0, got {self.fps}")


# Named sets of TrackerConfig overrides for a kind of scene, chosen on that preset's tuning seeds
# (weights/tracker.md). `occtrack track --tracker-preset NAME` applies one before any --tracker-set.
TRACKER_PRESETS: dict[str, dict] = {
    # Sprites-MOT: sprites that leave never come back, so a track that left ends at once; a track is
    # reported from its second hit; boxes cut by the border are compared as the detector sees them;
    # offline, the slivers at the border are completed and carried to it. The sprites detector scores
    # 6 % of its true boxes below 0.5, so tracks start from 0.3; two sprites boxed as one do not grow
    # a track's size live and are re-written on the tracks' paths offline (session 20).
    "sprites-mot": {"max_outside_frames": 0, "n_init": 2, "clip_prediction_to_view": True, "border_overlap": True,
                    "offline_border_frames": 10, "offline_occluder_completion": False,
                    "min_new_track_score": 0.3, "merge_size_ratio": 1.3, "offline_merge_ratio": 1.3},
}
