"""sensor_msgs/Image payloads <-> numpy, with clear errors (shared by bag IO and the ROS layer).

Only the encodings a tracker needs: colour ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8``
(returned as RGB uint8), and depth ``32FC1`` (metres) and ``16UC1`` (millimetres, the
OpenNI/RealSense convention), returned as float32 metres with 0 meaning invalid.
"""
from __future__ import annotations

import numpy as np

COLOUR_ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
DEPTH_ENCODINGS = {"32FC1": np.dtype("<f4"), "16UC1": np.dtype("<u2")}


class ImageEncodingError(ValueError):
    """An image message that cannot be decoded: unsupported encoding, bad step or data length."""


def _rows(data, height: int, width: int, step: int, bytes_per_pixel: int, encoding: str) -> np.ndarray:
    """(H, W * bytes_per_pixel) uint8 view of the payload with row padding removed."""
    if height <= 0 or width <= 0:
        raise ImageEncodingError(f"{encoding} image: invalid size {width}x{height}")
    row_bytes = width * bytes_per_pixel
    if step < row_bytes:
        raise ImageEncodingError(f"{encoding} image {width}x{height}: step={step} < width * {bytes_per_pixel} = "
                                 f"{row_bytes}")
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if buf.size != step * height:
        raise ImageEncodingError(f"{encoding} image {width}x{height}, step {step}: expected {step * height} data "
                                 f"bytes, got {buf.size}")
    return buf.reshape(height, step)[:, :row_bytes]  # (H, W * bpp)


def decode_colour(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False) -> np.ndarray:
    """Decode a colour/mono image message payload to (H, W, 3) uint8 RGB (a new array)."""
    del is_bigendian  # 8-bit encodings have no byte order
    if encoding not in COLOUR_ENCODINGS:
        raise ImageEncodingError(f"unsupported colour encoding {encoding!r}; supported: "
                                 f"{sorted(COLOUR_ENCODINGS)}")
    channels = COLOUR_ENCODINGS[encoding]
    pixels = _rows(data, height, width, step, channels, encoding).reshape(height, width, channels)  # (H, W, C)
    if encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)
    if encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(pixels[..., 2::-1])
    return np.ascontiguousarray(pixels[..., :3])


def decode_depth(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False) -> np.ndarray:
    """Decode a depth image payload to (H, W) float32 metres (0 or NaN = invalid)."""
    if encoding not in DEPTH_ENCODINGS:
        raise ImageEncodingError(f"unsupported depth encoding {encoding!r}; supported: {sorted(DEPTH_ENCODINGS)}")
    dtype = DEPTH_ENCODINGS[encoding]
    if is_bigendian:
        dtype = dtype.newbyteorder(">")
    rows = _rows(data, height, width, step, dtype.itemsize, encoding)
    values = np.ascontiguousarray(rows).view(dtype).reshape(height, width)  # (H, W)
    if encoding == "16UC1":
        return values.astype(np.float32) * np.float32(1e-3)
    return values.astype(np.float32)


def encode_rgb8(image: np.ndarray) -> dict:
    """Fields of a sensor_msgs/Image for an (H, W, 3) uint8 RGB array (no header)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageEncodingError(f"rgb8 needs an (H, W, 3) uint8 array, got {image.shape} {image.dtype}")
    h, w, _ = image.shape
    return {"height": h, "width": w, "encoding": "rgb8", "is_bigendian": 0, "step": w * 3,
            "data": np.ascontiguousarray(image).reshape(-1)}


def encode_32fc1(depth: np.ndarray) -> dict:
    """Fields of a sensor_msgs/Image for an (H, W) float depth in metres (little endian 32FC1)."""
    if depth.ndim != 2:
        raise ImageEncodingError(f"32FC1 needs an (H, W) array, got shape {depth.shape}")
    h, w = depth.shape
    raw = np.ascontiguousarray(depth, dtype="<f4").view(np.uint8).reshape(-1)
    return {"height": h, "width": w, "encoding": "32FC1", "is_bigendian": 0, "step": w * 4, "data": raw}
