"""Read a sequence directory (written by `occtrack generate`, layout in sequence_writer.py).

``load_sequence(DIR)`` gives random access to :class:`occtrack_ros.types.Frame` objects (0-based),
decoded on demand; ``load_gt(DIR)`` gives the MOT ground truth as column arrays plus gt3d.json.
"""
from __future__ import annotations

import configparser
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from occtrack_ros.data.bag_topics import frame_stamp_ns
from occtrack_ros.types import CameraIntrinsics, Frame


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def read_seqinfo(directory: str | Path) -> dict[str, str]:
    """The [Sequence] section of DIR/seqinfo.ini as a dict of strings."""
    path = _require(Path(directory) / "seqinfo.ini", "seqinfo.ini")
    parser = configparser.ConfigParser()
    parser.read(path)
    if "Sequence" not in parser:
        raise ValueError(f"{path}: no [Sequence] section")
    return dict(parser["Sequence"])


def read_intrinsics(path: str | Path) -> CameraIntrinsics:
    """CameraIntrinsics from a camera.json file."""
    data = json.loads(_require(Path(path), "camera.json").read_text())
    missing = {"fx", "fy", "cx", "cy", "width", "height"} - set(data)
    if missing:
        raise ValueError(f"{path}: missing keys {sorted(missing)}")
    return CameraIntrinsics(fx=float(data["fx"]), fy=float(data["fy"]), cx=float(data["cx"]), cy=float(data["cy"]),
                            width=int(data["width"]), height=int(data["height"]))


def read_poses(path: str | Path, num_frames: int) -> np.ndarray:
    """(N, 4, 4) T_world_cam from poses.txt (``frame tx ty tz qx qy qz qw``, 1-based frames)."""
    from scipy.spatial.transform import Rotation

    rows = np.loadtxt(_require(Path(path), "poses.txt"), ndmin=2)
    if rows.shape[1] != 8:
        raise ValueError(f"{path}: expected 8 columns (frame tx ty tz qx qy qz qw), got {rows.shape[1]}")
    frames = rows[:, 0].astype(int)
    if len(rows) != num_frames or not np.array_equal(frames, np.arange(1, num_frames + 1)):
        raise ValueError(f"{path}: expected frames 1..{num_frames}, got {len(rows)} rows")
    poses = np.tile(np.eye(4), (num_frames, 1, 1))  # (N, 4, 4)
    poses[:, :3, :3] = Rotation.from_quat(rows[:, 4:8]).as_matrix()
    poses[:, :3, 3] = rows[:, 1:4]
    return poses


