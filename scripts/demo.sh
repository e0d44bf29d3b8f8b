#!/usr/bin/env bash
# `make demo`: the live ROS 2 demo (see `occtrack demo --help`). Loopback-only DDS discovery:
# every rclpy process started from here stays on this machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_LOCALHOST_ONLY=1
exec .venv/bin/occtrack demo --out out/demo "$@"
