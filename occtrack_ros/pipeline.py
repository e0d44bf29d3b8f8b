"""Frame -> detector -> depth -> tracker -> TrackerOutput: the one processing path.

The ROS node, ``occtrack replay`` and ``occtrack track`` all call :meth:`Pipeline.process`, so a
live run and an offline run on the same frames give the same tracks. Components are imported
lazily: a missing one fails at construction with a message that names it (and the file, for
weights), never halfway through a sequence.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from occtrack_ros.types import Detections, Frame, TrackerOutput

DEPTH_SOURCES = ("topic", "learned", "pretrained", "none")


class ComponentUnavailable(RuntimeError):
    """A pipeline component (module or weights file) cannot be loaded; the message says which."""


@dataclass
class PipelineConfig:
    """What the pipeline is built from; the node fills it from its ROS parameters."""

    device: str = "cpu"
    bundle: str | None = None             # `occtrack train all` RUN/bundle: fills the *_weights left None
    detector_weights: str | None = None   # None = shipped default weights
    tracker_weights: str | None = None    # None = shipped default weights (boxes-only tracker if absent)
    depth_weights: str | None = None
    depth_source: str = "topic"           # topic | learned | pretrained | none
    pose_refine: bool = True              # refine learned ego-motion by direct alignment (no odometry)
    depth_edge_refine: bool = True        # snap the learned depth map's edges to the image's
    score_threshold: float = 0.5          # detections below are dropped before the tracker
    max_occlusion_age: int | None = None  # frames a track coasts unobserved; None = tracker default
    detector_plugin: str = ""             # 'module:callable' -> object with detect(frames), reset()
    tracker_plugin: str = ""              # 'module:callable' -> object with the Tracker interface
    tracker_overrides: dict = field(default_factory=dict)  # extra TrackerConfig fields

    def __post_init__(self) -> None:
        if self.depth_source not in DEPTH_SOURCES:
            raise ValueError(f"PipelineConfig.depth_source must be one of {DEPTH_SOURCES}, got {self.depth_source!r}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"PipelineConfig.score_threshold must be in [0, 1], got {self.score_threshold}")
        for name in ("bundle", "detector_weights", "tracker_weights", "depth_weights"):
            if getattr(self, name) == "":
                setattr(self, name, None)


# Tracker fields set for the learned slot detector (on top of the config stored with the tracker weights,
# below the user's overrides). Its boxes come from masks: where they jump, the filter's smoothed box
# lags, so the detection box is reported (weights/tracker.md, session 9). Its boxes are modal: offline,
# those cut by a nearer object are completed (session 15), and so are those the image border cuts
# (session 23; the detector boxes only the part in view). It splits some objects into parts: a box inside
# another at the same depth is ignored (session 23). Session 25: its boxes jitter by a pixel, so offline they
# are smoothed over 5 frames, and each detection's colour (chromaticity) vetoes matches to a track of another
# colour (0.1; an object's chromaticity stays within 0.044 of its median in 99 % of frames, objects differ by 0.19).
SLOT_DETECTOR_TRACKER_OVERRIDES = {"report_measured_box": True, "offline_occluder_completion": True,
                                   "offline_lead_frames": 2, "offline_border_frames": 1, "fragment_ioa": 0.8,
                                   "offline_smooth_frames": 5, "colour_veto": 0.1}


@dataclass
class PipelineResult:
    detections: Detections
    output: TrackerOutput
    timings: dict[str, float]  # milliseconds per stage and "total"
    frame: Frame               # the frame as the tracker saw it (depth filled in by the depth source)


def load_plugin(spec: str, what: str):
    """Call the factory named by ``'module:callable'`` and return what it builds."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ComponentUnavailable(f"{what} plugin {spec!r}: cannot import module {module_name!r} ({exc})") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ComponentUnavailable(f"{what} plugin {spec!r}: {module_name} has no callable {attr!r}")
    try:
        return factory()
    except Exception as exc:  # noqa: BLE001 - name the plugin whatever its factory raised
        raise ComponentUnavailable(f"{what} plugin {spec!r} failed to build: {type(exc).__name__}: {exc}") from exc


