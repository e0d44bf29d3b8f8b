"""Pipeline: the one processing path (no ROS). Real tracker; tiny detectors defined here."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from occtrack_ros.pipeline import ComponentUnavailable, Pipeline, PipelineConfig
from occtrack_ros.types import Detections, Frame, TrackState


class BoxDetector:
    """One object moving right 2 px per frame, plus a low-score clutter box; counts resets."""

    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1

    def detect(self, frames):
        out = []
        for f in frames:
            x = 10.0 + 2.0 * f.index
            out.append(Detections(boxes=np.array([[x, 20, x + 12, 40], [60, 60, 70, 70]], np.float32),
                                  scores=np.array([0.9, 0.2], np.float32)))
        return out


def frame(i):
    return Frame(image=np.zeros((96, 96, 3), np.uint8), stamp_ns=1_000_000_000 + i * 100_000_000, index=i)


@pytest.fixture
def plugin_module(monkeypatch):
    module = types.ModuleType("occtrack_test_plugins")
    module.make = BoxDetector
    module.broken = lambda: (_ for _ in ()).throw(RuntimeError("no GPU here"))
    monkeypatch.setitem(sys.modules, "occtrack_test_plugins", module)
    return module


def test_tracks_one_object_and_thresholds_scores(plugin_module):
    pipe = Pipeline(PipelineConfig(detector_plugin="occtrack_test_plugins:make", depth_source="none",
                                   score_threshold=0.5))
    results = [pipe.process(frame(i)) for i in range(6)]
    assert all(len(r.detections) == 1 for r in results)            # the 0.2 clutter box is dropped
    last = results[-1].output
    assert [t.state for t in last.tracks] == [TrackState.CONFIRMED]
    assert set(results[-1].timings) == {"depth", "detector", "tracker", "total"}
    assert results[-1].timings["total"] >= results[-1].timings["tracker"]


def test_reset_clears_tracker_and_detector(plugin_module):
    pipe = Pipeline(PipelineConfig(detector_plugin="occtrack_test_plugins:make", depth_source="none"))
    for i in range(5):
        first_id = pipe.process(frame(i)).output.tracks[0].track_id
    pipe.reset()
    assert pipe.detector.resets == 1
    out = pipe.process(frame(0)).output
    assert [t.state for t in out.tracks] == [TrackState.TENTATIVE] and first_id >= 1


def test_missing_weights_named(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(ComponentUnavailable, match=str(missing)):
        Pipeline(PipelineConfig(tracker_weights=str(missing), depth_source="none",
                                detector_plugin="occtrack_test_plugins:make"))
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ComponentUnavailable, match="empty"):
        Pipeline(PipelineConfig(detector_weights=str(empty)))


def test_corrupt_tracker_weights_named(tmp_path, plugin_module):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage" * 20)
    with pytest.raises(ComponentUnavailable, match=str(bad)):
        Pipeline(PipelineConfig(tracker_weights=str(bad), depth_source="none",
                                detector_plugin="occtrack_test_plugins:make"))


def test_plugin_errors_are_named(plugin_module):
    with pytest.raises(ComponentUnavailable, match="no_such_module"):
        Pipeline(PipelineConfig(detector_plugin="no_such_module:make", depth_source="none"))
    with pytest.raises(ComponentUnavailable, match="has no callable 'missing'"):
        Pipeline(PipelineConfig(detector_plugin="occtrack_test_plugins:missing", depth_source="none"))
    with pytest.raises(ComponentUnavailable, match="no GPU here"):
        Pipeline(PipelineConfig(detector_plugin="occtrack_test_plugins:broken", depth_source="none"))


def test_config_validation():
    with pytest.raises(ValueError, match="depth_source"):
        PipelineConfig(depth_source="lidar")
    with pytest.raises(ValueError, match="score_threshold"):
        PipelineConfig(score_threshold=2.0)


def test_bad_frame_shape_is_named(plugin_module):
    pipe = Pipeline(PipelineConfig(detector_plugin="occtrack_test_plugins:make", depth_source="none"))
    with pytest.raises(AssertionError, match=r"\(H, W, 3\) uint8"):
        pipe.process(Frame(image=np.zeros((4, 4), np.uint8)))


def test_reid_and_box_parameters_reach_the_tracker():
    from occtrack_ros.pipeline import Pipeline
    from occtrack_ros.ros import parameters as P

    for value in (True, False):
        pipe = Pipeline(P.pipeline_config({**P.defaults(), "depth_source": "none", "reid_on_confirm": value,
                                           "report_measured_box": value}))
        assert pipe.tracker.config.reid_on_confirm is value
        assert pipe.tracker.config.report_measured_box is value
        assert pipe.tracker.config.max_occluded_frames == P.defaults()["max_occlusion_age"]


def test_slot_detector_pipeline_reports_detection_boxes(plugin_module):
    # The slot detector's boxes are reported as seen; a plugin detector keeps the tracker's own default.
    assert Pipeline(PipelineConfig(depth_source="none")).tracker.config.report_measured_box is True
    plugin = Pipeline(PipelineConfig(detector_plugin="occtrack_test_plugins:make", depth_source="none"))
    assert plugin.tracker.config.report_measured_box is False
