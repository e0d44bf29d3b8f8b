"""4x4 rigid transforms (SE(3)) as numpy arrays, batched over leading dimensions.

``T_a_b`` maps points expressed in frame b into frame a: ``p_a = T_a_b @ p_b``. With camera poses
``T_world_cam`` (types.Frame), the motion of the camera from frame ``prev`` to frame ``cur`` is
``T_prev_cur = inv(T_world_prev) @ T_world_cur``: it maps points seen by ``cur`` into ``prev``.
"""
from __future__ import annotations

import numpy as np


def _check_pose(T: np.ndarray, name: str = "T") -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"{name} must have shape (..., 4, 4), got {T.shape}")
    return T


def make_pose(R: np.ndarray | None = None, t: np.ndarray | None = None) -> np.ndarray:
    """Build a (4, 4) pose from a (3, 3) rotation and a (3,) translation (identity where omitted)."""
    T = np.eye(4)
    if R is not None:
        R = np.asarray(R, dtype=np.float64)
        if R.shape != (3, 3):
            raise ValueError(f"R must have shape (3, 3), got {R.shape}")
        T[:3, :3] = R
    if t is not None:
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        if t.shape != (3,):
            raise ValueError(f"t must have 3 elements, got shape {t.shape}")
        T[:3, 3] = t
    return T


def invert(T: np.ndarray) -> np.ndarray:
    """Closed-form inverse of rigid transforms (..., 4, 4): [R t]^-1 = [R^T, -R^T t]."""
    T = _check_pose(T)
    R = T[..., :3, :3]
    t = T[..., :3, 3:]
    Rt = np.swapaxes(R, -1, -2)
    out = np.zeros_like(T)
    out[..., :3, :3] = Rt
    out[..., :3, 3:] = -Rt @ t
    out[..., 3, 3] = 1.0
    return out


def compose(*poses: np.ndarray) -> np.ndarray:
    """Chain transforms left to right: ``T_a_b`` then ``T_b_c`` gives ``T_a_c``."""
    if not poses:
        raise ValueError("compose needs at least one pose")
    out = _check_pose(poses[0])
    for T in poses[1:]:
        out = out @ _check_pose(T)
    return out


def relative_pose(T_world_prev: np.ndarray, T_world_cur: np.ndarray) -> np.ndarray:
    """``T_prev_cur``: maps points in the current camera frame into the previous camera frame."""
    return invert(T_world_prev) @ _check_pose(T_world_cur)


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) transform to (N, 3) points (or (3,) for one point); returns the same shape."""
    T = _check_pose(T)
    if T.shape != (4, 4):
        raise ValueError(f"transform_points takes one (4, 4) pose, got {T.shape}")
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[-1] != 3:
        raise ValueError(f"points must have shape (N, 3) or (3,), got {pts.shape}")
    return pts @ T[:3, :3].T + T[:3, 3]


def cam_to_world(T_world_cam: np.ndarray, points_cam: np.ndarray) -> np.ndarray:
    """Camera-frame (N, 3) points to world-frame points."""
    return transform_points(T_world_cam, points_cam)


def world_to_cam(T_world_cam: np.ndarray, points_world: np.ndarray) -> np.ndarray:
    """World-frame (N, 3) points to camera-frame points."""
    return transform_points(invert(T_world_cam), points_world)
