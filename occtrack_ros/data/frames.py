"""One entry point for frame sources: a sequence directory or a rosbag2 recording (or several)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from occtrack_ros.types import Frame


def is_sequence_dir(path: Path) -> bool:
    """A MOTChallenge-style directory written by `occtrack generate` (has seqinfo.ini)."""
    return (path / "seqinfo.ini").is_file()


def is_bag_dir(path: Path) -> bool:
    """A rosbag2 directory (has metadata.yaml) or a single .mcap / .db3 file."""
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or path.suffix in (".mcap", ".db3")


def open_frames(path: str | Path, **bag_options) -> Iterator[Frame]:
    """Iterate the frames of ``path`` lazily, in time order, with bounded memory.

    ``path`` may be a sequence directory (has seqinfo.ini), a rosbag2 directory (has
    metadata.yaml), or a sequence directory with a recording in ``bag/`` but no images.
    ``bag_options`` go to :class:`occtrack_ros.data.bag.BagReader` (topics, tolerance).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"frame source not found: {path}")
    if is_sequence_dir(path) and (path / "img1").is_dir():
        from occtrack_ros.data.sequence import load_sequence

        yield from load_sequence(path)
        return
    bag = path if is_bag_dir(path) else path / "bag"
    if is_bag_dir(bag):
        from occtrack_ros.data.bag import BagReader

        with BagReader(bag, **bag_options) as reader:
            yield from reader
        return
    raise ValueError(f"{path}: neither a sequence directory (seqinfo.ini + img1/) nor a rosbag2 directory "
                     "(metadata.yaml)")
