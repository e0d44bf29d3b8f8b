"""Pinhole back-projection and projection against hand-computed pixels."""
import numpy as np
import torch
import torch.nn.functional as F

from occtrack_ros.geometry import BackprojectDepth, Project3D, backproject, intrinsics_matrix, project
from occtrack_ros.types import CameraIntrinsics

CAM = CameraIntrinsics(fx=100.0, fy=50.0, cx=64.0, cy=32.0, width=128, height=64)


def test_backproject_and_project_hand_case():
    p = backproject([[74.0, 32.0], [64.0, 42.0]], [2.0, 4.0], CAM)
    np.testing.assert_allclose(p, [[0.2, 0.0, 2.0], [0.0, 0.8, 4.0]])  # (74-64)/100*2, (42-32)/50*4
    uv, z = project(p, CAM)
    np.testing.assert_allclose(uv, [[74.0, 32.0], [64.0, 42.0]])
    np.testing.assert_allclose(z, [2.0, 4.0])
    uv_behind, _ = project([[0.0, 0.0, -1.0]], CAM)
    assert np.isnan(uv_behind).all()


def test_intrinsics_matrix_rescales():
    K = intrinsics_matrix(CAM, 32, 64)
    np.testing.assert_allclose(K, [[50.0, 0, 32.0], [0, 25.0, 16.0], [0, 0, 1]])


def test_dense_backprojection_uses_pixel_centres_and_any_batch():
    K = torch.tensor(CAM.K, dtype=torch.float32)
    bp = BackprojectDepth(64, 128)
    depth = torch.full((3, 1, 64, 128), 2.0)
    pts = bp(depth, torch.linalg.inv(K)[None])  # (3, 3, H*W)
    assert pts.shape == (3, 3, 64 * 128)
    # pixel (row 0, col 0) has centre (0.5, 0.5): x = (0.5 - 64) / 100 * 2, y = (0.5 - 32) / 50 * 2
    np.testing.assert_allclose(pts[2, :, 0].numpy(), [-1.27, -1.26, 2.0], rtol=1e-5)
    assert "pix" in dict(bp.named_buffers())


def test_identity_projection_resamples_the_image_exactly():
    K = torch.tensor(CAM.K, dtype=torch.float32)[None]
    bp, pj = BackprojectDepth(64, 128), Project3D(64, 128)
    depth = torch.rand(2, 1, 64, 128) * 5 + 1
    grid, z = pj(bp(depth, torch.linalg.inv(K)), K, torch.eye(4)[None])
    assert grid.shape == (2, 64, 128, 2) and z.shape == (2, 1, 64, 128)
    img = torch.rand(2, 3, 64, 128)
    out = F.grid_sample(img, grid, align_corners=False)
    torch.testing.assert_close(out, img, atol=1e-4, rtol=0)
    torch.testing.assert_close(z, depth)


def test_translation_shifts_projection_by_hand_computed_pixels():
    K = torch.tensor(CAM.K, dtype=torch.float32)[None]
    bp, pj = BackprojectDepth(64, 128), Project3D(64, 128)
    depth = torch.full((1, 1, 64, 128), 2.0)
    T = torch.eye(4)[None].clone()
    T[0, 0, 3] = 0.1  # points move +0.1 m in x: fx * 0.1 / 2 = 5 px to the right
    grid, _ = pj(bp(depth, torch.linalg.inv(K)), K, T)
    u = (grid[0, 10, 20, 0] + 1) / 2 * 128
    assert abs(float(u) - (20.5 + 5.0)) < 1e-3
