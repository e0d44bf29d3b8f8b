"""Rotations: quaternions through scipy, axis-angle (Rodrigues) in torch for the pose network.

Quaternions are in ROS / scipy order ``(qx, qy, qz, qw)``, as in poses.txt and geometry_msgs.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation


def pose_from_quaternion(t: np.ndarray, q_xyzw: np.ndarray) -> np.ndarray:
    """(4, 4) pose from a (3,) translation and a (4,) quaternion (x, y, z, w); q need not be unit."""
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    q = np.asarray(q_xyzw, dtype=np.float64).reshape(-1)
    if t.shape != (3,) or q.shape != (4,):
        raise ValueError(f"pose_from_quaternion: need t (3,) and q (4,), got {t.shape} and {q.shape}")
    if not np.isfinite(q).all() or np.linalg.norm(q) < 1e-9:
        raise ValueError(f"pose_from_quaternion: invalid quaternion {q.tolist()}")
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q).as_matrix()
    T[:3, 3] = t
    return T


def pose_to_quaternion(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a (4, 4) pose into translation (3,) and unit quaternion (4,) (x, y, z, w), qw >= 0."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"pose_to_quaternion: need a (4, 4) pose, got {T.shape}")
    q = Rotation.from_matrix(T[:3, :3]).as_quat()
    if q[3] < 0:  # q and -q are the same rotation; pick one so outputs are comparable
        q = -q
    return T[:3, 3].copy(), q


def rotation_angle_deg(R: np.ndarray) -> float:
    """Angle of a (3, 3) rotation (or of the rotation part of a (4, 4) pose) in degrees."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape == (4, 4):
        R = R[:3, :3]
    if R.shape != (3, 3):
        raise ValueError(f"rotation_angle_deg: need (3, 3) or (4, 4), got {R.shape}")
    return float(np.rad2deg(Rotation.from_matrix(R).magnitude()))


def axis_angle_to_matrix(axis_angle: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """Differentiable (B, 4, 4) transforms from (B, 3) axis-angle vectors and (B, 3) translations.

    Rodrigues' formula written out so that gradients flow at small angles, where the pose network
    starts (its outputs are scaled by 0.01).
    """
    assert axis_angle.dim() == 2 and axis_angle.shape[1] == 3, f"axis_angle must be (B, 3), got {axis_angle.shape}"
    assert translation.shape == axis_angle.shape, f"translation must match {axis_angle.shape}, got {translation.shape}"
    B = axis_angle.shape[0]
    angle = axis_angle.norm(dim=1, keepdim=True).clamp_min(1e-7)  # (B, 1)
    axis = axis_angle / angle  # (B, 3)
    c = torch.cos(angle)[:, :, None]  # (B, 1, 1)
    s = torch.sin(angle)[:, :, None]
    x, y, z = axis[:, 0], axis[:, 1], axis[:, 2]
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=1).view(B, 3, 3)  # (B, 3, 3)
    outer = axis[:, :, None] * axis[:, None, :]  # (B, 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand(B, 3, 3)
    R = c * eye + s * skew + (1.0 - c) * outer  # (B, 3, 3)
    T = torch.zeros(B, 4, 4, dtype=axis_angle.dtype, device=axis_angle.device)
    T[:, :3, :3] = R
    T[:, :3, 3] = translation
    T[:, 3, 3] = 1.0
    return T
