"""Object motion in the ground (x-z) plane: constant velocity broken by turns, stops and speed changes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MotionParams:
    """Motion parameters shared by all objects of a scene.

    Event rates are per frame; speeds are angular (rad/s seen from the lane depth) so that
    image-plane speeds, and hence occlusion durations, do not depend on the depth.
    """

    speed_range: tuple[float, float] = (0.08, 0.30)   # [rad/s] lateral speed / lane depth
    turn_rate: float = np.deg2rad(12.0)               # max heading change per frame [rad]
    accel: float = 0.25                               # max speed change per frame, fraction of the top speed
    p_reverse: float = 0.008                          # turn around
    p_veer: float = 0.03                              # new heading within max_offset of the lateral axis
    p_stop: float = 0.012                             # stop for stop_frames
    p_speed_change: float = 0.03
    stop_frames: tuple[int, int] = (5, 30)
    max_offset: float = np.deg2rad(25.0)              # heading stays within this of +-x: depths stay distinct
    lane_halfwidth: float = 0.8                       # [m] depth may wander this far from the lane


class ObjectMotion:
    """State and update of one object; all randomness comes from the caller's Generator."""

    def __init__(self, rng: np.random.Generator, x: float, y: float, lane_z: float, x_bound: float,
                 params: MotionParams):
        self.p = params
        self.lane_z = lane_z
        self.x_bound = x_bound
        self.position = np.array([x, y, lane_z], dtype=np.float64)
        side = 0.0 if rng.random() < 0.5 else np.pi
        if abs(x) > 0.8 * x_bound:  # start outside the view heading inwards so it enters
            side = np.pi if x > 0 else 0.0
        self.heading = side + rng.uniform(-params.max_offset, params.max_offset)
        self.target_heading = self.heading
        self.target_speed = self._draw_speed(rng)
        self.speed = self.target_speed
        self.stop_left = 0

    def _draw_speed(self, rng: np.random.Generator) -> float:
        return rng.uniform(*self.p.speed_range) * self.lane_z  # [m/s]

    def hurry(self) -> None:
        """Cancel a stop and move at the top of the speed range (deterministic: draws nothing)."""
        self.stop_left = 0
        self.target_speed = max(self.target_speed, self.p.speed_range[1] * self.lane_z)

    def step(self, rng: np.random.Generator, dt: float) -> None:
        """Advance one frame of ``dt`` seconds."""
        p = self.p
        events = rng.random(4)
        lateral = 0.0 if np.cos(self.target_heading) >= 0 else np.pi
        if events[0] < p.p_reverse:
            lateral = np.pi - lateral
            self.target_heading = lateral + rng.uniform(-p.max_offset, p.max_offset)
        elif events[1] < p.p_veer:
            self.target_heading = lateral + rng.uniform(-p.max_offset, p.max_offset)
        if events[2] < p.p_stop and self.stop_left == 0:
            self.stop_left = int(rng.integers(p.stop_frames[0], p.stop_frames[1] + 1))
        if events[3] < p.p_speed_change:
            self.target_speed = self._draw_speed(rng)
        x, _, z = self.position
        # Bounds: turn back towards the view once outside the roaming range, and keep near the lane.
        if x > self.x_bound and np.cos(self.target_heading) > 0:
            self.target_heading = np.pi + rng.uniform(-p.max_offset, p.max_offset)
        elif x < -self.x_bound and np.cos(self.target_heading) < 0:
            self.target_heading = rng.uniform(-p.max_offset, p.max_offset)
        dz = z - self.lane_z
        if abs(dz) > p.lane_halfwidth and np.sign(np.sin(self.target_heading)) == np.sign(dz):
            self.target_heading = -self.target_heading  # mirror the depth component
        delta = np.angle(np.exp(1j * (self.target_heading - self.heading)))
        self.heading += float(np.clip(delta, -p.turn_rate, p.turn_rate))
        goal = 0.0 if self.stop_left > 0 else self.target_speed
        max_dv = p.accel * p.speed_range[1] * self.lane_z
        self.speed += float(np.clip(goal - self.speed, -max_dv, max_dv))
        if self.stop_left > 0:
            self.stop_left -= 1
        self.position[0] += self.speed * np.cos(self.heading) * dt
        self.position[2] += self.speed * np.sin(self.heading) * dt
