"""Multi-object tracking through occlusion on an evolving scene graph.

``make_tracker(config=None, weights=None)`` is the entry point: without weights the tracker
associates with its motion model alone (boxes only, like SORT with long coasting); with
weights the learned scene-graph GNN scores associations.
"""
from __future__ import annotations

from pathlib import Path

from occtrack_ros.tracking.config import GNNConfig, TrackerConfig
from occtrack_ros.tracking.tracker import Tracker

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "tracker_occlusion.pt"

__all__ = ["GNNConfig", "Tracker", "TrackerConfig", "make_tracker", "DEFAULT_WEIGHTS"]


def make_tracker(config: TrackerConfig | dict | None = None, weights: str | Path | None = None) -> Tracker:
    """A ready tracker.

    ``weights``: a checkpoint written by ``occtrack train tracker``; "default" loads the shipped
    ``weights/tracker_occlusion.pt``; None (or "none") runs motion-only association. When both are given,
    a ``TrackerConfig`` replaces the stored tracker knobs (it must agree on the network shape), while a
    dict changes only the fields it names, on top of the stored config (what the ROS node passes).
    """
    if weights is None or str(weights).lower() == "none":
        if isinstance(config, dict):
            config = TrackerConfig.from_dict(config)
        return Tracker(config or TrackerConfig())
    from occtrack_ros.tracking.checkpoint import load_tracker_checkpoint

    path = DEFAULT_WEIGHTS if str(weights) == "default" else Path(weights)
    if isinstance(config, dict):
        model, stored = load_tracker_checkpoint(path)
        merged = stored.to_dict()
        gnn_changes = config.get("gnn", {})
        merged.update({k: v for k, v in config.items() if k != "gnn"})
        merged["gnn"] = {**merged["gnn"], **gnn_changes}
        config = TrackerConfig.from_dict(merged)
        if config.gnn != stored.gnn:
            raise ValueError(f"tracker checkpoint {path}: the network shape cannot be overridden ({gnn_changes})")
        return Tracker(config, model=model)
    model, stored = load_tracker_checkpoint(path, expected=config.gnn if config is not None else None)
    return Tracker(config or stored, model=model)
