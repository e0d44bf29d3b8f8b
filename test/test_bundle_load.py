"""The trained-system bundle: written from tiny untrained weights, validated, refused by name when broken."""
from __future__ import annotations

import json

import pytest

from occtrack_ros.training.bundle import BundleError, load_bundle, write_bundle


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import torch

    from occtrack_ros.models.depth_pose import DepthNet, PoseNet, save_depth_pose
    from occtrack_ros.models.detector.checkpoint import save_checkpoint
    from occtrack_ros.models.detector.config import preset_config
    from occtrack_ros.models.detector.model import SlotVideoModel
    from occtrack_ros.tracking.checkpoint import save_tracker
    from occtrack_ros.tracking.config import GNNConfig, TrackerConfig
    from occtrack_ros.tracking.gnn import SceneGraphGNN

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("weights")
    save_checkpoint(d / "det.pt", SlotVideoModel(preset_config("occlusion")))
    cfg = TrackerConfig(gnn=GNNConfig(hidden=8))
    save_tracker(d / "trk.pt", SceneGraphGNN(cfg.gnn), cfg)
    save_depth_pose(d / "dp.pt", DepthNet(), PoseNet())
    return d


def test_round_trip_gives_pipeline_fields(weights, tmp_path):
    out = write_bundle(tmp_path / "b", weights / "det.pt", weights / "trk.pt", weights / "dp.pt", git_revision="abc")
    b = load_bundle(out)
    assert b["depth_source"] == "learned"
    assert set(b["files"]) == {"detector", "tracker", "depth_pose"}
    assert b["pipeline"]["depth_weights"].endswith("depth_pose.pt")
    assert b["manifest"]["git_revision"] == "abc"
    assert load_bundle(out / "manifest.json")["path"] == out   # the manifest path works too

    from occtrack_ros.pipeline import Pipeline, PipelineConfig

    pipe = Pipeline(PipelineConfig(**b["pipeline"]))
    import numpy as np

    from occtrack_ros.types import Frame

    result = pipe.process(Frame(image=np.zeros((64, 64, 3), np.uint8), stamp_ns=0, index=0))
    assert result.output is not None


def test_without_depth_pose_the_bundle_uses_the_depth_topic(weights, tmp_path):
    b = load_bundle(write_bundle(tmp_path / "b", weights / "det.pt", weights / "trk.pt"))
    assert b["depth_source"] == "topic" and b["pipeline"]["depth_weights"] is None


@pytest.mark.parametrize("damage", ["missing", "truncated", "flipped", "not_a_checkpoint"])
def test_a_damaged_component_is_named(weights, tmp_path, damage):
    out = write_bundle(tmp_path / "b", weights / "det.pt", weights / "trk.pt", weights / "dp.pt")
    target = out / "tracker.pt"
    if damage == "missing":
        target.unlink()
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "flipped":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    else:
        # Same size and matching hash, but a detector file where the tracker should be.
        det = (out / "detector.pt").read_bytes()
        target.write_bytes(det)
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["components"]["tracker"] = dict(manifest["components"]["detector"], file="tracker.pt")
        (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="tracker") as info:
        load_bundle(out)
    assert str(target) in str(info.value)


def test_incomplete_or_foreign_bundles_are_refused(weights, tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nowhere")
    out = write_bundle(tmp_path / "b", weights / "det.pt", weights / "trk.pt")
    (out / "manifest.json").unlink()
    with pytest.raises(BundleError, match="no manifest.json"):
        load_bundle(out)
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="corrupt"):
        load_bundle(out)
    (out / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(BundleError, match="something-else"):
        load_bundle(out)
    out2 = write_bundle(tmp_path / "c", weights / "det.pt", weights / "trk.pt")
    m = json.loads((out2 / "manifest.json").read_text())
    del m["components"]["detector"]
    (out2 / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="lists no detector"):
        load_bundle(out2)
    with pytest.raises(BundleError, match="do not exist"):
        write_bundle(tmp_path / "d", tmp_path / "none.pt", weights / "trk.pt")


def test_node_parameter_bundle_fills_the_weights_and_names_a_broken_file(weights, tmp_path):
    """The node and `occtrack replay` load a trained system with one parameter: bundle."""
    from occtrack_ros.pipeline import ComponentUnavailable, Pipeline
    from occtrack_ros.ros import parameters as P

    out = write_bundle(tmp_path / "b", weights / "det.pt", weights / "trk.pt", weights / "dp.pt")
    values = {**P.defaults(), "bundle": str(out), "depth_source": "learned"}
    pipe = Pipeline(P.pipeline_config(values))
    parts = load_bundle(out)["pipeline"]
    for name in ("detector_weights", "tracker_weights", "depth_weights"):
        assert getattr(pipe.config, name) == parts[name]
    # An explicit weights parameter wins over the bundle.
    values["tracker_weights"] = str(weights / "trk.pt")
    assert Pipeline(P.pipeline_config(values)).config.tracker_weights == str(weights / "trk.pt")

    (out / "detector.pt").write_bytes(b"garbage")
    with pytest.raises(ComponentUnavailable, match="detector.pt"):
        Pipeline(P.pipeline_config({**P.defaults(), "bundle": str(out)}))
