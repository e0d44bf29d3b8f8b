"""Tiles around one occlusion episode: ids persisting while the object is hidden, ghosts drawn.

Drawing conventions (also used for the demo's overlay video): an observed track (TENTATIVE or
CONFIRMED) gets a solid box in its id colour (the colours of the RViz markers); an OCCLUDED track
gets its predicted amodal box as a translucent, dashed "ghost". Images are upscaled with nearest
neighbour before drawing so that labels stay readable on 128 px frames.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from occtrack_ros.reporting.episode_outcome import EpisodeOutcome
from occtrack_ros.ros.markers import id_color
from occtrack_ros.ros.overlay import dashed_rectangle
from occtrack_ros.types import TrackState

GHOST_ALPHA = 0.35
CAPTION_HEIGHT = 34   # [px] under each tile
TITLE_HEIGHT = 44     # [px] above the grid
LOOK_BACK = 20        # frames searched before the episode for the track's last observed frame


def draw_tracks(image: np.ndarray, objects: list[dict], scale: int = 3) -> np.ndarray:
    """(H, W, 3) uint8 RGB + one frame's published objects -> (H*scale, W*scale, 3) uint8 RGB.

    ``objects`` are track_recorder dicts (``id``, ``state``, ``bbox`` = x, y, w, h in input pixels).
    LOST objects (a track's final message) are not drawn.
    """
    import cv2

    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8, (
        f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    assert scale >= 1, f"scale must be >= 1, got {scale}"
    h, w = image.shape[:2]
    canvas = cv2.resize(image, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
    ghosts = [o for o in objects if o["state"] == TrackState.OCCLUDED]
    seen = [o for o in objects if o["state"] in (TrackState.TENTATIVE, TrackState.CONFIRMED)]

    def corners(o):
        x, y, bw, bh = (float(v) * scale for v in o["bbox"])
        return (int(round(x)), int(round(y))), (int(round(x + bw)), int(round(y + bh)))

    if ghosts:
        fill = canvas.copy()
        for o in ghosts:
            p0, p1 = corners(o)
            cv2.rectangle(fill, p0, p1, tuple(int(255 * c) for c in id_color(int(o["id"]))), -1)
        canvas = cv2.addWeighted(fill, GHOST_ALPHA, canvas, 1.0 - GHOST_ALPHA, 0.0)
    for o in ghosts:
        p0, p1 = corners(o)
        dashed_rectangle(canvas, p0, p1, tuple(int(255 * c) for c in id_color(int(o["id"]))), dash=8, thickness=2)
    for o in seen:
        p0, p1 = corners(o)
        thickness = 2 if o["state"] == TrackState.CONFIRMED else 1
        cv2.rectangle(canvas, p0, p1, tuple(int(255 * c) for c in id_color(int(o["id"]))), thickness)
    for o in ghosts + seen:
        p0, _ = corners(o)
        label = f"{o['id']}" + (" ghost" if o["state"] == TrackState.OCCLUDED else "")
        org = (max(p0[0], 2), max(p0[1] - 4, 12))
        cv2.putText(canvas, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(canvas, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    tuple(int(255 * c) for c in id_color(int(o["id"]))), 1, cv2.LINE_AA)
    return canvas


def sheet_frames(outcome: EpisodeOutcome, inside: int = 4) -> list[int]:
    """1-based frames for the sheet: before, ``inside`` frames over the episode, after.

    Before is the object's last match before the episode, the hidden frames are spread evenly
    from its first to its last hidden frame, after is the first match in the recovery window
    (else the reappearance frame).
    """
    ep = outcome.episode
    assert inside >= 1, f"inside must be >= 1, got {inside}"
    before = outcome.pre_frame if outcome.pre_frame is not None else max(ep.start - 1, 1)
    hidden = sorted({int(round(f)) for f in np.linspace(ep.start, ep.end, min(inside, ep.length))})
    after = outcome.post_frame or outcome.reappear or ep.end + 1
    return [before] + hidden + [after]


@dataclass
class ContactSheet:
    path: Path
    frames: list[int]       # 1-based frames of the tiles, in order
    track_id: int | None    # the id followed through the episode (pre-occlusion id)


def write_contact_sheet(path: str | Path, outcome: EpisodeOutcome, image_of: Callable[[int], np.ndarray],
                        objects_of: Callable[[int], list[dict]], visibility_of: Callable[[int], float | None],
                        inside: int = 4, scale: int = 3, columns: int = 3) -> ContactSheet:
    """Write a PNG grid of tiles around ``outcome``'s episode.

    ``image_of(f)`` / ``objects_of(f)`` give the RGB image and published objects of 1-based frame
    f; ``visibility_of(f)`` the gt visibility of the episode's object there (None: not in view).
    """
    import cv2

    ep = outcome.episode
    frames = sheet_frames(outcome, inside)
    tid = outcome.pre_id
    # The metric's last match may be a coasted box over a sliver of the object; show the last frame
    # in which the track was actually observed instead, when there is one shortly before.
    for f in range(frames[0], max(frames[0] - LOOK_BACK, 0), -1):
        if any(int(o["id"]) == tid and o["state"] == TrackState.CONFIRMED for o in objects_of(f)):
            frames[0] = f
            break
    tiles = []
    for f in frames:
        objects = objects_of(f)
        tile = draw_tracks(image_of(f), objects, scale)
        mine = next((o for o in objects if tid is not None and int(o["id"]) == tid), None)
        state = TrackState(int(mine["state"])).name if mine is not None else "no track here"
        vis = visibility_of(f)
        where = ("before" if f < ep.start else "HIDDEN" if f <= ep.end else "after")
        caption = np.full((CAPTION_HEIGHT, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(caption, f"frame {f} ({where})", (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
        vis_text = "out of view" if vis is None else f"gt vis {vis:.2f}"
        who = f"id {tid}: {state}" if tid is not None else "no track on this object"
        cv2.putText(caption, f"{who}; {vis_text}", (4, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([tile, caption], axis=0))
    th, tw = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    pad = 4
    grid = np.full((TITLE_HEIGHT + rows * (th + pad), columns * (tw + pad), 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        y, x = TITLE_HEIGHT + r * (th + pad), c * (tw + pad)
        grid[y:y + th, x:x + tw] = tile
    if tid is None:
        status = "no track on it before the occlusion"
    else:
        status = f"track id {tid} " + ("kept" if outcome.recovered else "NOT kept")
    title = f"gt object {ep.object_id} fully hidden for {ep.length} frames ({ep.start}-{ep.end}); {status}"
    cv2.putText(grid, title, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(grid, "solid box: observed; translucent dashed box: ghost (predicted while hidden)", (4, 36),
                cv2.FONT_HERSHEY_SIMPLEX, 0.42, (60, 60, 60), 1, cv2.LINE_AA)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), grid[..., ::-1]):
        raise OSError(f"OpenCV could not write {path}")
    return ContactSheet(path=path, frames=frames, track_id=tid)
