"""Input messages -> Frame (bad input handling) and marker bookkeeping, without a ROS graph."""
from __future__ import annotations

import uuid

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo
from visualization_msgs.msg import Marker

from occtrack_ros.ros.conversions import ns_to_stamp, numpy_to_image
from occtrack_ros.ros.frame_input import FrameAssembler, FrameRejected, InputConfig
from occtrack_ros.ros.markers import MarkerBook, marker_id
from occtrack_ros.types import GraphEdge, Relation, Track, TrackerOutput, TrackState


def image(stamp_ns, shape=(6, 8)):
    return numpy_to_image(np.zeros((*shape, 3), np.uint8), "rgb8", ns_to_stamp(stamp_ns), "cam")


def depth(stamp_ns, array):
    return numpy_to_image(array.astype(np.float32), "32FC1", ns_to_stamp(stamp_ns), "cam")


def info(w=8, h=6):
    m = CameraInfo()
    m.width, m.height = w, h
    m.k = [10.0, 0.0, 4.0, 0.0, 10.0, 3.0, 0.0, 0.0, 1.0]
    return m


def test_good_frame_uses_camera_info_depth_and_odometry():
    odom = Odometry()
    odom.header.frame_id = "odom"
    odom.pose.pose.position.x = 2.0
    odom.pose.pose.orientation.w = 1.0
    a = FrameAssembler(InputConfig(base_to_camera=(0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)))
    out = a.assemble(image(10), depth(10, np.ones((6, 8))), odom, info())
    assert out.warnings == [] and out.frame_id == "odom" and out.frame.intrinsics.fx == 10.0
    np.testing.assert_allclose(out.frame.T_world_cam[:3, 3], [2.0, 0.0, 1.0])
    assert out.frame.depth.shape == (6, 8) and out.frame.stamp_ns == 10


def test_missing_camera_info_falls_back_with_warning_and_camera_frame():
    out = FrameAssembler().assemble(image(10))
    assert [k for k, _ in out.warnings] == ["camera_info"] and "60 degree" in out.warnings[0][1]
    assert out.frame.intrinsics.width == 8 and out.frame_id == "cam" and out.frame.T_world_cam is None


@pytest.mark.parametrize("array,key", [
    (np.ones((3, 4)), "depth_size"), (np.full((6, 8), np.nan), "depth_invalid"), (np.zeros((6, 8)), "depth_invalid"),
])
def test_bad_depth_is_dropped_with_a_warning(array, key):
    out = FrameAssembler().assemble(image(10), depth(10, array), None, info())
    assert out.frame.depth is None and [k for k, _ in out.warnings] == [key]


def test_unsupported_encoding_rejects_the_frame():
    msg = image(10)
    msg.encoding = "yuv422"
    with pytest.raises(FrameRejected, match="yuv422") as err:
        FrameAssembler().assemble(msg, camera_info_msg=info())
    assert err.value.key == "image"


def test_stamps_repeated_out_of_order_and_backward_jump():
    a = FrameAssembler(InputConfig(time_jump_reset_s=1.0))
    a.assemble(image(5_000_000_000), camera_info_msg=info())
    with pytest.raises(FrameRejected, match="repeated"):
        a.assemble(image(5_000_000_000), camera_info_msg=info())
    with pytest.raises(FrameRejected, match="out-of-order"):
        a.assemble(image(4_900_000_000), camera_info_msg=info())
    out = a.assemble(image(1_000_000_000), camera_info_msg=info())
    assert out.reset and out.frame.index == 0 and out.warnings[0][0] == "time_jump"


def track(i, state, pos=(1.0, 2.0, 3.0)):
    return Track(track_id=i, state=state, box=np.zeros(4), position=np.array(pos), uuid=uuid.UUID(int=i * 7919))


def by_key(array):
    return {(m.ns, m.id): m.action for m in array.markers}


def test_markers_ghost_then_explicit_delete_no_deleteall():
    book = MarkerBook()
    a, b = track(1, TrackState.CONFIRMED), track(2, TrackState.CONFIRMED, (0.0, 0.0, 5.0))
    edges = [GraphEdge(1, 2, Relation.OCCLUDES, 0.9)]
    first = by_key(book.build(TrackerOutput(tracks=[a, b], edges=edges), None, "odom"))
    ida = marker_id(a.uuid)
    assert first[("tracks", ida)] == Marker.ADD and first[("scene_graph", 0)] == Marker.ADD
    a.state = TrackState.OCCLUDED
    second = by_key(book.build(TrackerOutput(tracks=[a, b]), None, "odom"))
    assert second[("ghosts", ida)] == Marker.ADD and second[("tracks", ida)] == Marker.DELETE
    assert second[("scene_graph", 0)] == Marker.DELETE and second[("trajectories", ida)] == Marker.ADD
    third = by_key(book.build(TrackerOutput(tracks=[b], ended=[a]), None, "odom"))
    assert all(third[(ns, ida)] == Marker.DELETE for ns in ("ghosts", "labels", "trajectories"))
    assert Marker.DELETEALL not in third.values()
    assert marker_id(a.uuid) == marker_id(uuid.UUID(int=7919))  # stable: a function of the UUID only
