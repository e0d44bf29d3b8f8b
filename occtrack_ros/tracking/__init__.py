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
    ``config`` overrides the stored tracker knobs but must agree on the network shape.
    """
    if isinstance(config, dict):
        config = TrackerConfig.from_dict(config)
    if weights is None or str(weights).lower() == "none":
        return Tracker(config or TrackerConfig())
    from occtrack_ros.tracking.checkpoint import load_tracker_checkpoint

    path = DEFAULT_WEIGHTS if str(weights) == "default" else Path(weights)
    model, stored = load_tracker_checkpoint(path, expected=config.gnn if config is not None else None)
    return Tracker(config or stored, model=model)
