"""The ``occlusion`` preset: a moving camera looks at textured billboards behind pillars and walls.

Scene layout (world frame = optical convention at rest: x right, y down, z forward, metres):

- a textured, low-contrast far wall at ``z = background_depth`` (gives parallax for depth/pose
  learning when the camera translates);
- 2-3 static occluders at 2.5-4.5 m: full-height pillars and low walls, textured, not tracked;
  pillars are wider (in angle) than any object so they hide objects completely;
- 3-8 tracked objects: camera-facing sprites (6 shapes, distinct saturated colours, a mild
  texture) on distinct depth lanes between 5 and 14 m, moving in the x-z plane with turns, stops
  and speed changes, roaming beyond the view so that they leave and re-enter it.

Everything random is drawn from one ``numpy.random.Generator(PCG64(seed))`` in a fixed order,
so a seed gives byte-identical output.
"""
from __future__ import annotations

import colorsys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from occtrack_ros.types import CameraIntrinsics
from occtrack_ros.world.camera_path import CameraPath
from occtrack_ros.world.motion import MotionParams, ObjectMotion
from occtrack_ros.world.records import FrameRecord, ObjectRecord, SyntheticSequence
from occtrack_ros.world.render import Canvas, camera_rays, draw_billboard, draw_world_rect, visible_box
from occtrack_ros.world.shapes import SHAPES
from occtrack_ros.world.textures import PATTERNS, multi_octave_noise, sample_wrapped, sprite_pattern

# Ten hues 36 degrees apart, saturated: no two objects of a sequence share one.
PALETTE = tuple(tuple(round(c, 4) for c in colorsys.hsv_to_rgb(h / 10.0, 0.85, 0.95)) for h in range(10))


@dataclass
class OcclusionWorldConfig:
    """Scene and camera parameters of the ``occlusion`` preset."""

    width: int = 128
    height: int = 128
    num_frames: int = 200
    fps: float = 10.0
    hfov_deg: float = 60.0
    num_objects: tuple[int, int] = (3, 8)                      # inclusive range per sequence
    object_depth: tuple[float, float] = (5.0, 14.0)            # lane depths [m]
    object_angular_size_deg: tuple[float, float] = (5.0, 9.0)  # object width seen from the lane depth
    object_aspect: tuple[float, float] = (0.6, 1.6)            # height / width
    object_elevation_deg: tuple[float, float] = (-14.0, 14.0)  # direction of the object's centre height
    roam_margin: float = 0.25                                  # roam this far past the view edge, x lane depth
    background_depth: float = 25.0                             # far wall [m]
    background_texel_m: float = 0.25
    background_contrast: float = 0.08                          # low: the wall must not look like an object
    num_occluders: tuple[int, int] = (2, 2)                    # inclusive range
    occluder_depth: tuple[float, float] = (3.0, 5.0)
    pillar_angular_width_deg: tuple[float, float] = (11.0, 14.0)  # > object widths: full occlusions
    wall_angular_width_deg: tuple[float, float] = (18.0, 26.0)
    wall_probability: float = 0.35                             # an occluder is a low wall instead of a pillar
    wall_top_elevation_deg: tuple[float, float] = (0.0, 8.0)
    occluder_spacing_deg: float = 26.0                         # between neighbouring occluder centres
    camera_translation_m: tuple[float, float] = (0.4, 1.0)     # sideways amplitude
    camera_forward_m: tuple[float, float] = (0.2, 0.5)
    camera_pan_deg: tuple[float, float] = (3.0, 9.0)
    camera_frequency_hz: tuple[float, float] = (0.03, 0.09)
    max_hidden_frames: int = 30                                # then a hidden object stops idling
    motion: MotionParams = field(default_factory=MotionParams)

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if not 64 <= value <= 256:
                raise ValueError(f"occlusion preset: {name}={value} outside 64..256")
        if self.num_frames < 1:
            raise ValueError(f"occlusion preset: num_frames={self.num_frames} must be >= 1")
        if self.num_objects[1] > len(PALETTE):
            raise ValueError(f"occlusion preset: at most {len(PALETTE)} objects (distinct colours)")


