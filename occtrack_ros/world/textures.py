"""Procedural textures: tileable smooth noise and stripe/checker patterns, sampled vectorised."""
from __future__ import annotations

import numpy as np


def tileable_noise(rng: np.random.Generator, size: int, channels: int, cutoff: float) -> np.ndarray:
    """Smooth periodic noise of shape (size, size, channels), zero mean, unit std per channel.

    White noise low-pass filtered in the Fourier domain is periodic by construction, so the
    texture can be sampled with wrap-around on an unbounded plane without seams.
    ``cutoff`` is the Gaussian filter width in cycles per texture (smaller = smoother).
    """
    white = rng.standard_normal((channels, size, size))  # (C, T, T)
    f = np.fft.fftfreq(size) * size
    radius2 = f[:, None] ** 2 + f[None, :] ** 2  # (T, T)
    spectrum = np.fft.fft2(white) * np.exp(-radius2 / (2.0 * cutoff**2))[None]
    noise = np.real(np.fft.ifft2(spectrum))  # (C, T, T)
    noise -= noise.mean(axis=(1, 2), keepdims=True)
    noise /= noise.std(axis=(1, 2), keepdims=True) + 1e-12
    return np.ascontiguousarray(noise.transpose(1, 2, 0)).astype(np.float32)  # (T, T, C)


def multi_octave_noise(rng: np.random.Generator, size: int, channels: int,
                       cutoffs: tuple[float, ...] = (3.0, 10.0, 30.0)) -> np.ndarray:
    """Sum of ``tileable_noise`` octaves with 1/f-like weights, renormalised to unit std."""
    total = np.zeros((size, size, channels), np.float32)
    for i, cutoff in enumerate(cutoffs):
        total += tileable_noise(rng, size, channels, cutoff) / (i + 1.0)
    return total / (total.std(axis=(0, 1), keepdims=True) + 1e-12)


def sample_wrapped(texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a periodic (T, T, C) texture at texel coordinates u (column), v (row).

    Returns a float32 array of shape ``u.shape + (C,)``.
    """
    size, channels = texture.shape[0], texture.shape[2]
    assert texture.ndim == 3 and texture.shape[1] == size, f"texture must be (T, T, C), got {texture.shape}"
    u0 = np.floor(u)
    v0 = np.floor(v)
    du = (u - u0).astype(np.float32)[..., None]
    dv = (v - v0).astype(np.float32)[..., None]
    j0 = np.mod(u0.astype(np.int64), size)
    i0 = np.mod(v0.astype(np.int64), size) * size
    j1 = np.where(j0 == size - 1, 0, j0 + 1)
    i1 = np.where(i0 == (size - 1) * size, 0, i0 + size)
    flat = texture.reshape(size * size, channels)  # (T*T, C): one gather per corner
    top = flat.take(i0 + j0, axis=0) * (1.0 - du) + flat.take(i0 + j1, axis=0) * du
    bottom = flat.take(i1 + j0, axis=0) * (1.0 - du) + flat.take(i1 + j1, axis=0) * du
    return top * (1.0 - dv) + bottom * dv


PATTERNS = ("stripes", "checker", "rings", "dots")


def sprite_pattern(pattern: str, a: np.ndarray, b: np.ndarray, frequency: float, angle: float) -> np.ndarray:
    """A mild texture in [-1, 1] over normalised sprite coordinates (moves with the sprite)."""
    ca, sa = np.cos(angle), np.sin(angle)
    s = a * ca + b * sa
    t = -a * sa + b * ca
    if pattern == "stripes":
        return np.sin(np.pi * frequency * s)
    if pattern == "checker":
        return np.sign(np.sin(np.pi * frequency * s) * np.sin(np.pi * frequency * t))
    if pattern == "rings":
        return np.cos(np.pi * frequency * np.sqrt(a * a + b * b))
    if pattern == "dots":
        return 2.0 * ((np.sin(np.pi * frequency * s) * np.sin(np.pi * frequency * t)) > 0.5) - 1.0
    raise ValueError(f"unknown pattern {pattern!r}; expected one of {PATTERNS}")
