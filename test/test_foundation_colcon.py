"""`colcon build` of the package in a ROS 2 workspace (here: against the venv's ROS wheels)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


@pytest.mark.slow
def test_colcon_build_generates_importable_messages(tmp_path):
    colcon = VENV / "bin" / "colcon"
    if not colcon.exists():
        pytest.skip("colcon is not installed in this environment (a sourced ROS 2 provides its own)")
    src = tmp_path / "src"
    src.mkdir()
    # Copy the package sources only (not .venv/ or build outputs).
    dst = src / "occtrack_ros"
    shutil.copytree(REPO, dst, ignore=shutil.ignore_patterns(".venv", "build", "install", "log", "out", ".git",
                                                             "__pycache__", "*.egg-info", "data"))
    env = dict(os.environ)
    if not env.get("ROS_DISTRO"):
        env.update(AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV), PATH=f"{VENV / 'bin'}:{env['PATH']}")
    proc = subprocess.run(
        [str(colcon), "build", "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    prefix = tmp_path / "install" / "occtrack_ros"
    assert (prefix / "lib" / "occtrack_ros" / "tracker_node").exists()
    assert (prefix / "share" / "occtrack_ros" / "package.xml").exists()
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    check = ("import occtrack_ros, occtrack_ros.msg as m; "
             "from occtrack_ros.msg import TrackedObjectArray; TrackedObjectArray(); "
             "print(occtrack_ros.__file__); print(m.__file__)")
    run = subprocess.run([sys.executable, "-c", check], env={**env, "PYTHONPATH": str(site)}, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert all(line.startswith(str(site)) for line in run.stdout.split()), run.stdout
