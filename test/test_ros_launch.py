"""Launch files compile (and build a description where `launch` is installed); RViz config is wired."""
from __future__ import annotations

import importlib.util
import py_compile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))


def test_launch_files_exist_and_compile():
    assert {p.name for p in LAUNCH_FILES} >= {"occtrack.launch.py", "replay.launch.py"}
    for path in LAUNCH_FILES:
        py_compile.compile(str(path), doraise=True)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_generate_launch_description(path):
    pytest.importorskip("launch")
    pytest.importorskip("launch_ros")
    from launch import LaunchDescription

    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert isinstance(description, LaunchDescription) and description.entities


def test_rviz_config_shows_markers_and_debug_image_in_odom():
    config = yaml.safe_load((REPO / "config" / "occtrack.rviz").read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "odom"
    topics = {d["Class"]: d.get("Topic", {}).get("Value") for d in manager["Displays"]}
    assert topics["rviz_default_plugins/MarkerArray"] == "/occtrack_tracker/markers"
    assert topics["rviz_default_plugins/Image"] == "/occtrack_tracker/debug_image"
