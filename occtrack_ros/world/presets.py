"""Preset names -> sequence factories; the one place that knows every preset."""
from __future__ import annotations

from occtrack_ros.world.records import SyntheticSequence

PRESETS = ("occlusion", "sprites-mot")
DEFAULT_FRAMES = {"occlusion": 200, "sprites-mot": 500}


def make_sequence(preset: str, seed: int, num_frames: int | None = None, width: int | None = None,
                  height: int | None = None) -> SyntheticSequence:
    """A lazily rendered sequence of ``preset`` for ``seed``; None keeps the preset's default."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {PRESETS}")
    frames = DEFAULT_FRAMES[preset] if num_frames is None else int(num_frames)
    if preset == "occlusion":
        from occtrack_ros.world.occlusion_world import OcclusionWorldConfig, make_occlusion_sequence

        config = OcclusionWorldConfig(num_frames=frames, width=width or 128, height=height or 128)
        return make_occlusion_sequence(seed, config)
    from occtrack_ros.world.sprites_mot import SpritesMotConfig, make_sprites_mot_sequence

    if (width not in (None, 128)) or (height not in (None, 128)):
        raise ValueError(f"sprites-mot is 128x128 by protocol; got width={width} height={height}")
    return make_sprites_mot_sequence(seed, SpritesMotConfig(num_frames=frames))
