"""Detector checkpoints: the config travels with the weights, and mismatches are refused by name."""
from __future__ import annotations

from pathlib import Path

import torch

from occtrack_ros.atomic_io import torch_save_atomic
from occtrack_ros.models.detector.config import SHAPE_FIELDS, DetectorConfig
from occtrack_ros.models.detector.model import SlotVideoModel

FORMAT = "occtrack-detector-v1"
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_WEIGHTS = {
    "occlusion": WEIGHTS_DIR / "detector_occlusion.pt",
    "sprites-mot": WEIGHTS_DIR / "detector_sprites.pt",
}


def _learned_state(model: SlotVideoModel) -> dict[str, torch.Tensor]:
    """State dict without a frozen ViT (it is reloaded from ``backbone_path``, not duplicated)."""
    state = model.state_dict()
    if model.cfg.backbone != "cnn":
        state = {k: v for k, v in state.items() if not k.startswith("backbone.vit.")}
    return state


def save_checkpoint(path: str | Path, model: SlotVideoModel, optimizer: torch.optim.Optimizer | None = None,
                    step: int = 0, history: dict | None = None, extra: dict | None = None) -> None:
    """Write weights + config (+ optimizer state, step and loss history for ``--resume``) atomically."""
    payload = {"format": FORMAT, "config": model.cfg.to_dict(), "model": _learned_state(model), "step": int(step),
               "history": history or {}, "extra": extra or {}}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    torch_save_atomic(payload, path)


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dict, validated; errors name the path and the missing or bad field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"detector checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the path
        raise ValueError(f"detector checkpoint {str(path)!r} is corrupt or not a torch file: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"detector checkpoint {str(path)!r}: format {got!r}, expected {FORMAT!r}")
    for key in ("config", "model"):
        if key not in payload:
            raise ValueError(f"detector checkpoint {str(path)!r} has no {key!r} field")
    return payload


def check_compatible(saved: DetectorConfig, wanted: DetectorConfig, path: str | Path) -> None:
    """Raise ValueError naming the first shape-defining field on which the two configs differ."""
    for name in SHAPE_FIELDS:
        a, b = getattr(saved, name), getattr(wanted, name)
        if a != b:
            raise ValueError(f"detector checkpoint {str(path)!r} has {name}={a!r} but the config asks for "
                             f"{name}={b!r}; shape-defining fields must match")


def load_model(path: str | Path, config: DetectorConfig | None = None, overrides: dict | None = None,
               ) -> tuple[SlotVideoModel, dict]:
    """Model from a checkpoint; returns (model, raw checkpoint dict).

    ``config``: refuse the file unless its shape-defining fields match it; ``overrides``: runtime
    fields to change (device, thresholds, backbone_path).
    """
    payload = read_checkpoint(path)
    try:
        saved = DetectorConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"detector checkpoint {str(path)!r} has an invalid config: {exc}") from exc
    if config is not None:
        check_compatible(saved, config, path)
        cfg = config
    else:
        cfg = saved
    if overrides:
        bad = sorted(set(overrides) & set(SHAPE_FIELDS))
        if bad:
            raise ValueError(f"cannot override shape-defining field(s) {bad} when loading {str(path)!r}")
        cfg = cfg.replace(**overrides)
    model = SlotVideoModel(cfg)
    own = _learned_state(model)
    state = payload["model"]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(f"detector checkpoint {str(path)!r} does not fit its config: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}, shape mismatch {wrong[:3]}")
    model.load_state_dict(state, strict=cfg.backbone == "cnn")
    return model, payload