def _import(module: str, what: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ComponentUnavailable(
            f"the {what} ({module}) is not available in this installation: {exc}"
        ) from exc


def _check_weights(path: str | None, what: str) -> None:
    if path is None:
        return
    p = Path(path).expanduser()
    if not p.is_file():
        raise ComponentUnavailable(f"{what} weights file not found: {p}")
    if p.stat().st_size == 0:
        raise ComponentUnavailable(f"{what} weights file is empty (corrupt): {p}")


def _wrap_load(loader, path: str | None, what: str):
    """Run a loader and re-raise any failure with the weights file named."""
    try:
        return loader()
    except ComponentUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure must name the file
        where = path if path is not None else "the shipped default weights"
        raise ComponentUnavailable(f"cannot load the {what} from {where}: {type(exc).__name__}: {exc}") from exc


class Pipeline:
    """Stateful per-sequence processing: call :meth:`process` once per frame, in stamp order."""

    def __init__(self, config: PipelineConfig | None = None, *, detector=None, tracker=None, depth=None) -> None:
        self.config = config or PipelineConfig()
        cfg = self.config
        self.notes: list[str] = []  # things the caller should log once (fallbacks taken)
        if cfg.bundle:
            self._apply_bundle(cfg)
        for name in ("detector_weights", "tracker_weights", "depth_weights"):
            _check_weights(getattr(cfg, name), name.split("_")[0])
        self.detector = detector if detector is not None else self._make_detector()
        self.depth = depth if depth is not None else self._make_depth()
        self.tracker = tracker if tracker is not None else self._make_tracker()
        self._prev: Frame | None = None

    # Construction ---------------------------------------------------------------------------
    def _apply_bundle(self, cfg: PipelineConfig) -> None:
        """Take every weights path not set explicitly from the bundle; a bad bundle names its file."""
        from occtrack_ros.training.bundle import BundleError, load_bundle

        try:
            parts = load_bundle(cfg.bundle)["pipeline"]
        except BundleError as exc:
            raise ComponentUnavailable(str(exc)) from exc
        for name in ("detector_weights", "tracker_weights", "depth_weights"):
            if getattr(cfg, name) is None and parts.get(name):
                setattr(cfg, name, parts[name])
        self.notes.append(f"weights from bundle {cfg.bundle}")

    def _make_detector(self):
        cfg = self.config
        if cfg.detector_plugin:
            return load_plugin(cfg.detector_plugin, "detector")
        module = _import("occtrack_ros.models.detector", "detector")
        return _wrap_load(lambda: module.load_detector(cfg.detector_weights, device=cfg.device),
                          cfg.detector_weights, "detector")

    def _make_depth(self):
        cfg = self.config
        if cfg.depth_source in ("none", "topic"):
            return None  # 'topic': the frame already carries the measured depth; nothing to estimate
        module = _import("occtrack_ros.depth", "depth/pose source")
        return _wrap_load(lambda: module.make_depth_source(cfg.depth_source, weights=cfg.depth_weights,
                                                           device=cfg.device, pose_refine=cfg.pose_refine,
                                                           edge_refine=cfg.depth_edge_refine),
                          cfg.depth_weights, f"depth source '{cfg.depth_source}'")

    def _make_tracker(self):
        cfg = self.config
        if cfg.tracker_plugin:
            return load_plugin(cfg.tracker_plugin, "tracker")
        module = _import("occtrack_ros.tracking", "tracker")
        overrides = dict(cfg.tracker_overrides)
        if not cfg.detector_plugin:
            overrides = {**SLOT_DETECTOR_TRACKER_OVERRIDES, **overrides}
        if cfg.max_occlusion_age is not None:
            overrides["max_occluded_frames"] = int(cfg.max_occlusion_age)
        # A dict changes only these fields, on top of the config stored with the weights.
        tracker_config = overrides or None
        weights = cfg.tracker_weights
        if weights is None:
            # The tracker's own convention: None = motion-only association, "default" = shipped GNN.
            shipped = getattr(module, "DEFAULT_WEIGHTS", None)
            if shipped is not None and Path(shipped).is_file():
                weights = "default"
            else:
                self.notes.append(f"no shipped tracker weights ({shipped}): motion-only association")
        return _wrap_load(lambda: module.make_tracker(config=tracker_config, weights=weights),
                          weights, "tracker")

    # Processing -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all state (new sequence, or time jumped backwards)."""
        for part in (self.detector, self.tracker, self.depth):
            if part is not None and hasattr(part, "reset"):
                part.reset()
        self._prev = None

    def process(self, frame: Frame) -> PipelineResult:
        """Run one frame through detector, depth and tracker."""
        image = frame.image
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8, (
            f"Frame.image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if self.depth is not None:
            estimate = self.depth.estimate(frame, self._prev)
            frame = Frame(image=frame.image, stamp_ns=frame.stamp_ns, index=frame.index, depth=estimate.depth,
                          intrinsics=frame.intrinsics, T_world_cam=frame.T_world_cam)
        t1 = time.perf_counter()
        detections = self.detector.detect([frame])[0]
        if len(detections) and self.config.score_threshold > 0:
            detections = detections.select(detections.scores >= self.config.score_threshold)
        t2 = time.perf_counter()
        output = self.tracker.step(detections, frame)
        t3 = time.perf_counter()
        timings.update(depth=1e3 * (t1 - t0), detector=1e3 * (t2 - t1), tracker=1e3 * (t3 - t2),
                       total=1e3 * (t3 - t0))
        self._prev = frame
        return PipelineResult(detections=detections, output=output, timings=timings, frame=frame)
