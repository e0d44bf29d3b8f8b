"""Raw messages of a rosbag2 recording in log order, via rosbags (no ROS needed).

The frame-level reader (occtrack_ros.data.bag) pairs messages itself; ``occtrack replay`` and
the sequence player need the individual messages instead, to feed them through the node's own
synchroniser. Topic names and the typestore are the data package's (data/bag_topics.py).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class BagMessage:
    topic: str
    msgtype: str       # e.g. "sensor_msgs/msg/Image"
    raw: bytes         # CDR bytes as recorded (rclpy.serialization.deserialize_message accepts them)
    log_time_ns: int
    reader: object     # the open rosbags reader: ``message()`` deserializes with it

    def message(self):
        """The rosbags dataclass message (field names as in ROS)."""
        return self.reader.deserialize(self.raw, self.msgtype)


def bag_topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """Topic -> (message type, message count) of a recording."""
    from rosbags.highlevel import AnyReader

    from occtrack_ros.data.bag_writer import default_typestore

    with AnyReader([Path(path)], default_typestore=default_typestore()) as reader:
        out: dict[str, tuple[str, int]] = {}
        for c in reader.connections:
            _, count = out.get(c.topic, (c.msgtype, 0))
            out[c.topic] = (c.msgtype, count + c.msgcount)
        return out


def iter_bag_messages(path: str | Path, topics: list[str]) -> Iterator[BagMessage]:
    """Messages of ``topics`` (those present) in log-time order."""
    from rosbags.highlevel import AnyReader

    from occtrack_ros.data.bag_writer import default_typestore

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag not found: {path}")
    with AnyReader([path], default_typestore=default_typestore()) as reader:
        wanted = [c for c in reader.connections if c.topic in topics]
        for connection, log_time, raw in reader.messages(connections=wanted):
            yield BagMessage(connection.topic, connection.msgtype, bytes(raw), int(log_time), reader)