@dataclass
class _Object:
    object_id: int
    shape: str
    colour: np.ndarray  # (3,)
    pattern: str
    pattern_frequency: float
    pattern_angle: float
    half_size: tuple[float, float]  # [m]
    motion: ObjectMotion

    def colour_fn(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        tex = sprite_pattern(self.pattern, a, b, self.pattern_frequency, self.pattern_angle)
        shade = 1.0 - 0.12 * (a * a + b * b)  # slight rounding cue
        return (self.colour[None, :] * ((0.88 + 0.12 * tex) * shade)[:, None]).astype(np.float32)


@dataclass
class _Occluder:
    kind: str  # "pillar" | "wall"
    z: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    colour: np.ndarray
    texture: np.ndarray
    texel_m: float

    def colour_fn(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        noise = sample_wrapped(self.texture, X / self.texel_m, Y / self.texel_m)[:, 0]
        xn = (X - self.x_range[0]) / (self.x_range[1] - self.x_range[0])
        shade = 0.75 + 0.25 * np.sin(np.pi * xn) if self.kind == "pillar" else 0.9 + 0.1 * np.cos(Y)
        return np.clip(self.colour[None, :] * (shade * (1.0 + 0.12 * noise))[:, None], 0, 1).astype(np.float32)


def _tan(deg):
    return np.tan(np.deg2rad(deg))


def _stratified(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    """Draw n values in [lo, hi], one per equal bin, away from the bin edges, in random order."""
    edges = np.linspace(lo, hi, n + 1)
    width = edges[1] - edges[0]
    values = edges[:-1] + width * rng.uniform(0.15, 0.85, size=n)
    return values[rng.permutation(n)]


class OcclusionWorld:
    """A sampled scene; ``frames()`` renders it frame by frame."""

    def __init__(self, seed: int, config: OcclusionWorldConfig | None = None):
        self.seed = int(seed)
        self.config = cfg = config or OcclusionWorldConfig()
        self.rng = rng = np.random.Generator(np.random.PCG64(self.seed))
        self.intrinsics = CameraIntrinsics.default_for(cfg.width, cfg.height, cfg.hfov_deg)
        self.camera = CameraPath.sample(rng, cfg.camera_translation_m, cfg.camera_forward_m,
                                        cfg.camera_pan_deg, cfg.camera_frequency_hz)
        tan_half = _tan(cfg.hfov_deg / 2.0)

        base = np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.05, 0.2), rng.uniform(0.4, 0.55)))
        self.background_colour = base
        self.background_texture = multi_octave_noise(rng, 128, 3)

        self.occluders: list[_Occluder] = []
        n_occ = int(rng.integers(cfg.num_occluders[0], cfg.num_occluders[1] + 1))
        centres = (np.arange(n_occ) - (n_occ - 1) / 2.0) * cfg.occluder_spacing_deg
        for centre_deg in centres:
            centre_deg = centre_deg + rng.uniform(-4.0, 4.0)
            z = rng.uniform(*cfg.occluder_depth)
            is_wall = rng.random() < cfg.wall_probability
            width_deg = rng.uniform(*(cfg.wall_angular_width_deg if is_wall else cfg.pillar_angular_width_deg))
            x_range = (z * _tan(centre_deg - width_deg / 2), z * _tan(centre_deg + width_deg / 2))
            y_top = z * _tan(rng.uniform(*cfg.wall_top_elevation_deg)) if is_wall else -100.0
            grey = colorsys.hsv_to_rgb(rng.uniform(0.05, 0.15), rng.uniform(0.1, 0.35), rng.uniform(0.45, 0.7))
            self.occluders.append(_Occluder(
                kind="wall" if is_wall else "pillar", z=float(z), x_range=tuple(map(float, x_range)),
                y_range=(float(y_top), 100.0), colour=np.array(grey),
                texture=multi_octave_noise(rng, 64, 1, cutoffs=(6.0, 20.0)), texel_m=0.02))

        n_obj = int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))
        lanes = _stratified(rng, *cfg.object_depth, n_obj)
        colours = rng.permutation(len(PALETTE))[:n_obj]
        self.objects: list[_Object] = []
        for k in range(n_obj):
            z = float(lanes[k])
            width = z * _tan(rng.uniform(*cfg.object_angular_size_deg))
            aspect = np.exp(rng.uniform(np.log(cfg.object_aspect[0]), np.log(cfg.object_aspect[1])))
            half_w, half_h = width / 2.0, width * aspect / 2.0
            x_bound = z * (tan_half + cfg.roam_margin)
            x0 = rng.uniform(-x_bound, x_bound)
            y = z * _tan(rng.uniform(*cfg.object_elevation_deg))
            self.objects.append(_Object(
                object_id=k + 1,
                shape=SHAPES[int(rng.integers(len(SHAPES)))],
                colour=np.array(PALETTE[int(colours[k])], dtype=np.float32),
                pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
                pattern_frequency=float(rng.uniform(2.0, 4.0)),
                pattern_angle=float(rng.uniform(0, np.pi)),
                half_size=(float(half_w), float(half_h)),
                motion=ObjectMotion(rng, x0, y, z, x_bound, cfg.motion),
            ))
        self.rays_cam = camera_rays(self.intrinsics)

    def metadata(self) -> dict:
        """JSON-ready description of the static scene."""
        return {
            "config": {k: v for k, v in asdict(self.config).items()},
            "background": {"depth": self.config.background_depth, "colour": self.background_colour.tolist()},
            "occluders": [{"kind": o.kind, "z": o.z, "x_range": list(o.x_range), "y_range": list(o.y_range)}
                          for o in self.occluders],
            "objects": [{"id": o.object_id, "shape": o.shape, "colour": o.colour.tolist(), "pattern": o.pattern,
                         "size": [2 * o.half_size[0], 2 * o.half_size[1]], "lane_depth": o.motion.lane_z}
                        for o in self.objects],
        }

    def _background_fn(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        cfg = self.config
        noise = sample_wrapped(self.background_texture, X / cfg.background_texel_m, Y / cfg.background_texel_m)
        lum = noise[:, :1]
        chroma = 0.3 * noise[:, 1:]
        tint = np.concatenate([lum + chroma[:, :1], lum - 0.5 * chroma.sum(1, keepdims=True), lum + chroma[:, 1:]], 1)
        return np.clip(self.background_colour[None, :] * (1.0 + cfg.background_contrast * tint), 0, 1).astype(
            np.float32)

    def render(self, T_world_cam: np.ndarray) -> FrameRecord:
        """Render the current object state seen from ``T_world_cam``."""
        cfg = self.config
        H, W = cfg.height, cfg.width
        canvas = Canvas.empty(H, W)
        R, c = T_world_cam[:3, :3], T_world_cam[:3, 3]
        rays_world = self.rays_cam @ R.T  # (H, W, 3); the z-component in the camera is still 1
        draw_world_rect(canvas, rays_world, c, cfg.background_depth, (-1e4, 1e4), (-1e4, 1e4), self._background_fn)
        for occ in self.occluders:
            draw_world_rect(canvas, rays_world, c, occ.z, occ.x_range, occ.y_range, occ.colour_fn)
        hits = {}
        for obj in sorted(self.objects, key=lambda o: -o.motion.position[2]):
            p_cam = R.T @ (obj.motion.position - c)
            hit = draw_billboard(canvas, self.intrinsics, p_cam, obj.half_size, obj.shape, obj.colour_fn,
                                 obj.object_id)
            if hit is not None and hit.amodal_area > 0:  # in view = a silhouette pixel inside the image
                hits[obj.object_id] = (hit, p_cam, obj.motion.position.copy())
        records = []
        for object_id in sorted(hits):
            hit, p_cam, p_world = hits[object_id]
            vbox, vis = visible_box(canvas.ids, object_id)
            frac = vis / hit.amodal_area if hit.amodal_area > 0 else 0.0
            records.append(ObjectRecord(object_id=object_id, position_world=p_world, position_cam=p_cam,
                                        amodal_box=hit.amodal_box, visible_box=vbox, visible_fraction=float(frac),
                                        amodal_area=hit.amodal_area, visible_area=vis))
        image = np.clip(np.rint(canvas.image * 255.0), 0, 255).astype(np.uint8)
        assert np.isfinite(canvas.depth).all(), "the far wall must cover every pixel"
        return FrameRecord(image=image, depth=canvas.depth, instance_ids=canvas.ids,
                           T_world_cam=T_world_cam.copy(), objects=records)

    def frames(self) -> Iterator[FrameRecord]:
        """Render ``num_frames`` frames, advancing the objects after each."""
        dt = 1.0 / self.config.fps
        hidden_for = {o.object_id: 0 for o in self.objects}
        for index in range(self.config.num_frames):
            record = self.render(self.camera.pose(index * dt))
            yield record
            hidden = {o.object_id for o in record.objects if o.visible_area == 0}
            for obj in self.objects:
                hidden_for[obj.object_id] = hidden_for[obj.object_id] + 1 if obj.object_id in hidden else 0
                if hidden_for[obj.object_id] >= self.config.max_hidden_frames:
                    obj.motion.hurry()  # keeps full occlusions within ~60 frames: no parking behind walls
                obj.motion.step(self.rng, dt)


def make_occlusion_sequence(seed: int, config: OcclusionWorldConfig | None = None) -> SyntheticSequence:
    """Sample the scene of ``seed`` and return its lazily rendered sequence."""
    world = OcclusionWorld(seed, config)
    return SyntheticSequence(name=f"occlusion-{world.seed:04d}", preset="occlusion", seed=world.seed,
                             fps=world.config.fps, num_frames=world.config.num_frames,
                             intrinsics=world.intrinsics, frames=world.frames(), metadata=world.metadata())
