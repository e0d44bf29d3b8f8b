"""SE(3), quaternion and axis-angle helpers against hand-computed cases."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from occtrack_ros.geometry import (
    axis_angle_to_matrix,
    cam_to_world,
    compose,
    invert,
    make_pose,
    pose_from_quaternion,
    pose_to_quaternion,
    relative_pose,
    rotation_angle_deg,
    transform_points,
    world_to_cam,
)

RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def test_transform_points_rotation_then_translation():
    T = make_pose(RZ90, [1.0, 2.0, 3.0])
    # (1, 0, 0) rotated 90 degrees about z is (0, 1, 0), then shifted by t
    np.testing.assert_allclose(transform_points(T, [1.0, 0.0, 0.0]), [1.0, 3.0, 3.0])
    pts = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(transform_points(T, pts), [[1.0, 2.0, 3.0], [0.0, 2.0, 3.0]])


def test_invert_is_closed_form_inverse():
    T = make_pose(RZ90, [1.0, 2.0, 3.0])
    Ti = invert(T)
    np.testing.assert_allclose(Ti[:3, :3], RZ90.T)
    np.testing.assert_allclose(Ti[:3, 3], [-2.0, 1.0, -3.0])  # -R^T t by hand
    np.testing.assert_allclose(compose(T, Ti), np.eye(4), atol=1e-12)
    batch = np.stack([T, make_pose(t=[0.0, 0.0, 5.0])])
    np.testing.assert_allclose(invert(batch) @ batch, np.broadcast_to(np.eye(4), (2, 4, 4)), atol=1e-12)


def test_relative_pose_maps_current_points_into_previous_camera():
    T_world_prev = make_pose(t=[0.0, 0.0, 0.0])
    T_world_cur = make_pose(t=[1.0, 0.0, 0.0])  # camera moved 1 m to the right
    T_prev_cur = relative_pose(T_world_prev, T_world_cur)
    # a point straight ahead of the current camera lies 1 m to the right in the previous camera
    np.testing.assert_allclose(transform_points(T_prev_cur, [0.0, 0.0, 4.0]), [1.0, 0.0, 4.0])


def test_camera_world_round_trip():
    T_world_cam = make_pose(RZ90, [0.5, -1.0, 2.0])
    p_cam = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 10.0]])
    p_world = cam_to_world(T_world_cam, p_cam)
    np.testing.assert_allclose(p_world[0], [0.5 - 2.0, -1.0 + 1.0, 5.0])
    np.testing.assert_allclose(world_to_cam(T_world_cam, p_world), p_cam, atol=1e-12)


def test_quaternion_hand_case_and_round_trip():
    s = np.sqrt(0.5)
    T = pose_from_quaternion([1.0, 2.0, 3.0], [0.0, 0.0, s, s])  # 90 degrees about z
    np.testing.assert_allclose(T[:3, :3], RZ90, atol=1e-12)
    t, q = pose_to_quaternion(T)
    np.testing.assert_allclose(t, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(q, [0.0, 0.0, s, s], atol=1e-12)
    # -q is the same rotation; the canonical output has qw >= 0
    _, q2 = pose_to_quaternion(pose_from_quaternion([0, 0, 0], [0.0, 0.0, -s, -s]))
    assert q2[3] >= 0
    assert rotation_angle_deg(T) == pytest.approx(90.0)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="quaternion"):
        pose_from_quaternion([0, 0, 0], [0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"\(\.\.\., 4, 4\)"):
        invert(np.eye(3))
    with pytest.raises(ValueError, match="points"):
        transform_points(np.eye(4), np.zeros((2, 2)))


def test_axis_angle_matches_scipy_and_has_gradient_at_zero():
    rotvec = torch.tensor([[0.0, 0.0, np.pi / 2], [0.1, -0.2, 0.3]], dtype=torch.float64)
    t = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    T = axis_angle_to_matrix(rotvec, t)
    np.testing.assert_allclose(T[0, :3, :3].numpy(), RZ90, atol=1e-12)
    np.testing.assert_allclose(T[1, :3, :3].numpy(), Rotation.from_rotvec(rotvec[1].numpy()).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(T[0, :3, 3].numpy(), [1.0, 2.0, 3.0])
    zero = torch.zeros(1, 3, requires_grad=True)
    T0 = axis_angle_to_matrix(zero, torch.zeros(1, 3))
    np.testing.assert_allclose(T0[0].detach().numpy(), np.eye(4), atol=1e-6)
    T0[0, 0, 1].backward()  # R[0, 1] = -rz to first order
    assert torch.isfinite(zero.grad).all() and zero.grad[0, 2] == pytest.approx(-1.0, abs=1e-3)
