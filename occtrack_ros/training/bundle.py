"""The trained system in one directory: detector, depth/pose and tracker weights plus a manifest.

Layout::

    BUNDLE/manifest.json   {"format": "occtrack-bundle-v1", "git_revision", "created_utc",
                            "depth_source": "topic" | "learned",
                            "components": {name: {"file", "sha256", "bytes"}}, "provenance": {...}}
    BUNDLE/detector.pt     occtrack-detector-v1
    BUNDLE/tracker.pt      occtrack-tracker-v1
    BUNDLE/depth_pose.pt   occtrack-depth-pose-v1 (absent when depth + odometry come from sensors)

:func:`load_bundle` returns the ``PipelineConfig`` weight fields, so a bundle is used as
``PipelineConfig(**load_bundle(path)["pipeline"])``.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from occtrack_ros.atomic_io import write_text_atomic

FORMAT = "occtrack-bundle-v1"
MANIFEST = "manifest.json"
REQUIRED = ("detector", "tracker")
OPTIONAL = ("depth_pose",)
FILE_NAMES = {"detector": "detector.pt", "tracker": "tracker.pt", "depth_pose": "depth_pose.pt"}


class BundleError(ValueError):
    """A bundle is missing, incomplete or corrupt; the message names the file."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_bundle(out: str | Path, detector: str | Path, tracker: str | Path, depth_pose: str | Path | None = None,
                 git_revision: str = "unknown", provenance: dict | None = None) -> Path:
    """Copy the weights into ``out`` and write the manifest last (a bundle without one is incomplete)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    sources = {"detector": detector, "tracker": tracker, "depth_pose": depth_pose}
    components = {}
    for name, src in sources.items():
        if src is None:
            (out / FILE_NAMES[name]).unlink(missing_ok=True)
            continue
        src = Path(src)
        if not src.is_file():
            raise BundleError(f"write_bundle: {name} weights {src} do not exist")
        dst = out / FILE_NAMES[name]
        if src.resolve() != dst.resolve():
            shutil.copyfile(src, dst)
        components[name] = {"file": dst.name, "sha256": _sha256(dst), "bytes": dst.stat().st_size}
    manifest = {"format": FORMAT, "git_revision": git_revision,
                "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "depth_source": "learned" if depth_pose is not None else "topic",
                "components": components, "provenance": provenance or {}}
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True, default=str))
    return out


def _check_loadable(name: str, path: Path) -> None:
    """Open the file with its component's own reader, so a wrong or truncated file is named here."""
    try:
        if name == "detector":
            from occtrack_ros.models.detector.checkpoint import read_checkpoint

            read_checkpoint(path)
        elif name == "tracker":
            from occtrack_ros.tracking.checkpoint import load_tracker_checkpoint

            load_tracker_checkpoint(path)
        else:
            from occtrack_ros.models.depth_pose.checkpoint import load_checkpoint_blob

            load_checkpoint_blob(path)
    except Exception as exc:  # noqa: BLE001 - every reader failure becomes one error naming the file
        raise BundleError(f"bundle {name} weights {path} cannot be read: {type(exc).__name__}: {exc}") from exc


def load_bundle(path: str | Path, verify: bool = True) -> dict:
    """Validate a bundle (directory or its manifest.json) and return where its parts are.

    Returns ``{"path", "manifest", "files": {component: Path}, "depth_source",
    "pipeline": {"detector_weights", "tracker_weights", "depth_weights", "depth_source"}}``.
    ``verify`` also checks each file's sha256 and opens it with its component's reader.
    Raises :class:`BundleError` naming the missing or corrupt file.
    """
    p = Path(path).expanduser()
    root = p.parent if p.name == MANIFEST else p
    if not root.is_dir():
        raise BundleError(f"bundle {root} does not exist (expected a directory holding {MANIFEST})")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"bundle {root} has no {MANIFEST} (incomplete: was training interrupted?)")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"bundle manifest {mpath} is corrupt: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise BundleError(f"bundle manifest {mpath}: format {got!r}, expected {FORMAT!r}")
    components = manifest.get("components")
    if not isinstance(components, dict):
        raise BundleError(f"bundle manifest {mpath} has no 'components' table")
    unknown = sorted(set(components) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise BundleError(f"bundle manifest {mpath}: unknown component(s) {unknown}")
    missing = [c for c in REQUIRED if c not in components]
    if missing:
        raise BundleError(f"bundle manifest {mpath} lists no {missing[0]} weights")
    files = {}
    for name, entry in components.items():
        f = root / str(entry.get("file", ""))
        if not f.is_file():
            raise BundleError(f"bundle {name} weights missing: {f}")
        size = f.stat().st_size
        if size != entry.get("bytes"):
            raise BundleError(f"bundle {name} weights {f} are corrupt: {size} bytes, "
                              f"manifest says {entry.get('bytes')}")
        if verify:
            if _sha256(f) != entry.get("sha256"):
                raise BundleError(f"bundle {name} weights {f} are corrupt: sha256 differs from the manifest")
            _check_loadable(name, f)
        files[name] = f
    depth_source = manifest.get("depth_source", "learned" if "depth_pose" in files else "topic")
    if depth_source == "learned" and "depth_pose" not in files:
        raise BundleError(f"bundle manifest {mpath} asks for learned depth but lists no depth_pose weights")
    return {"path": root, "manifest": manifest, "files": files, "depth_source": depth_source,
            "pipeline": {"detector_weights": str(files["detector"]), "tracker_weights": str(files["tracker"]),
                         "depth_weights": str(files["depth_pose"]) if "depth_pose" in files else None,
                         "depth_source": depth_source}}
