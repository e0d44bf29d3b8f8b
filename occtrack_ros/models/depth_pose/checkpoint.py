"""Save and load DepthNet + PoseNet together with their configs.

Loading refuses a checkpoint whose shape-defining config fields differ from the requested ones
and names the field (Monodepth2 silently drops mismatched keys).
"""
from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import torch

from occtrack_ros.atomic_io import torch_save_atomic
from occtrack_ros.models.depth_pose.depth_net import DepthNet, DepthNetConfig
from occtrack_ros.models.depth_pose.pose_net import PoseNet, PoseNetConfig

FORMAT = "occtrack-depth-pose-v1"
_SHAPE_FIELDS = {
    "depth": ("enc_channels", "dec_channels", "num_scales"),
    "pose": ("channels", "difference_input", "groups", "antisymmetric"),
}


def _config_from_dict(cls, data: dict, what: str):
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{what} config has unknown fields {sorted(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)


def _norm(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _check(saved, wanted, what: str, path) -> None:
    if wanted is None:
        return
    for name in _SHAPE_FIELDS[what]:
        a, b = _norm(getattr(saved, name)), _norm(getattr(wanted, name))
        if a != b:
            raise ValueError(f"checkpoint {path}: {what} config field '{name}' is {a}, expected {b}")


def save_depth_pose(path: str | Path, depth_net: DepthNet, pose_net: PoseNet, meta: dict | None = None,
                    extra: dict | None = None) -> None:
    """Write both nets, their configs and free-form metadata (training config, git revision)."""
    blob = {
        "format": FORMAT,
        "depth_config": asdict(depth_net.config),
        "pose_config": asdict(pose_net.config),
        "depth_state": depth_net.state_dict(),
        "pose_state": pose_net.state_dict(),
        "meta": meta or {},
    }
    if extra:
        blob.update(extra)
    torch_save_atomic(blob, path)


def load_checkpoint_blob(path: str | Path) -> dict:
    """Read and validate the raw checkpoint dictionary."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth/pose checkpoint not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise ValueError(f"depth/pose checkpoint {path} is corrupt or not a torch file: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"{path} is not a depth/pose checkpoint (format {got!r}, expected {FORMAT!r})")
    return blob


def load_depth_pose(path: str | Path, device: str = "cpu", depth_config: DepthNetConfig | None = None,
                    pose_config: PoseNetConfig | None = None) -> tuple[DepthNet, PoseNet, dict]:
    """Load (DepthNet, PoseNet, meta) in eval mode; optional configs must match in shape fields."""
    blob = load_checkpoint_blob(path)
    dcfg = _config_from_dict(DepthNetConfig, blob["depth_config"], "depth")
    pcfg = _config_from_dict(PoseNetConfig, blob["pose_config"], "pose")
    _check(dcfg, depth_config, "depth", path)
    _check(pcfg, pose_config, "pose", path)
    depth_net, pose_net = DepthNet(dcfg), PoseNet(pcfg)
    depth_net.load_state_dict(blob["depth_state"], strict=True)
    pose_net.load_state_dict(blob["pose_state"], strict=True)
    return depth_net.to(device).eval(), pose_net.to(device).eval(), blob.get("meta", {})
