"""Foundation: a TrackedObjectArray with EVERY field set to a distinct value survives real DDS.

Two separate processes on loopback: one publishes, the other receives and compares every leaf
field (recursively, via the generated field tables) with the value the publisher set.
Run by pytest; the same file is the publisher/receiver script (``python this.py pub|sub``).
"""
from __future__ import annotations

import array
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FLOATS = ("float", "double")
INTS = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "octet", "byte")


class Counter:
    """Distinct values per leaf type; uint8/octet get their own small counter so they never wrap."""

    def __init__(self) -> None:
        self.n = {"small": 10, "int": 1000, "float": 0, "state": 1}

    def value(self, type_name: str):
        base = type_name.split("[")[0]
        if base in ("uint8", "octet", "byte", "int8"):
            self.n["small"] += 1
            return self.n["small"]
        if base in INTS:
            self.n["int"] += 1
            return self.n["int"]
        if base in FLOATS:
            self.n["float"] += 1
            return self.n["float"] + 0.25  # exact in float32
        if base == "string":
            self.n["int"] += 1
            return f"s{self.n['int']}"
        raise TypeError(type_name)


def fill(msg, counter: Counter, n_objects: int = 2):
    """Set every leaf field of ``msg`` (recursively) to a distinct value."""
    from occtrack_ros.msg import TrackedObject

    for name, type_name in msg.get_fields_and_field_types().items():
        current = getattr(msg, name)
        if type_name.startswith("sequence<occtrack_ros/TrackedObject"):
            setattr(msg, name, [fill(TrackedObject(), counter) for _ in range(n_objects)])
        elif hasattr(current, "get_fields_and_field_types"):
            fill(current, counter)
        elif isinstance(current, (np.ndarray, array.array, list)):
            base = type_name.split("[")[0]
            if base == "uint8":
                values = [counter.value("uint8") for _ in range(len(current))]
                setattr(msg, name, np.array(values, dtype=np.uint8))
            else:
                setattr(msg, name, [counter.value(base) for _ in range(len(current))])
        else:
            if name == "state":
                counter.n["state"] += 1  # 2, 3: valid state constants, below the uint8 counter's range
                setattr(msg, name, counter.n["state"])
            else:
                setattr(msg, name, counter.value(type_name))
    return msg


def leaves(msg, prefix: str = ""):
    """(path, value) for every leaf field."""
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        path = f"{prefix}{name}"
        if hasattr(value, "get_fields_and_field_types"):
            yield from leaves(value, path + ".")
        elif isinstance(value, list) and value and hasattr(value[0], "get_fields_and_field_types"):
            for i, item in enumerate(value):
                yield from leaves(item, f"{path}[{i}].")
        elif isinstance(value, (np.ndarray, array.array, list)):
            yield path, [float(v) for v in value]
        else:
            yield path, value


def expected_message():
    from occtrack_ros.msg import TrackedObjectArray

    return fill(TrackedObjectArray(), Counter())


def publisher() -> int:
    import rclpy
    from occtrack_ros.msg import TrackedObjectArray
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    with rclpy.init():
        node = rclpy.create_node("roundtrip_publisher")
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        pub = node.create_publisher(TrackedObjectArray, "roundtrip", qos)
        msg = expected_message()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the test kills it
            pub.publish(msg)
            rclpy.spin_once(node, timeout_sec=0.2)
        return 0


def subscriber() -> int:
    import rclpy
    from occtrack_ros.msg import TrackedObjectArray
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    got = []
    with rclpy.init():
        node = rclpy.create_node("roundtrip_subscriber")
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(TrackedObjectArray, "roundtrip", got.append, qos)
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    if not got:
        print("ROUNDTRIP none received", flush=True)
        return 2
    expected = dict(leaves(expected_message()))
    received = dict(leaves(got[0]))
    flat = [x for v in expected.values() for x in (v if isinstance(v, list) else [v])]
    keys = [float(x) if not isinstance(x, str) else x for x in flat]
    assert len(set(keys)) == len(keys), "the publisher's values are not all distinct"
    bad = [(k, expected[k], received.get(k)) for k in expected if received.get(k) != expected[k]]
    print(f"ROUNDTRIP fields={len(expected)} leaves={len(flat)} mismatches={len(bad)} {bad[:5]}", flush=True)
    return 0 if not bad and set(received) == set(expected) else 1


def test_every_field_round_trips_between_processes(ros_env, python):
    here = str(Path(__file__).resolve())
    pub = subprocess.Popen([python, here, "pub"], env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        sub = subprocess.run([python, here, "sub"], env=ros_env, capture_output=True, text=True, timeout=60)
    finally:
        pub.kill()
        pub.wait()
    out = sub.stdout + sub.stderr
    assert sub.returncode == 0, out
    assert "mismatches=0" in out, out
    n_leaves = int(out.split("leaves=")[1].split()[0])
    print(out)
    assert n_leaves > 2 * 100, out  # two objects with 16 uuid bytes and two 36-element covariances each


if __name__ == "__main__":
    sys.exit(publisher() if sys.argv[1] == "pub" else subscriber())
