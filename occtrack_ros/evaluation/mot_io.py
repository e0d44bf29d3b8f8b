"""MOTChallenge text files and sequence directories.

Column layouts (1-based frames, boxes ``x, y, w, h`` in pixels, top-left corner):

- ground truth (MOT16+): ``frame, id, x, y, w, h, flag, class, visibility`` -> ``(N, 9)`` float64;
  files with fewer columns (MOT15 style) get ``flag = 1, class = 1, visibility = 1``;
- tracker results: ``frame, id, x, y, w, h, conf, -1, -1, -1`` -> ``(N, 7)`` float64
  (columns past ``conf`` are ignored; a missing ``conf`` becomes 1);
- detections: the same layout as results with ``id = -1``.
"""
from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GT_COLUMNS = ("frame", "id", "x", "y", "w", "h", "flag", "class", "visibility")
RES_COLUMNS = ("frame", "id", "x", "y", "w", "h", "conf")
# Column indices shared by the gt (N, 9) and result (N, 7) arrays.
FRAME, ID, X, Y, W, H = 0, 1, 2, 3, 4, 5
FLAG, CLASS, VIS = 6, 7, 8
CONF = 6


@dataclass
class SeqInfo:
    """What seqinfo.ini says about a sequence (only the fields evaluation needs)."""

    name: str
    length: int
    width: int | None = None
    height: int | None = None
    fps: float = 30.0
    inferred: bool = False  # no seqinfo.ini: length and size come from the gt rows (a lower bound)

    def covering(self, rows: np.ndarray) -> "SeqInfo":
        """This info, with an inferred length stretched to the last frame of ``rows`` (results, detections)."""
        if not self.inferred or len(rows) == 0:
            return self
        return SeqInfo(self.name, max(self.length, int(rows[:, FRAME].max())), self.width, self.height, self.fps, True)


def _read_rows(path: Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MOTChallenge file not found: {path}")
    text = path.read_text().strip()
    if not text:
        return np.zeros((0, 0), np.float64)
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = line.replace(" ", "").split(",") if "," in line else line.split()
        try:
            rows.append([float(p) for p in parts if p != ""])
        except ValueError as exc:
            raise ValueError(f"{path}:{n}: not a MOTChallenge row: {line!r}") from exc
    ncol = min(len(r) for r in rows)
    if ncol < 6:
        raise ValueError(f"{path}: rows need at least 6 columns (frame,id,x,y,w,h), found {ncol}")
    return np.array([r[:ncol] for r in rows], dtype=np.float64)


def read_gt(path: str | Path) -> np.ndarray:
    """Read a gt.txt (or a sequence directory holding gt/gt.txt) into an ``(N, 9)`` array."""
    path = resolve_gt_file(path)
    raw = _read_rows(path)
    out = np.zeros((len(raw), 9), np.float64)
    out[:, FLAG] = 1.0
    out[:, CLASS] = 1.0
    out[:, VIS] = 1.0
    if len(raw):
        n = min(raw.shape[1], 9)
        out[:, :n] = raw[:, :n]
    _check_frames(out, path)
    return out


def read_results(path: str | Path) -> np.ndarray:
    """Read tracker results or detections into an ``(N, 7)`` array (frame, id, x, y, w, h, conf)."""
    raw = _read_rows(Path(path))
    out = np.ones((len(raw), 7), np.float64)
    if len(raw):
        n = min(raw.shape[1], 7)
        out[:, :n] = raw[:, :n]
    _check_frames(out, path)
    return out


def _check_frames(rows: np.ndarray, path) -> None:
    if len(rows) and (rows[:, FRAME] < 1).any():
        bad = rows[rows[:, FRAME] < 1, FRAME][0]
        raise ValueError(f"{path}: frame numbers are 1-based, found frame {bad:g}")
    if len(rows) and (np.round(rows[:, FRAME]) != rows[:, FRAME]).any():
        raise ValueError(f"{path}: frame numbers must be integers")


def write_results(path: str | Path, rows: np.ndarray) -> None:
    """Write ``(N, 7)`` rows (frame, id, x, y, w, h, conf) as ``frame,id,x,y,w,h,conf,-1,-1,-1``."""
    rows = np.asarray(rows, np.float64).reshape(-1, 7)
    order = np.lexsort((rows[:, ID], rows[:, FRAME]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for r in rows[order]:
            f.write(f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},{r[6]:.4f},-1,-1,-1\n")


def resolve_gt_file(path: str | Path) -> Path:
    """Accept a gt.txt, a sequence directory (``DIR/gt/gt.txt``) or a ``DIR/gt`` folder."""
    path = Path(path)
    for cand in (path, path / "gt" / "gt.txt", path / "gt.txt"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"no ground truth at {path} (looked for the file, {path}/gt/gt.txt, {path}/gt.txt)")


def find_seqinfo(gt_path: str | Path) -> Path | None:
    """The seqinfo.ini of the sequence a gt.txt belongs to, if there is one."""
    p = Path(gt_path)
    if p.is_dir():
        cands = [p / "seqinfo.ini", p.parent / "seqinfo.ini"]
    else:
        cands = [p.parent / "seqinfo.ini", p.parent.parent / "seqinfo.ini"]
    return next((c for c in cands if c.is_file()), None)


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Parse a MOTChallenge seqinfo.ini."""
    ini = configparser.ConfigParser()
    if not ini.read(path):
        raise FileNotFoundError(f"cannot read seqinfo.ini at {path}")
    if "Sequence" not in ini:
        raise ValueError(f"{path}: no [Sequence] section")
    s = ini["Sequence"]
    try:
        return SeqInfo(
            name=s.get("name", Path(path).parent.name),
            length=int(s["seqLength"]),
            width=int(s["imWidth"]) if "imWidth" in s else None,
            height=int(s["imHeight"]) if "imHeight" in s else None,
            fps=float(s.get("frameRate", 30)),
        )
    except KeyError as exc:
        raise ValueError(f"{path}: missing key {exc.args[0]}") from exc


def seqinfo_for(gt_path: str | Path, gt: np.ndarray | None = None) -> SeqInfo:
    """Sequence info from seqinfo.ini next to the gt, or inferred from the gt rows when there is none."""
    ini = find_seqinfo(gt_path)
    if ini is not None:
        return read_seqinfo(ini)
    if gt is None:
        gt = read_gt(gt_path)
    p = Path(gt_path)
    name = p.name if p.is_dir() else (p.parent.parent.name if p.parent.name == "gt" else p.stem)
    length = int(gt[:, FRAME].max()) if len(gt) else 0
    width = int(np.ceil((gt[:, X] + gt[:, W]).max())) if len(gt) else None
    height = int(np.ceil((gt[:, Y] + gt[:, H]).max())) if len(gt) else None
    return SeqInfo(name=name, length=length, width=width, height=height, inferred=True)


def is_sequence_dir(path: str | Path) -> bool:
    """A MOTChallenge sequence directory: has gt/gt.txt."""
    return (Path(path) / "gt" / "gt.txt").is_file()


def list_sequence_dirs(root: str | Path) -> list[Path]:
    """Sequence directories directly under ``root`` (sorted by name)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"not a directory: {root}")
    return sorted(p for p in root.iterdir() if p.is_dir() and is_sequence_dir(p))
