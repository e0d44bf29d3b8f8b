"""Shared fixtures. ROS processes started by tests talk over loopback only."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def ros_environment() -> dict[str, str]:
    """Environment for a process that starts rclpy: loopback-only discovery, a private domain.

    A random ROS_DOMAIN_ID per test session keeps concurrent test runs on one machine apart.
    """
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_LOCALHOST_ONLY"] = "1"  # older distributions
    env["ROS_DOMAIN_ID"] = env.get("OCCTRACK_TEST_DOMAIN_ID", str(_SESSION_DOMAIN))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


_SESSION_DOMAIN = random.SystemRandom().randint(1, 100)


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    return ros_environment()


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable
