"""The ``sprites-mot`` preset: the Sprites-MOT protocol of Tracking-by-Animation (He et al., CVPR 2019).

Protocol, as in the paper: 128x128 RGB frames, static camera, black background; sprites of
4 shapes x 6 colours, base size 21 px with +-10 % scale jitter and aspect-ratio jitter 0.2;
at most 3 objects at once (3 slots); a free slot waits 5 frames, then spawns with probability
0.5 per frame; a sprite enters at a random point of a random image edge and moves in a straight
line towards a random point on the opposite edge at 5.3 px/frame until it has left the image;
sprites are composited in slot order (slot 0 at the back), so occlusion is real. Ground-truth
boxes are the full sprite patch. The paper's split is 20 sequences of 500 frames.

Choices the paper leaves open, made here: the aspect ratio h/w is drawn uniformly in
[1 - 0.2, 1 + 0.2]; a sprite starts with its patch just outside the edge (it becomes visible
the next frame); alpha is the binary silhouette (no antialiasing, so masks are exact); the
frame rate is 10 fps.

There is no 3D scene: the depth map is a constant plane at ``PLANE_DEPTH`` metres for every
pixel, the camera pose is the identity, and an object's 3D position is its box centre
back-projected onto that plane through ``CameraIntrinsics.default_for(128, 128)``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from occtrack_ros.types import CameraIntrinsics
from occtrack_ros.world.records import FrameRecord, ObjectRecord, SyntheticSequence
from occtrack_ros.world.shapes import shape_mask

PLANE_DEPTH = 10.0  # [m] the constant depth reported for every pixel
SHAPES = ("ellipse", "triangle", "rectangle", "diamond")
COLOURS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 1.0), (0.0, 1.0, 1.0))


@dataclass
class SpritesMotConfig:
    """Sprites-MOT protocol parameters (defaults are the paper's)."""

    num_frames: int = 500
    size: int = 128               # square frames [px]
    fps: float = 10.0
    num_slots: int = 3            # at most this many objects at once
    base_size: float = 21.0       # [px]
    scale_jitter: float = 0.1     # size factor drawn in [1 - j, 1 + j]
    aspect_jitter: float = 0.2    # h / w drawn in [1 - j, 1 + j]
    wait_frames: int = 5          # a freed slot stays empty at least this long
    spawn_probability: float = 0.5
    speed: float = 5.3            # [px / frame]

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ValueError(f"sprites-mot: num_frames={self.num_frames} must be >= 1")


@dataclass
class _Sprite:
    object_id: int
    shape: str
    colour: np.ndarray   # (3,)
    half: np.ndarray     # (2,) half width, half height [px]
    centre: np.ndarray   # (2,) x, y [px]
    velocity: np.ndarray  # (2,) [px / frame]
    entered: bool = False

    def box(self) -> np.ndarray:
        return np.concatenate([self.centre - self.half, self.centre + self.half])


def _box_meets_image(box: np.ndarray, size: int) -> bool:
    return box[2] > 0 and box[3] > 0 and box[0] < size and box[1] < size


class SpritesMot:
    """Slot-based spawner, straight-line motion and slot-order compositing."""

    def __init__(self, seed: int, config: SpritesMotConfig | None = None):
        self.seed = int(seed)
        self.config = config or SpritesMotConfig()
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.intrinsics = CameraIntrinsics.default_for(self.config.size, self.config.size)
        self.slots: list[_Sprite | None] = [None] * self.config.num_slots
        self.waited = [0] * self.config.num_slots
        self.next_id = 1

    def _spawn(self) -> _Sprite:
        cfg, rng, n = self.config, self.rng, self.config.size
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        colour = np.array(COLOURS[int(rng.integers(len(COLOURS)))], np.float32)
        scale = cfg.base_size * rng.uniform(1 - cfg.scale_jitter, 1 + cfg.scale_jitter)
        aspect = rng.uniform(1 - cfg.aspect_jitter, 1 + cfg.aspect_jitter)  # h / w
        half = 0.5 * scale * np.array([1.0 / np.sqrt(aspect), np.sqrt(aspect)])
        edge = int(rng.integers(4))  # 0 left, 1 right, 2 top, 3 bottom
        s, e = rng.uniform(0, n, size=2)
        # Start with the patch just outside the edge; aim at a point where the patch has just left
        # the opposite edge, so the straight line crosses the whole frame.
        if edge == 0:
            start, end = np.array([-half[0], s]), np.array([n + half[0], e])
        elif edge == 1:
            start, end = np.array([n + half[0], s]), np.array([-half[0], e])
        elif edge == 2:
            start, end = np.array([s, -half[1]]), np.array([e, n + half[1]])
        else:
            start, end = np.array([s, n + half[1]]), np.array([e, -half[1]])
        direction = (end - start) / np.linalg.norm(end - start)
        sprite = _Sprite(object_id=self.next_id, shape=shape, colour=colour, half=half, centre=start,
                         velocity=cfg.speed * direction)
        self.next_id += 1
        return sprite

    def _update_slots(self) -> None:
        cfg = self.config
        for k, sprite in enumerate(self.slots):
            if sprite is not None:
                sprite.centre = sprite.centre + sprite.velocity
                inside = _box_meets_image(sprite.box(), cfg.size)
                sprite.entered |= inside
                if sprite.entered and not inside:
                    self.slots[k] = None
                    self.waited[k] = 1  # this frame, the slot's first empty one, counts towards the wait
                continue
            if self.waited[k] >= cfg.wait_frames and self.rng.random() < cfg.spawn_probability:
                self.slots[k] = self._spawn()
            else:
                self.waited[k] += 1

    def render(self) -> FrameRecord:
        """Composite the live sprites (slot order) and collect their ground truth."""
        n = self.config.size
        image = np.zeros((n, n, 3), np.float32)
        ids = np.zeros((n, n), np.uint16)
        amodal = {}
        for sprite in self.slots:
            if sprite is None:
                continue
            box = sprite.box()
            if not _box_meets_image(box, n):
                continue
            j0, i0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
            j1, i1 = min(int(np.ceil(box[2])), n), min(int(np.ceil(box[3])), n)
            a = ((np.arange(j0, j1) + 0.5 - sprite.centre[0]) / sprite.half[0])[None, :]
            b = ((np.arange(i0, i1) + 0.5 - sprite.centre[1]) / sprite.half[1])[:, None]
            a, b = np.broadcast_arrays(a, b)  # (h, w)
            alpha = shape_mask(sprite.shape, a, b)
            image[i0:i1, j0:j1][alpha] = sprite.colour
            ids[i0:i1, j0:j1][alpha] = sprite.object_id
            if alpha.any():  # in view = a silhouette pixel inside the image
                amodal[sprite.object_id] = (sprite, box, int(alpha.sum()))
        fx, cx = self.intrinsics.fx, self.intrinsics.cx
        records = []
        for object_id in sorted(amodal):
            sprite, box, area = amodal[object_id]
            rows, cols = np.nonzero(ids == object_id)
            vis = len(rows)
            vbox = (np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], np.float64) if vis else None)
            p = np.array([(sprite.centre[0] - cx) / fx * PLANE_DEPTH, (sprite.centre[1] - cx) / fx * PLANE_DEPTH,
                          PLANE_DEPTH])
            records.append(ObjectRecord(object_id=object_id, position_world=p, position_cam=p.copy(),
                                        amodal_box=box, visible_box=vbox,
                                        visible_fraction=float(vis / area) if area else 0.0, amodal_area=area,
                                        visible_area=vis))
        return FrameRecord(image=np.rint(image * 255).astype(np.uint8),
                           depth=np.full((n, n), PLANE_DEPTH, np.float32), instance_ids=ids,
                           T_world_cam=np.eye(4), objects=records)

    def frames(self) -> Iterator[FrameRecord]:
        """Yield ``num_frames`` frames; slots update before each frame is drawn."""
        for _ in range(self.config.num_frames):
            self._update_slots()
            yield self.render()


def make_sprites_mot_sequence(seed: int, config: SpritesMotConfig | None = None) -> SyntheticSequence:
    """A lazily rendered Sprites-MOT sequence for ``seed``."""
    world = SpritesMot(seed, config)
    cfg = world.config
    return SyntheticSequence(name=f"sprites-mot-{world.seed:04d}", preset="sprites-mot", seed=world.seed,
                             fps=cfg.fps, num_frames=cfg.num_frames, intrinsics=world.intrinsics,
                             frames=world.frames(),
                             metadata={"config": asdict(cfg), "plane_depth": PLANE_DEPTH, "shapes": list(SHAPES),
                                       "colours": [list(c) for c in COLOURS]})
