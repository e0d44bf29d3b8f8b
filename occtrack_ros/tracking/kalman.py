"""Batched constant-velocity Kalman filters in numpy.

One filter class serves both motion spaces of the tracker: the image box (cx, cy, w, h) and
the 3D position in the world frame (x, y, z). States of all tracks are stacked so a frame costs
a handful of small batched matrix products instead of a Python loop per track.
"""
from __future__ import annotations

import numpy as np


def transition(dim: int, dt: float) -> np.ndarray:
    """(2*dim, 2*dim) constant-velocity transition for a time step ``dt``."""
    F = np.eye(2 * dim)
    F[:dim, dim:] = dt * np.eye(dim)
    return F


def predict(x: np.ndarray, P: np.ndarray, dt: float, q_pos: np.ndarray, q_vel: np.ndarray) -> tuple:
    """Predict stacked states ``dt`` ahead.

    x: (T, 2D) means, P: (T, 2D, 2D) covariances, q_pos/q_vel: (T, D) process noise std devs
    per unit step (scaled by dt here: position noise ~ dt, velocity noise ~ dt).
    Returns the new (x, P).
    """
    T, S = x.shape
    D = S // 2
    assert P.shape == (T, S, S), f"P must be ({T}, {S}, {S}), got {P.shape}"
    F = transition(D, dt)
    x = x @ F.T                                                   # (T, 2D)
    P = F @ P @ F.T                                               # (T, 2D, 2D)
    q = np.concatenate([q_pos, q_vel], axis=1) * max(dt, 1e-6)    # (T, 2D)
    P = P + q[:, :, None] ** 2 * np.eye(S)[None]
    return x, P


def innovation(x: np.ndarray, P: np.ndarray, r: np.ndarray) -> tuple:
    """Projected measurement mean (T, D) and covariance (T, D, D); r: (T, D) measurement std."""
    D = x.shape[1] // 2
    z = x[:, :D]
    S = P[:, :D, :D] + r[:, :, None] ** 2 * np.eye(D)[None]
    return z, S


def mahalanobis(x: np.ndarray, P: np.ndarray, r: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of measurements z (N, D) to every track: (T, N)."""
    mean, S = innovation(x, P, r)                                 # (T, D), (T, D, D)
    if len(z) == 0 or len(mean) == 0:
        return np.zeros((len(mean), len(z)))
    S_inv = np.linalg.inv(S)                                      # (T, D, D)
    diff = z[None, :, :] - mean[:, None, :]                       # (T, N, D)
    return np.einsum("tni,tij,tnj->tn", diff, S_inv, diff)


def update(x: np.ndarray, P: np.ndarray, r: np.ndarray, z: np.ndarray) -> tuple:
    """Correct stacked states with one measurement each: x (T, 2D), P, r (T, D), z (T, D)."""
    T, S = x.shape
    D = S // 2
    mean, Sm = innovation(x, P, r)                                # (T, D), (T, D, D)
    PHt = P[:, :, :D]                                             # (T, 2D, D)
    K = PHt @ np.linalg.inv(Sm)                                   # (T, 2D, D)
    x = x + np.einsum("tsd,td->ts", K, z - mean)
    P = P - K @ np.swapaxes(PHt, 1, 2)                            # (T, 2D, 2D)
    P = 0.5 * (P + np.swapaxes(P, 1, 2))
    return x, P


def initiate(z: np.ndarray, pos_std: np.ndarray, vel_std: np.ndarray) -> tuple:
    """New states from first measurements z (N, D) with zero velocity."""
    N, D = z.shape
    x = np.concatenate([z, np.zeros_like(z)], axis=1)             # (N, 2D)
    std = np.concatenate([pos_std, vel_std], axis=1)              # (N, 2D)
    P = std[:, :, None] ** 2 * np.eye(2 * D)[None]                # (N, 2D, 2D)
    return x, P