class Sequence:
    """Random access to the frames of a sequence directory; ``seq[i]`` is 0-based."""

    def __init__(self, directory: str | Path, load_depth: bool = True):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"sequence directory not found: {self.directory}")
        info = read_seqinfo(self.directory)
        try:
            self.name = info["name"]
            self.fps = float(info["framerate"])
            self.num_frames = int(info["seqlength"])
            self.image_dir = self.directory / info.get("imdir", "img1")
            self.image_ext = info.get("imext", ".png")
            width, height = int(info["imwidth"]), int(info["imheight"])
        except KeyError as exc:
            raise ValueError(f"{self.directory / 'seqinfo.ini'}: missing key {exc}") from None
        camera = self.directory / "camera.json"
        self.intrinsics = (read_intrinsics(camera) if camera.exists()
                           else CameraIntrinsics.default_for(width, height))
        if (self.intrinsics.width, self.intrinsics.height) != (width, height):
            raise ValueError(f"{camera}: {self.intrinsics.width}x{self.intrinsics.height} but seqinfo.ini says "
                             f"{width}x{height}")
        poses = self.directory / "poses.txt"
        self.poses = read_poses(poses, self.num_frames) if poses.exists() else None
        self.load_depth = load_depth and (self.directory / "depth").is_dir()

    def __len__(self) -> int:
        return self.num_frames

    def stamp_ns(self, index: int) -> int:
        """Capture time of 0-based frame ``index``: EPOCH_NS + index / fps, as in the sequence's bag."""
        return frame_stamp_ns(index, self.fps)

    def image(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB of 0-based frame ``index``."""
        import cv2

        path = _require(self.image_dir / f"{index + 1:06d}{self.image_ext}", "image")
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"could not decode image {path}")
        return np.ascontiguousarray(bgr[..., ::-1])

    def depth(self, index: int) -> np.ndarray:
        """(H, W) float32 metres of 0-based frame ``index``."""
        depth = np.load(_require(self.directory / "depth" / f"{index + 1:06d}.npy", "depth map"))
        if depth.shape != (self.intrinsics.height, self.intrinsics.width):
            raise ValueError(f"depth {index + 1}: shape {depth.shape}, expected "
                             f"{(self.intrinsics.height, self.intrinsics.width)}")
        return depth.astype(np.float32, copy=False)

    def mask(self, index: int) -> np.ndarray:
        """(H, W) uint16 visible-instance ids of 0-based frame ``index`` (0 = background)."""
        import cv2

        path = _require(self.directory / "gt" / "masks" / f"{index + 1:06d}.png", "instance mask")
        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)

    def __getitem__(self, index: int) -> Frame:
        if index < 0:
            index += self.num_frames
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame {index} out of range for {self.num_frames} frames of {self.name}")
        return Frame(image=self.image(index), stamp_ns=self.stamp_ns(index), index=index,
                     depth=self.depth(index) if self.load_depth else None, intrinsics=self.intrinsics,
                     T_world_cam=None if self.poses is None else self.poses[index].copy())

    def __iter__(self):
        for index in range(self.num_frames):
            yield self[index]


def load_sequence(directory: str | Path, load_depth: bool = True) -> Sequence:
    """Open a sequence directory; frames are read lazily."""
    return Sequence(directory, load_depth=load_depth)


@dataclass
class GroundTruth:
    """MOT ground truth as aligned column arrays (frames 0-based) plus the optional gt3d.json."""

    frame: np.ndarray       # (N,) int64, 0-based
    track_id: np.ndarray    # (N,) int64
    boxes: np.ndarray       # (N, 4) float32 amodal xyxy [px]
    visibility: np.ndarray  # (N,) float32 visible fraction in [0, 1]
    num_frames: int
    gt3d: dict | None = None
    _by_frame: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def ids(self) -> np.ndarray:
        """Sorted distinct object ids."""
        return np.unique(self.track_id)

    def rows_at(self, index: int) -> np.ndarray:
        """Row indices of 0-based frame ``index``."""
        if not self._by_frame:
            for row, f in enumerate(self.frame):
                self._by_frame.setdefault(int(f), []).append(row)
        return np.asarray(self._by_frame.get(int(index), []), dtype=np.int64)

    def objects_at(self, index: int) -> list[dict]:
        """gt3d.json objects of 0-based frame ``index`` (id, position, visible_fraction, boxes)."""
        if self.gt3d is None:
            raise ValueError("this ground truth has no gt3d.json")
        return self.gt3d["frames"][index]["objects"]


def load_gt(path: str | Path) -> GroundTruth:
    """Ground truth of a sequence directory (or of a gt.txt file directly).

    Reads MOT16+ rows ``frame,id,x,y,w,h,flag,class,visibility``; rows with flag 0 (ignore
    regions in MOTChallenge) are kept out. Frames become 0-based, boxes xyxy.
    """
    path = Path(path)
    directory = path if path.is_dir() else path.parent.parent
    gt_file = path / "gt" / "gt.txt" if path.is_dir() else path
    _require(gt_file, "gt.txt")
    text = gt_file.read_text().strip()
    rows = np.array([[float(v) for v in line.split(",")] for line in text.splitlines()]) if text else np.zeros((0, 9))
    if rows.ndim != 2 or (len(rows) and rows.shape[1] < 9):
        raise ValueError(f"{gt_file}: expected >= 9 comma-separated columns (MOT16+)")
    rows = rows[rows[:, 6] != 0] if len(rows) else rows
    num_frames = int(read_seqinfo(directory)["seqlength"]) if (directory / "seqinfo.ini").exists() else (
        int(rows[:, 0].max()) if len(rows) else 0)
    gt3d_file = directory / "gt" / "gt3d.json"
    boxes = rows[:, 2:6].astype(np.float32).copy()
    boxes[:, 2:] += boxes[:, :2]
    return GroundTruth(frame=rows[:, 0].astype(np.int64) - 1, track_id=rows[:, 1].astype(np.int64), boxes=boxes,
                       visibility=rows[:, 8].astype(np.float32), num_frames=num_frames,
                       gt3d=json.loads(gt3d_file.read_text()) if gt3d_file.exists() else None)
