"""Write a rendered sequence as a MOTChallenge-style directory (layout in the project brief).

::

    DIR/seqinfo.ini            MOTChallenge [Sequence] section
    DIR/img1/000001.png        RGB
    DIR/depth/000001.npy       float32 metres, (H, W)
    DIR/camera.json            {"fx", "fy", "cx", "cy", "width", "height"}
    DIR/poses.txt              frame tx ty tz qx qy qz qw   (1-based, T_world_cam of the optical frame)
    DIR/gt/gt.txt              frame,id,x,y,w,h,1,1,visibility  (MOT16+, amodal boxes)
    DIR/gt/gt3d.json           per frame per object: 3D world position, visibility, boxes
    DIR/gt/masks/000001.png    uint16 visible-instance ids, 0 = background
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from occtrack_ros.world.records import FrameRecord, SyntheticSequence

GT3D_FORMAT = "occtrack-gt3d-1"


def pose_to_tq(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(4, 4) pose -> (translation (3,), quaternion (4,) x y z w with w >= 0)."""
    q = Rotation.from_matrix(T[:3, :3]).as_quat()  # x y z w
    if q[3] < 0:
        q = -q
    return T[:3, 3].copy(), q


def _fmt(x: float) -> str:
    return f"{x:.9f}"


def _box_list(box: np.ndarray | None) -> list[float] | None:
    return None if box is None else [round(float(v), 4) for v in box]


def _prepare_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"output directory {out} is not empty; pass overwrite=True (--overwrite)")
        if not (out / "seqinfo.ini").exists():
            raise FileExistsError(f"refusing to overwrite {out}: it is not empty and not a sequence directory")
        import shutil

        # Stale frames of a longer earlier run must not survive next to the new ones.
        for sub in ("img1", "depth", "gt", "bag"):
            if (out / sub).is_dir():
                shutil.rmtree(out / sub)
    for sub in ("img1", "depth", "gt/masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)


def write_frame(out: Path, index: int, record: FrameRecord) -> None:
    """Write the image, depth and mask files of 0-based frame ``index``."""
    stem = f"{index + 1:06d}"
    if not cv2.imwrite(str(out / "img1" / f"{stem}.png"), np.ascontiguousarray(record.image[..., ::-1])):
        raise OSError(f"could not write {out / 'img1' / stem}.png")
    np.save(out / "depth" / f"{stem}.npy", record.depth.astype(np.float32, copy=False))
    if not cv2.imwrite(str(out / "gt" / "masks" / f"{stem}.png"), record.instance_ids.astype(np.uint16)):
        raise OSError(f"could not write mask {stem}.png")


def write_sequence(sequence: SyntheticSequence, out: str | Path, overwrite: bool = False,
                   progress: bool = True, on_frame=None, on_start=None) -> Path:
    """Render ``sequence`` into ``out``; returns the directory.

    ``on_start()`` is called once the directory is checked and created, and
    ``on_frame(index, record)`` after each frame is written (e.g. a bag writer), so the whole
    sequence never has to be held in memory.
    """
    from tqdm import tqdm

    out = Path(out)
    _prepare_dir(out, overwrite)
    if on_start is not None:
        on_start()
    intr = sequence.intrinsics
    gt_lines: list[str] = []
    pose_lines: list[str] = []
    frames_json: list[dict] = []
    iterator = tqdm(sequence.frames, total=sequence.num_frames, desc=f"generate {sequence.name}",
                    disable=not progress, unit="frame")
    count = 0
    for index, record in enumerate(iterator):
        assert record.image.shape == (intr.height, intr.width, 3), f"image {record.image.shape}"
        write_frame(out, index, record)
        t, q = pose_to_tq(record.T_world_cam)
        pose_lines.append(" ".join([str(index + 1), *map(_fmt, t), *map(_fmt, q)]))
        objs = []
        for o in record.objects:
            x1, y1, x2, y2 = o.amodal_box
            gt_lines.append(f"{index + 1},{o.object_id},{x1:.3f},{y1:.3f},{x2 - x1:.3f},{y2 - y1:.3f},1,1,"
                            f"{o.visible_fraction:.6f}")
            objs.append({
                "id": o.object_id,
                "position": [round(float(v), 6) for v in o.position_world],
                "position_cam": [round(float(v), 6) for v in o.position_cam],
                "visible_fraction": round(o.visible_fraction, 6),
                "amodal_box": _box_list(o.amodal_box),
                "visible_box": _box_list(o.visible_box),
                "amodal_area": o.amodal_area,
                "visible_area": o.visible_area,
            })
        frames_json.append({"frame": index + 1, "objects": objs})
        if on_frame is not None:
            on_frame(index, record)
        count += 1
    if count != sequence.num_frames:
        raise RuntimeError(f"{sequence.name}: rendered {count} frames, expected {sequence.num_frames}")

    (out / "seqinfo.ini").write_text(
        "[Sequence]\n"
        f"name={sequence.name}\nimDir=img1\nframeRate={sequence.fps:g}\nseqLength={count}\n"
        f"imWidth={intr.width}\nimHeight={intr.height}\nimExt=.png\n")
    (out / "camera.json").write_text(json.dumps(
        {"fx": intr.fx, "fy": intr.fy, "cx": intr.cx, "cy": intr.cy, "width": intr.width,
         "height": intr.height}, indent=2) + "\n")
    (out / "poses.txt").write_text("\n".join(pose_lines) + "\n")
    (out / "gt" / "gt.txt").write_text("\n".join(gt_lines) + ("\n" if gt_lines else ""))
    gt3d = {
        "format": GT3D_FORMAT, "name": sequence.name, "preset": sequence.preset, "seed": sequence.seed,
        "fps": sequence.fps, "frames_are": "1-based like gt.txt", "boxes_are": "xyxy pixels",
        "world_frame": "x right, y down, z forward (optical convention of the camera at rest), metres",
        "scene": sequence.metadata, "frames": frames_json,
    }
    (out / "gt" / "gt3d.json").write_text(json.dumps(gt3d, separators=(",", ":")) + "\n")
    return out
