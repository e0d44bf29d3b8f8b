"""Image and track conversions (no ROS graph): strict validation, a 1,000-message fuzz, round trips."""
from __future__ import annotations

import uuid

import numpy as np
import pytest
from sensor_msgs.msg import Image

from occtrack_ros.ros.conversions import (
    ENCODINGS,
    ImageConversionError,
    depth_to_metres,
    image_to_numpy,
    image_to_rgb,
    msg_to_track,
    numpy_to_image,
    output_to_msg,
    track_to_msg,
    tracks_msg_to_mot_rows,
)
from occtrack_ros.tracking.mot_files import MOT_STATES_WITH_OCCLUDED
from occtrack_ros.types import Track, TrackerOutput, TrackState


def make_image(array, encoding, step_pad=0, bigendian=False):
    msg = Image()
    msg.height, msg.width = array.shape[:2]
    msg.encoding = encoding
    dtype = array.dtype.newbyteorder(">" if bigendian else "<")
    rows = np.ascontiguousarray(array, dtype=dtype).reshape(array.shape[0], -1).view(np.uint8)
    rows = np.concatenate([rows, np.zeros((rows.shape[0], step_pad), np.uint8)], axis=1)
    msg.step = rows.shape[1]
    msg.is_bigendian = int(bigendian)
    msg.data = rows.tobytes()
    return msg


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_colour_encodings_give_rgb(encoding):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)
    src = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "rgba8": np.dstack([rgb, np.full((5, 7), 9, np.uint8)]),
           "bgra8": np.dstack([rgb[..., ::-1], np.full((5, 7), 9, np.uint8)]), "mono8": rgb[..., 0]}[encoding]
    out = image_to_rgb(make_image(src, encoding, step_pad=3))
    expected = np.repeat(rgb[..., :1], 3, axis=2) if encoding == "mono8" else rgb
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_depth_16uc1_mm_and_32fc1_m_with_invalid_pixels():
    mm = np.array([[1000, 0], [2500, 65535]], np.uint16)
    d = depth_to_metres(make_image(mm, "16UC1", bigendian=True))
    np.testing.assert_allclose(d[0, 0], 1.0)
    assert np.isnan(d[0, 1]) and d[1, 0] == pytest.approx(2.5)
    m = np.array([[1.5, np.nan], [-1.0, np.inf]], np.float32)
    d = depth_to_metres(make_image(m, "32FC1", step_pad=4))
    assert d[0, 0] == pytest.approx(1.5) and np.isnan(d[0, 1]) and np.isnan(d[1, 0]) and np.isnan(d[1, 1])


def test_round_trip_every_encoding():
    rng = np.random.default_rng(1)
    for encoding, info in ENCODINGS.items():
        shape = (4, 6) if info.channels == 1 else (4, 6, info.channels)
        array = (rng.random(shape) * 100).astype(info.dtype)
        np.testing.assert_array_equal(image_to_numpy(numpy_to_image(array, encoding)), array)


@pytest.mark.parametrize("field,value,needle", [
    ("encoding", "yuv422", "unsupported image encoding 'yuv422'"),
    ("height", 0, "outside"),
    ("step", 5, "step 5 is shorter"),
    ("data", b"\x00" * 7, "7 bytes"),
    ("is_bigendian", 3, "is_bigendian=3"),
])
def test_each_bad_field_is_named(field, value, needle):
    msg = make_image(np.zeros((4, 6, 3), np.uint8), "rgb8")
    setattr(msg, field, value)
    with pytest.raises(ImageConversionError, match=needle.replace("(", r"\(")):
        image_to_numpy(msg)


def test_depth_encoding_is_not_a_colour_image():
    with pytest.raises(ImageConversionError, match="colour encoding '32FC1'"):
        image_to_rgb(make_image(np.zeros((2, 2), np.float32), "32FC1"))
    with pytest.raises(ImageConversionError, match="depth encoding 'rgb8'"):
        depth_to_metres(make_image(np.zeros((2, 2, 3), np.uint8), "rgb8"))


