"""Camera-motion helpers for the tracker: projection and rotation-only image warps."""
from __future__ import annotations

import numpy as np


def project(points_world: np.ndarray, T_world_cam: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, 3) world points -> (M, 2) pixels and (M,) depths in the camera ``T_world_cam``."""
    T_cam_world = np.linalg.inv(T_world_cam)
    p = points_world @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]   # (M, 3) camera frame
    z = p[:, 2]
    uv = (p @ K.T)[:, :2] / np.maximum(z, 1e-6)[:, None]
    return uv, z


def backproject(uv: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(M, 2) pixels and (M,) depths -> (M, 3) camera-frame points."""
    rays = np.concatenate([uv, np.ones((len(uv), 1))], axis=1) @ np.linalg.inv(K).T   # (M, 3), z = 1
    return rays * depth[:, None]


def rotation_homography(T_world_prev: np.ndarray, T_world_cur: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(3, 3) infinite homography mapping pixels of the previous camera to the current one.

    Exact for a pure rotation and for distant points; translation needs depth and is ignored.
    """
    R_cur_prev = T_world_cur[:3, :3].T @ T_world_prev[:3, :3]
    return K @ R_cur_prev @ np.linalg.inv(K)


def warp_points(H: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(M, 2) pixels through homography H -> (M, 2)."""
    p = np.concatenate([uv, np.ones((len(uv), 1))], axis=1) @ H.T
    return p[:, :2] / np.where(np.abs(p[:, 2:3]) < 1e-9, 1e-9, p[:, 2:3])
