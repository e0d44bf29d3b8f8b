"""`occtrack demo` cleans up its processes, and refuses a seed without a judged occlusion."""
from __future__ import annotations

import sys
import time

from occtrack_ros.child_process import ChildProcess
from occtrack_ros.commands.demo import _ros_env

STUBBORN = ("import signal, time\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(600)\n")


def test_child_ignoring_sigint_and_sigterm_is_killed(tmp_path):
    child = ChildProcess("stubborn", [sys.executable, "-c", STUBBORN], _ros_env(), tmp_path / "stubborn.log")
    assert child.wait_for("ready", 30), child.text()
    t0 = time.monotonic()
    child.stop()
    assert child.p.poll() is not None            # gone: SIGINT and SIGTERM ignored, then killed
    assert child.p.returncode == -9
    assert time.monotonic() - t0 < 20


def test_child_that_exits_on_sigint_is_not_killed(tmp_path):
    code = "import time\nprint('ready', flush=True)\ntime.sleep(600)\n"
    child = ChildProcess("polite", [sys.executable, "-c", code], _ros_env(), tmp_path / "polite.log")
    assert child.wait_for("ready", 30), child.text()
    child.stop()
    assert child.p.returncode == -2              # ended by the SIGINT itself, not by SIGTERM (-15) or SIGKILL (-9)
    assert "KeyboardInterrupt" in child.text()


def test_failure_message_names_the_log(tmp_path):
    child = ChildProcess("x", [sys.executable, "-c", "print('boom')"], _ros_env(), tmp_path / "x.log")
    child.p.wait(timeout=30)
    err = child.failure("it failed")
    child.stop()
    assert "it failed" in str(err) and "x.log" in str(err) and "boom" in str(err)


def test_ros_environment_is_loopback_only_with_a_private_domain():
    env = _ros_env()
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and env["ROS_LOCALHOST_ONLY"] == "1"
    assert 1 <= int(env["ROS_DOMAIN_ID"]) <= 100