def test_fuzz_1000_malformed_images_convert_or_raise_one_error_type():
    """Random encodings, sizes, steps, data lengths, endianness: converted or ImageConversionError."""
    rng = np.random.default_rng(1234)
    names = list(ENCODINGS) + ["yuv422", "", "RGB8", "16UC3", "64FC1", "bayer_rggb8", "8UC4"]
    converted = rejected = 0
    for _ in range(1000):
        msg = Image()
        msg.encoding = str(rng.choice(names))
        msg.height = int(rng.choice([0, 1, 2, 3, 17, 20000, int(rng.integers(0, 64))]))
        msg.width = int(rng.choice([0, 1, 5, 33, 70000, int(rng.integers(0, 64))]))
        bpp = ENCODINGS[msg.encoding].channels * np.dtype(ENCODINGS[msg.encoding].dtype).itemsize \
            if msg.encoding in ENCODINGS else int(rng.integers(1, 8))
        msg.step = int(max(0, msg.width * bpp + int(rng.choice([0, 0, 0, -1, 1, 3, -7]))))
        msg.is_bigendian = int(rng.choice([0, 1, 0, 2]))
        length = msg.step * msg.height if msg.step * msg.height < 200_000 else int(rng.integers(0, 1000))
        length = max(0, length + int(rng.choice([0, 0, 0, -1, 1, -msg.step, 17])))
        msg.data = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        try:
            out = image_to_rgb(msg) if rng.random() < 0.5 else image_to_numpy(msg)
        except ImageConversionError as exc:
            assert str(exc), "the error must say what is wrong"
            rejected += 1
            continue
        assert out.shape[:2] == (msg.height, msg.width)
        converted += 1
    assert converted > 50 and rejected > 500, (converted, rejected)


def full_track(i: int = 7) -> Track:
    return Track(
        track_id=i, state=TrackState.OCCLUDED, box=np.array([10.0, 20.0, 50.0, 80.0], np.float32),
        existence_probability=0.625, visible_fraction=0.25, score=0.5,
        position=np.array([1.0, 2.0, 3.0]), position_cov=np.diag([0.1, 0.2, 0.3]),
        velocity=np.array([0.5, -0.5, 0.25]), velocity_cov=np.diag([0.01, 0.02, 0.03]),
        size=np.array([0.4, 0.5, 0.6]), age=12, frames_observed=9, frames_occluded=3,
        first_seen_ns=1_500_000_001, last_observed_ns=2_000_000_002, uuid=uuid.UUID(int=0x1234_5678_9ABC),
    )


def test_track_message_round_trip():
    track = full_track()
    back = msg_to_track(track_to_msg(track))
    for name in ("track_id", "state", "age", "frames_observed", "frames_occluded", "first_seen_ns",
                 "last_observed_ns", "uuid"):
        assert getattr(back, name) == getattr(track, name), name
    for name in ("box", "position", "position_cov", "velocity", "velocity_cov", "size"):
        np.testing.assert_allclose(getattr(back, name), getattr(track, name), rtol=1e-6, err_msg=name)
    assert back.existence_probability == pytest.approx(0.625)


def test_output_message_marks_ended_tracks_lost_and_mot_rows_skip_them():
    ended = full_track(3)
    ended.state = TrackState.OCCLUDED
    tentative = full_track(4)
    tentative.state = TrackState.TENTATIVE
    msg = output_to_msg(TrackerOutput(tracks=[full_track(7), tentative], ended=[ended]), None, "odom")
    assert [o.state for o in msg.objects] == [TrackState.OCCLUDED, TrackState.TENTATIVE, TrackState.LOST]
    assert tracks_msg_to_mot_rows(msg, 5) == []                 # default: observed (CONFIRMED) rows only
    rows = tracks_msg_to_mot_rows(msg, 5, MOT_STATES_WITH_OCCLUDED)
    assert [r[:2] for r in rows] == [(5, 7)]
    assert rows[0][2:6] == pytest.approx((10.0, 20.0, 40.0, 60.0))


def test_compressed_png_and_jpeg_decode_and_garbage_is_rejected():
    import cv2
    from sensor_msgs.msg import CompressedImage

    from occtrack_ros.ros.conversions import compressed_to_rgb

    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[..., 0] = 200  # red
    for fmt in ("png", "jpeg"):
        ok, buf = cv2.imencode(f".{fmt}", rgb[..., ::-1])
        msg = CompressedImage(format=fmt, data=buf.tobytes())
        out = compressed_to_rgb(msg)
        assert out.shape == (8, 10, 3) and abs(int(out[..., 0].mean()) - 200) < 8 and out[..., 2].mean() < 8
    with pytest.raises(ImageConversionError, match="could not be decoded"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b"not an image"))
    with pytest.raises(ImageConversionError, match="compressed depth"):
        compressed_to_rgb(CompressedImage(format="16UC1; compressedDepth png", data=b"x"))
