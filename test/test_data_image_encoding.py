"""Image payload decoding: encodings, row padding and clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from occtrack_ros.data.image_encoding import (
    ImageEncodingError,
    decode_colour,
    decode_depth,
    encode_32fc1,
    encode_rgb8,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)


def test_rgb8_round_trip_and_bgr8_mono8():
    m = encode_rgb8(RGB)
    assert np.array_equal(decode_colour("rgb8", 4, 5, m["step"], m["data"].tobytes()), RGB)
    bgr = np.ascontiguousarray(RGB[..., ::-1]).tobytes()
    assert np.array_equal(decode_colour("bgr8", 4, 5, 15, bgr), RGB)
    mono = RGB[..., 0].copy()
    out = decode_colour("mono8", 4, 5, 5, mono.tobytes())
    assert out.shape == (4, 5, 3) and (out == mono[..., None]).all()
    rgba = np.concatenate([RGB, np.full((4, 5, 1), 9, np.uint8)], axis=2)
    assert np.array_equal(decode_colour("bgra8", 4, 5, 20, rgba[..., [2, 1, 0, 3]].tobytes()), RGB)


def test_row_padding_is_removed():
    padded = np.zeros((4, 18), np.uint8)
    padded[:, :15] = RGB.reshape(4, 15)
    assert np.array_equal(decode_colour("rgb8", 4, 5, 18, padded.tobytes()), RGB)


def test_depth_32fc1_round_trip_and_16uc1_millimetres():
    depth = RNG.uniform(0.5, 9.0, size=(4, 5)).astype(np.float32)
    m = encode_32fc1(depth)
    assert np.array_equal(decode_depth("32FC1", 4, 5, m["step"], m["data"].tobytes()), depth)
    mm = np.array([[0, 1000, 2500, 65535, 1]] * 4, dtype="<u2")
    out = decode_depth("16UC1", 4, 5, 10, mm.tobytes())
    np.testing.assert_allclose(out[0], [0.0, 1.0, 2.5, 65.535, 0.001], rtol=1e-6)
    big = depth.astype(">f4").tobytes()
    assert np.array_equal(decode_depth("32FC1", 4, 5, 20, big, is_bigendian=True), depth)


def test_errors_name_the_problem():
    with pytest.raises(ImageEncodingError, match="'yuv422'"):
        decode_colour("yuv422", 4, 5, 10, b"\0" * 40)
    with pytest.raises(ImageEncodingError, match="step=10"):
        decode_colour("rgb8", 4, 5, 10, b"\0" * 40)
    with pytest.raises(ImageEncodingError, match="expected 60 data bytes, got 59"):
        decode_colour("rgb8", 4, 5, 15, b"\0" * 59)
    with pytest.raises(ImageEncodingError, match="'rgb8'"):
        decode_depth("rgb8", 4, 5, 15, b"\0" * 60)
    with pytest.raises(ImageEncodingError, match="uint8"):
        encode_rgb8(RGB.astype(np.float32))
