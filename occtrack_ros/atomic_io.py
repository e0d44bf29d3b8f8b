"""Atomic file writes: a reader (another rank, the node loading a bundle) never sees half a file.

Each write goes to ``NAME.tmp<pid>`` beside the target and is renamed over it, which is atomic on
one file system; the pid keeps concurrent writers (DDP ranks) off each other's temporary files.
"""
from __future__ import annotations

import os
from pathlib import Path


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + f".tmp{os.getpid()}")


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (the parent folder must exist)."""
    path = Path(path)
    tmp = _tmp(path)
    tmp.write_text(text)
    tmp.replace(path)


def torch_save_atomic(payload, path: str | Path) -> None:
    """``torch.save(payload, path)`` atomically, creating the parent folders."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    torch.save(payload, tmp)
    tmp.replace(path)
