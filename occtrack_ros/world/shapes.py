"""Sprite silhouettes in normalised patch coordinates.

Every shape touches all four sides of its patch ``[-1, 1]^2``, so the patch is also the tight
amodal box of the silhouette (ground-truth boxes are the full patch, as in Sprites-MOT).
``a`` grows to the right and ``b`` downwards, like image coordinates.
"""
from __future__ import annotations

import numpy as np

SHAPES = ("ellipse", "rectangle", "triangle", "diamond", "hexagon", "cross")


def shape_mask(shape: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean silhouette of ``shape`` at normalised coordinates ``a``, ``b`` (same shape arrays)."""
    inside = (np.abs(a) <= 1.0) & (np.abs(b) <= 1.0)
    if shape == "ellipse":
        m = a * a + b * b <= 1.0
    elif shape == "rectangle":
        m = np.ones_like(inside)
    elif shape == "triangle":  # apex at the top centre, base along the bottom edge
        m = np.abs(a) <= 0.5 * (b + 1.0)
    elif shape == "diamond":
        m = np.abs(a) + np.abs(b) <= 1.0
    elif shape == "hexagon":  # flat top and bottom
        m = np.abs(a) + 0.5 * np.abs(b) <= 1.0
    elif shape == "cross":
        m = (np.abs(a) <= 0.4) | (np.abs(b) <= 0.4)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    return inside & m
