"""Z-buffered rendering of planar primitives through a pinhole camera.

Every primitive is planar and opaque, so keeping the nearest surface per pixel is the
painter's algorithm made exact: the depth map and the visible-instance image come out of the
same test that chooses the colour.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from occtrack_ros.types import CameraIntrinsics
from occtrack_ros.world.shapes import shape_mask


@dataclass
class Canvas:
    """Colour, depth and visible-instance buffers of one frame."""

    image: np.ndarray  # (H, W, 3) float32 RGB in [0, 1]
    depth: np.ndarray  # (H, W) float32 [m], +inf where nothing was drawn
    ids: np.ndarray    # (H, W) uint16, 0 = not a tracked object

    @classmethod
    def empty(cls, height: int, width: int) -> Canvas:
        """Black canvas at infinite depth."""
        return cls(np.zeros((height, width, 3), np.float32), np.full((height, width), np.inf, np.float32),
                   np.zeros((height, width), np.uint16))


def camera_rays(intrinsics: CameraIntrinsics) -> np.ndarray:
    """(H, W, 3) ray through each pixel centre in the optical frame, scaled to z = 1."""
    u = (np.arange(intrinsics.width) + 0.5 - intrinsics.cx) / intrinsics.fx
    v = (np.arange(intrinsics.height) + 0.5 - intrinsics.cy) / intrinsics.fy
    rays = np.empty((intrinsics.height, intrinsics.width, 3), np.float64)
    rays[..., 0] = u[None, :]
    rays[..., 1] = v[:, None]
    rays[..., 2] = 1.0
    return rays


def draw_world_rect(canvas: Canvas, rays_world: np.ndarray, centre: np.ndarray, plane_z: float,
                    x_range: tuple[float, float], y_range: tuple[float, float],
                    colour_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], instance_id: int = 0) -> None:
    """Draw the rectangle ``x_range x y_range`` of the world plane ``z = plane_z``.

    ``rays_world``: (H, W, 3) pixel rays rotated into the world frame (optical z-component 1,
    so the ray parameter at the hit is the optical depth). ``colour_fn(X, Y)`` gets the world
    coordinates of the hit points (1-D arrays) and returns (N, 3) colours.
    """
    dz = rays_world[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (plane_z - centre[2]) / dz  # (H, W) optical depth of the hit
    X = centre[0] + t * rays_world[..., 0]
    Y = centre[1] + t * rays_world[..., 1]
    hit = (t > 0) & (X >= x_range[0]) & (X <= x_range[1]) & (Y >= y_range[0]) & (Y <= y_range[1])
    hit &= t < canvas.depth
    if not hit.any():
        return
    canvas.image[hit] = colour_fn(X[hit], Y[hit])
    canvas.depth[hit] = t[hit]
    canvas.ids[hit] = instance_id


@dataclass
class BillboardHit:
    """Where a billboard landed in the image (before later primitives may cover it)."""

    amodal_box: np.ndarray  # (4,) xyxy [px], unclipped
    amodal_area: int        # silhouette pixels inside the image


def draw_billboard(canvas: Canvas, intrinsics: CameraIntrinsics, position_cam: np.ndarray,
                   half_size: tuple[float, float], shape: str,
                   colour_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], instance_id: int,
                   near: float = 0.3) -> BillboardHit | None:
    """Draw a sprite parallel to the image plane centred at ``position_cam`` (optical frame, m).

    A camera-facing planar sprite has one depth, ``position_cam[2]``, at every pixel.
    ``half_size``: (half width, half height) [m]. ``colour_fn(a, b)`` maps normalised patch
    coordinates (1-D arrays) to (N, 3) colours. Returns None when the sprite is behind the
    camera or its box misses the image.
    """
    x, y, z = (float(v) for v in position_cam)
    if z <= near:
        return None
    u = intrinsics.fx * x / z + intrinsics.cx
    v = intrinsics.fy * y / z + intrinsics.cy
    hw = intrinsics.fx * half_size[0] / z
    hh = intrinsics.fy * half_size[1] / z
    box = np.array([u - hw, v - hh, u + hw, v + hh], dtype=np.float64)
    if box[2] <= 0 or box[3] <= 0 or box[0] >= intrinsics.width or box[1] >= intrinsics.height:
        return None
    j0, i0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    j1, i1 = min(int(np.ceil(box[2])), intrinsics.width), min(int(np.ceil(box[3])), intrinsics.height)
    a = ((np.arange(j0, j1) + 0.5 - u) / hw)[None, :]
    b = ((np.arange(i0, i1) + 0.5 - v) / hh)[:, None]
    a, b = np.broadcast_arrays(a, b)  # (h, w) each
    silhouette = shape_mask(shape, a, b)
    area = int(silhouette.sum())
    region = (slice(i0, i1), slice(j0, j1))
    draw = silhouette & (z < canvas.depth[region])
    if draw.any():
        canvas.image[region][draw] = colour_fn(a[draw], b[draw])
        canvas.depth[region][draw] = z
        canvas.ids[region][draw] = instance_id
    return BillboardHit(amodal_box=box, amodal_area=area)


def visible_box(ids: np.ndarray, instance_id: int) -> tuple[np.ndarray | None, int]:
    """(xyxy box of the visible pixels or None, visible pixel count) of one instance."""
    rows, cols = np.nonzero(ids == instance_id)
    if len(rows) == 0:
        return None, 0
    box = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], dtype=np.float64)
    return box, int(len(rows))
