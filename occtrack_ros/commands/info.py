"""`occtrack info`: what this installation can do (ROS, messages, torch device)."""
from __future__ import annotations

NAME = "info"
HELP = "print versions and what is available (ROS 2, generated messages, CUDA)"


def add_arguments(parser) -> None:  # noqa: ARG001 - no options
    pass


def run(args) -> int:  # noqa: ARG001
    import importlib.util
    import os

    import torch

    from occtrack_ros import __version__

    print(f"occtrack_ros {__version__}")
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    print(f"ROS_DISTRO: {os.environ.get('ROS_DISTRO', '(unset: PyPI wheels)')}")
    print(f"rclpy importable: {importlib.util.find_spec('rclpy') is not None}")
    try:
        from occtrack_ros.msg import TrackedObjectArray  # noqa: F401
        print("occtrack_ros.msg: generated messages import")
    except ImportError as exc:
        print(f"occtrack_ros.msg: NOT available ({exc}); run `make setup`")
        return 1
    return 0
