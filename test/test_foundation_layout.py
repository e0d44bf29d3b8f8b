"""Foundation checks: the algorithm core runs without rclpy, linters pass, package.xml is valid."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Importing rclpy (or anything under it) raises in the child process.
_BLOCK_RCLPY = textwrap.dedent(
    """
    import importlib.abc, sys

    class _NoRclpy(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "rclpy" or name.startswith("rclpy."):
                raise ImportError("rclpy is blocked in this test: the algorithm core must not need it")
            return None

    sys.meta_path.insert(0, _NoRclpy())
    """
)


def test_algorithm_core_imports_and_runs_without_rclpy():
    script = _BLOCK_RCLPY + textwrap.dedent(
        """
        import importlib, pkgutil
        import numpy as np
        import occtrack_ros

        try:
            import rclpy  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("the rclpy blocker did not work")

        imported = []
        for info in pkgutil.walk_packages(occtrack_ros.__path__, prefix="occtrack_ros."):
            if info.name.startswith(("occtrack_ros.ros", "occtrack_ros.msg")):
                continue
            importlib.import_module(info.name)
            imported.append(info.name)
        assert "occtrack_ros.types" in imported, imported

        # Run real code paths, not only imports.
        from occtrack_ros.cli import build_parser
        from occtrack_ros.types import Detections
        build_parser().format_help()
        dets = Detections(boxes=np.array([[0, 0, 10, 10]]), scores=np.array([0.9]))
        assert len(dets.select(np.array([True]))) == 1
        try:
            from occtrack_ros.tracking import make_tracker
        except ImportError:
            pass
        else:
            from occtrack_ros.types import Frame
            tracker = make_tracker()
            frame = Frame(image=np.zeros((64, 64, 3), np.uint8))
            for i in range(3):
                frame.index, frame.stamp_ns = i, i * 100_000_000
                tracker.step(dets, frame)
        print("OK", len(imported))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().startswith("OK")


def test_rclpy_blocker_really_blocks():
    """The blocker used above must make a plain `import rclpy` fail, or the test above proves nothing."""
    proc = subprocess.run([sys.executable, "-c", _BLOCK_RCLPY + "import rclpy\n"], capture_output=True, text=True)
    assert proc.returncode != 0 and "rclpy is blocked" in proc.stderr


def test_ruff_lint_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed; run `make setup`")
    proc = subprocess.run([ruff, "check", "occtrack_ros", "test", "launch"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_package_xml_is_valid_format3():
    from catkin_pkg.package import parse_package

    pkg = parse_package(str(REPO / "package.xml"))
    pkg.validate()
    assert pkg.name == "occtrack_ros" and pkg.package_format == 3
    assert pkg.get_build_type() == "ament_cmake"
    for path in ("setup.py", "setup.cfg", "resource/occtrack_ros", "msg", "launch", "config", "test"):
        assert (REPO / path).exists(), path


def test_messages_are_rosidl_generated():
    from occtrack_ros.msg import TrackedObject, TrackedObjectArray

    # rosidl-generated classes carry their type support; hand-written classes would not.
    for cls in (TrackedObject, TrackedObjectArray):
        cls.__class__.__import_type_support__()
        assert cls.__class__._TYPE_SUPPORT is not None
    assert TrackedObject.OCCLUDED == 2 and TrackedObject.LOST == 3


def test_cli_help():
    exe = Path(sys.executable).parent / "occtrack"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: occtrack" in proc.stdout
