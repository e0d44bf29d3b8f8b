"""Save and load tracker weights together with the config that shaped them."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from occtrack_ros.atomic_io import torch_save_atomic
from occtrack_ros.tracking.config import GNNConfig, TrackerConfig

FORMAT = "occtrack-tracker-v1"


def save_tracker(path: str | Path, model, config: TrackerConfig, extra: dict | None = None) -> None:
    payload = {"format": FORMAT, "config": config.to_dict(), "state_dict": model.state_dict(), "extra": extra or {}}
    torch_save_atomic(payload, path)


def load_tracker_checkpoint(path: str | Path, expected: GNNConfig | None = None):
    """Returns (SceneGraphGNN, TrackerConfig stored with it). Refuses mismatching shape fields."""
    import torch

    from occtrack_ros.tracking.gnn import SceneGraphGNN

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tracker weights not found: {path}")
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the path named
        raise ValueError(f"corrupt tracker checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an occtrack tracker checkpoint (format != {FORMAT!r})")
    config = TrackerConfig.from_dict(payload["config"])
    if expected is not None:
        stored = asdict(config.gnn)
        for name in GNNConfig.SHAPE_FIELDS:
            if stored[name] != getattr(expected, name):
                raise ValueError(f"tracker checkpoint {path}: GNNConfig.{name}={stored[name]} but "
                                 f"{getattr(expected, name)} was requested")
    model = SceneGraphGNN(config.gnn)
    model.load_state_dict(payload["state_dict"], strict=True)
    model.eval()
    return model, config
