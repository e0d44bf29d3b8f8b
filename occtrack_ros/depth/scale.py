"""Metric scale for monocular depth from odometry.

A monocular depth network and its pose network are trained together from images alone, so both
are correct only up to one shared, unknown scale factor ``s``: metric depth = s * predicted depth
and metric translation = s * predicted translation. When odometry is available (frame.T_world_cam
on consecutive frames), its translation between the two frames is metric, so each frame pair gives
one measurement ``s_k = |t_odometry| / |t_posenet|``. The scale is the exponential moving average of
``log s_k`` (ratios are multiplicative, and the log average is not pulled up by one near-zero
PoseNet translation), updated only when both translations are large enough to be trusted
(``min_metric``); frames while the robot stands still leave the estimate unchanged. Until the
first trusted measurement the depth stays up-to-scale and ``is_metric`` is False.
"""
from __future__ import annotations

import math


class ScaleEstimator:
    """Smoothed ratio ``|t_metric| / |t_predicted|``; ``scale`` is None until one pair was trusted."""

    def __init__(self, momentum: float = 0.9, min_metric: float = 1e-3, min_predicted: float = 1e-6):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"ScaleEstimator momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.min_metric = min_metric  # metres of odometry motion below which we do not update
        self.min_predicted = min_predicted
        self._log_scale: float | None = None

    @property
    def scale(self) -> float | None:
        return None if self._log_scale is None else math.exp(self._log_scale)

    def update(self, metric_norm: float, predicted_norm: float) -> float | None:
        """Feed one pair of translation norms; returns the current scale."""
        if metric_norm >= self.min_metric and predicted_norm >= self.min_predicted:
            log_s = math.log(metric_norm / predicted_norm)
            if self._log_scale is None:
                self._log_scale = log_s
            else:
                self._log_scale = self.momentum * self._log_scale + (1.0 - self.momentum) * log_s
        return self.scale

    def reset(self) -> None:
        self._log_scale = None
