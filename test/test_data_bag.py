"""rosbag2 recordings: written by `occtrack generate --bag`, read back frame-identical; pairing."""
from __future__ import annotations

import numpy as np
import pytest

from occtrack_ros.data.bag import BagReader
from occtrack_ros.data.bag_topics import EPOCH_NS
from occtrack_ros.data.frames import open_frames
from occtrack_ros.data.sequence import load_sequence


def _generate(out, *extra):
    """`occtrack generate --bag` in-process (the CLI's own entry point, without interpreter start-up)."""
    from occtrack_ros.cli import main

    assert main(["generate", "--seed", "21", "--frames", "12", "--out", str(out), "--quiet", "--bag", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def mcap_seq(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("bag") / "seq")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_round_trip_is_frame_identical(tmp_path, mcap_seq, storage):
    out = mcap_seq if storage == "mcap" else _generate(tmp_path / "seq", "--bag-storage", storage)
    assert (out / "bag" / ("bag.mcap" if storage == "mcap" else "bag.db3")).exists()
    seq = load_sequence(out)
    from_bag = list(open_frames(out / "bag"))
    assert len(from_bag) == len(seq) == 12
    for a, b in zip(seq, from_bag):
        assert a.index == b.index and a.stamp_ns == b.stamp_ns
        assert np.array_equal(a.image, b.image)
        assert np.array_equal(a.depth, b.depth)
        assert a.intrinsics == b.intrinsics
        np.testing.assert_allclose(b.T_world_cam, a.T_world_cam, atol=1e-8)
    assert from_bag[3].stamp_ns == EPOCH_NS + 300_000_000  # frame / fps + the fixed epoch
    single_file = next(p for p in (out / "bag").iterdir() if p.suffix in (".mcap", ".db3"))
    assert np.array_equal(next(iter(open_frames(single_file))).image, seq[0].image)


def test_sequence_dir_without_images_reads_its_bag_and_several_bags_chain(tmp_path, mcap_seq):
    out = mcap_seq
    import shutil

    shutil.copytree(out / "bag", tmp_path / "only" / "bag")
    frames = list(open_frames(tmp_path / "only"))
    assert len(frames) == 12
    chained = list(BagReader([out / "bag", tmp_path / "only" / "bag"]))
    assert [f.index for f in chained] == list(range(24))
    assert np.array_equal(chained[12].image, chained[0].image)


def test_bad_inputs_name_the_problem(tmp_path, mcap_seq, capsys):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list(open_frames(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither a sequence directory"):
        list(open_frames(tmp_path / "empty"))
    with pytest.raises(ValueError, match="/camera/rgb"):
        list(BagReader(mcap_seq / "bag", image_topic="/camera/rgb"))
    from occtrack_ros.cli import main

    assert main(["generate", "--out", str(mcap_seq), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["generate", "--out", str(tmp_path / "x"), "--width", "300", "--quiet"]) == 2
    assert "width=300" in capsys.readouterr().err


def _write_custom_bag(path, depth_offset_ms, odom_offsets_ms, encoding="bgr8"):
    """Images every 100 ms; depth shifted; odometry at other instants; one camera_info at the start."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from occtrack_ros.data.bag_writer import default_typestore

    ts = default_typestore()
    T = ts.types

    def header(ns, frame="cam"):
        return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9),
                                        frame_id=frame)

    msgs = []
    base = 5 * 10**9
    info = T["sensor_msgs/msg/CameraInfo"](
        header=header(base), height=4, width=6, distortion_model="plumb_bob", d=np.zeros(5),
        k=np.array([50.0, 0, 3, 0, 60, 2, 0, 0, 1]), r=np.eye(3).ravel(), p=np.zeros(12), binning_x=0, binning_y=0,
        roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
    msgs.append(("/camera/camera_info", "sensor_msgs/msg/CameraInfo", base, info))
    for i in range(5):
        t = base + i * 100_000_000
        img = np.full((4, 6, 3), i, np.uint8)
        img[..., 2] = 200  # red in bgr8 is the last channel
        msgs.append(("/camera/image_raw", "sensor_msgs/msg/Image", t, T["sensor_msgs/msg/Image"](
            header=header(t), height=4, width=6, encoding=encoding, is_bigendian=0, step=18,
            data=img.reshape(-1))))
        td = t + depth_offset_ms * 1_000_000
        mm = np.full((4, 6), 1000 + i, "<u2")
        msgs.append(("/camera/depth/image_raw", "sensor_msgs/msg/Image", td, T["sensor_msgs/msg/Image"](
            header=header(td), height=4, width=6, encoding="16UC1", is_bigendian=0, step=12,
            data=mm.view(np.uint8).reshape(-1))))
        for k, off in enumerate(odom_offsets_ms):
            to = t + off * 1_000_000
            pose = T["geometry_msgs/msg/Pose"](
                position=T["geometry_msgs/msg/Point"](x=float(i), y=float(k), z=0.0),
                orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0))
            cov = np.zeros(36)
            vec = T["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
            msgs.append(("/odom", "nav_msgs/msg/Odometry", to, T["nav_msgs/msg/Odometry"](
                header=header(to, "odom"), child_frame_id="cam",
                pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=cov),
                twist=T["geometry_msgs/msg/TwistWithCovariance"](
                    twist=T["geometry_msgs/msg/Twist"](linear=vec, angular=vec), covariance=cov))))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for topic, typ, _, _ in msgs:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, typ, typestore=ts)
        for topic, typ, t, msg in sorted(msgs, key=lambda m: m[2]):
            writer.write(conns[topic], t, ts.serialize_cdr(msg, typ))
    return path


def test_approximate_time_pairing_picks_the_nearest_within_tolerance(tmp_path):
    bag = _write_custom_bag(tmp_path / "b", depth_offset_ms=7, odom_offsets_ms=(-3, 40))
    frames = list(BagReader(bag, tolerance_s=0.02))
    assert len(frames) == 5
    for i, f in enumerate(frames):
        assert f.image.shape == (4, 6, 3) and (f.image[..., 0] == 200).all() and (f.image[..., 2] == i).all()
        assert f.depth is not None and np.allclose(f.depth, (1000 + i) / 1000.0)
        assert f.intrinsics.fx == 50.0 and f.intrinsics.fy == 60.0 and f.intrinsics.width == 6
        assert f.T_world_cam[0, 3] == i and f.T_world_cam[1, 3] == 0  # the -3 ms odometry, not the +40 ms one
    strict = list(BagReader(bag, tolerance_s=0.005))
    assert all(f.depth is None for f in strict)  # 7 ms away
    assert all(f.T_world_cam is not None for f in strict)  # 3 ms away
    assert strict[4].intrinsics.fx == 50.0  # camera info sent once, kept


def test_bounded_buffer_emits_when_partners_never_arrive(tmp_path):
    bag = _write_custom_bag(tmp_path / "b", depth_offset_ms=7, odom_offsets_ms=())
    frames = list(BagReader(bag, max_pending=1))
    assert len(frames) == 5 and all(f.T_world_cam is None for f in frames)
