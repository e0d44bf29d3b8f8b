"""Smooth camera ego-motion: sinusoidal translation (sideways, forward, a little bob) and pan.

The world frame uses the optical convention of a camera at rest (x right, y down, z forward),
so the far wall is the plane ``z = background_depth`` and objects move in the x-z plane.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def rotation_y(angle: float) -> np.ndarray:
    """(3, 3) rotation about the y (down) axis: a pan; positive turns the view to the right."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_x(angle: float) -> np.ndarray:
    """(3, 3) rotation about the x (right) axis: a tilt; positive turns the view downwards."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


@dataclass
class CameraPath:
    """Sum-of-sines trajectory; every term is sampled once per sequence."""

    amplitude: np.ndarray  # (3,) translation amplitude x, y, z [m]
    frequency: np.ndarray  # (3,) [Hz]
    phase: np.ndarray      # (3,) [rad]
    pan_amplitude: float   # [rad]
    pan_frequency: float   # [Hz]
    pan_phase: float
    tilt_amplitude: float  # [rad]
    tilt_frequency: float
    tilt_phase: float

    @classmethod
    def sample(cls, rng: np.random.Generator, translation_m: tuple[float, float],
               forward_m: tuple[float, float], pan_deg: tuple[float, float],
               frequency_hz: tuple[float, float]) -> CameraPath:
        """Draw a trajectory; amplitudes in the given ranges, frequencies in ``frequency_hz``."""
        amplitude = np.array([rng.uniform(*translation_m), rng.uniform(0.02, 0.08), rng.uniform(*forward_m)])
        return cls(
            amplitude=amplitude,
            frequency=rng.uniform(*frequency_hz, size=3),
            phase=rng.uniform(0.0, 2.0 * np.pi, size=3),
            pan_amplitude=np.deg2rad(rng.uniform(*pan_deg)),
            pan_frequency=rng.uniform(*frequency_hz),
            pan_phase=rng.uniform(0.0, 2.0 * np.pi),
            tilt_amplitude=np.deg2rad(rng.uniform(0.5, 2.0)),
            tilt_frequency=rng.uniform(*frequency_hz),
            tilt_phase=rng.uniform(0.0, 2.0 * np.pi),
        )

    def pose(self, t: float) -> np.ndarray:
        """(4, 4) T_world_cam at time ``t`` seconds."""
        centre = self.amplitude * np.sin(2.0 * np.pi * self.frequency * t + self.phase)
        pan = self.pan_amplitude * np.sin(2.0 * np.pi * self.pan_frequency * t + self.pan_phase)
        tilt = self.tilt_amplitude * np.sin(2.0 * np.pi * self.tilt_frequency * t + self.tilt_phase)
        T = np.eye(4)
        T[:3, :3] = rotation_y(pan) @ rotation_x(tilt)
        T[:3, 3] = centre
        return T
