"""Camera poses files (poses.txt: ``frame tx ty tz qx qy qz qw``, 1-based, T_world_cam)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def quaternion_matrix(qx: float, qy: float, qz: float, qw: float) -> np.ndarray:
    """(3, 3) rotation of a unit quaternion (x, y, z, w); normalises it first."""
    q = np.array([qw, qx, qy, qz], np.float64)
    n = np.linalg.norm(q)
    if n < 1e-12:
        raise ValueError("zero quaternion in poses file")
    w, x, y, z = q / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def read_poses(path: str | Path) -> dict[int, np.ndarray]:
    """poses.txt -> {0-based frame: (4, 4) T_world_cam}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"poses file not found: {path}")
    rows = np.loadtxt(path, ndmin=2)
    if rows.shape[1] != 8:
        raise ValueError(f"{path}: expected 8 columns (frame tx ty tz qx qy qz qw), got {rows.shape[1]}")
    out = {}
    for r in rows:
        T = np.eye(4)
        T[:3, :3] = quaternion_matrix(*r[4:8])
        T[:3, 3] = r[1:4]
        out[int(r[0]) - 1] = T
    return out
