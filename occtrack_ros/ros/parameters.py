"""Every parameter of the tracker node in one table: name, default, description, validator.

The node declares them from this table (with ParameterDescriptor descriptions), validates every
change with the same validators, config/occtrack.yaml carries the same defaults (a test checks
it), and ``python -m occtrack_ros.ros.parameters`` prints the README table.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

NODE_NAME = "occtrack_tracker"

DEPTH_SOURCES = ("topic", "learned", "pretrained", "none")
QOS_RELIABILITY = ("best_effort", "reliable")
SYNC_BACKENDS = ("auto", "builtin")
IMAGE_TRANSPORTS = ("raw", "compressed")
INSTANCE_ENCODINGS = ("32SC1", "mono16")


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    description: str
    validate: Callable[[object], str | None] = lambda v: None  # returns an error message or None
    read_only: bool = True   # False: may change at run time (``ros2 param set``)


def _one_of(choices):
    return lambda v: None if v in choices else f"must be one of {list(choices)}, got {v!r}"


def _positive(v):
    return None if v > 0 else f"must be > 0, got {v!r}"


def _non_negative(v):
    return None if v >= 0 else f"must be >= 0, got {v!r}"


def _unit(v):
    return None if 0.0 <= v <= 1.0 else f"must be in [0, 1], got {v!r}"


def _topic(v):
    return None if isinstance(v, str) and v.strip() and " " not in v else f"must be a topic name, got {v!r}"


def _device(v):
    ok = v == "cpu" or v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit())
    return None if ok else f"must be 'cpu', 'cuda' or 'cuda:N', got {v!r}"


def _pose7(v):
    if len(v) != 7:
        return f"must be 7 numbers [x, y, z, qx, qy, qz, qw], got {len(v)}"
    return None if sum(q * q for q in v[3:]) > 1e-12 else "quaternion part must be non-zero"


def _plugin(v):
    return None if v == "" or (":" in v and all(v.split(":", 1))) else f"must be '' or 'module:callable', got {v!r}"


PARAMETERS: tuple[Param, ...] = (
    # Models.
    Param("device", "cpu", "torch device for the detector and depth nets: cpu, cuda, cuda:N.", _device),
    Param("threads", 0, "torch CPU threads; 0 = torch's default (all cores). Lower it on a shared robot computer.",
          _non_negative),
    Param("bundle", "", "directory written by `occtrack train all` (RUN/bundle); fills every *_weights "
          "parameter left empty. Empty = no bundle."),
    Param("detector_weights", "", "detector checkpoint (.pt); empty = the shipped occlusion-preset weights."),
    Param("tracker_weights", "", "tracker (association GNN) checkpoint; empty = the shipped weights."),
    Param("depth_weights", "", "depth/pose checkpoint for depth_source 'learned'; empty = the shipped weights."),
    Param("depth_source", "topic",
          "where depth comes from: 'topic' (the depth input, synchronised), 'learned' (self-supervised "
          "DepthNet), 'pretrained' (a transformers depth model), 'none' (boxes only, no 3D).",
          _one_of(DEPTH_SOURCES)),
    Param("pose_refine", True, "without odometry: polish the learned ego-motion by direct photometric "
          "alignment (0.035 deg rotation error per frame instead of 0.083 on the occlusion preset; about 0.1 s "
          "per frame on one CPU core). false = PoseNet's raw output."),
    Param("depth_edge_refine", True, "depth_source 'learned': snap the depth map's soft edges to the image's "
          "with a colour-weighted median (measured in occtrack_ros/weights/depth_pose.md; about 60 ms "
          "per frame on one CPU core). false = DepthNet's raw map."),
    Param("detector_plugin", "", "advanced: 'module:callable' returning an object with detect(frames) and "
          "reset(), used instead of the learned detector (e.g. a wrapper around another detector).", _plugin),
    Param("tracker_plugin", "", "advanced: 'module:callable' returning an object with the Tracker interface "
          "(step, predict, correct, reset), used instead of the learned tracker.", _plugin),
    # Thresholds.
    Param("score_threshold", 0.0, "detections with a lower score are not passed to the tracker, on top of the "
          "detector's own threshold stored with its weights (0: that threshold alone; chosen on training seeds "
          "24-26). Raise it if clutter starts tracks.", _unit, read_only=False),
    Param("max_occlusion_age", 90, "frames an unobserved confirmed track is kept (OCCLUDED, drawn as a ghost) "
          "before it is LOST. Raise it for long occlusions at a high frame rate.", _non_negative),
    Param("reid_on_confirm", True, "a newly confirmed track takes over the id of a hidden track that could "
          "have reappeared where it started (occlusion recovery without appearance). Set false in crowds "
          "tracked from boxes alone, where it mostly joins two people (MOT17: IDF1 50.9 with it, 54.3 without)."),
    Param("report_measured_box", True, "a tracked object's reported box is this frame's detection box (completed "
          "where the image border or an occluder cuts it), not the motion filter's smoothed box, which lags behind "
          "the slot detector's boxes (tuning seeds 24-69: HOTA 60.1 -> 62.0). Set false for a detector whose boxes "
          "carry independent per-frame noise."),
    # Topics (relative names, remappable as usual).
    Param("image_topic", "image", "colour image input (rgb8/bgr8/rgba8/bgra8/mono8).", _topic),
    Param("image_transport", "raw", "'raw' (sensor_msgs/Image) or 'compressed' (sensor_msgs/CompressedImage "
          "on <image_topic>/compressed).", _one_of(IMAGE_TRANSPORTS)),
    Param("depth_topic", "depth", "depth input (16UC1 mm or 32FC1 m, registered to the colour image); used "
          "when depth_source is 'topic'.", _topic),
    Param("camera_info_topic", "camera_info", "sensor_msgs/CameraInfo of the colour image; without it "
          "intrinsics fall back to a 60 degree horizontal field of view (with a warning).", _topic),
    Param("odom_topic", "odom", "nav_msgs/Odometry of the camera platform; used when use_odometry is true.",
          _topic),
    Param("use_odometry", True, "synchronise odometry with the images: tracks are then reported in the "
          "odometry frame and ego-motion is compensated. False: camera optical frame."),
    Param("base_to_camera", [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
          "pose [x, y, z, qx, qy, qz, qw] of the camera optical frame in the odometry child frame "
          "(identity when the odometry already describes the optical frame).", _pose7),
    # Synchronisation and QoS.
    Param("sync_queue_size", 10, "messages kept per input while waiting for partners (ApproximateTime).",
          _positive),
    Param("sync_slop", 0.02, "largest stamp difference [s] between synchronised inputs. Raise it for "
          "unsynchronised sensors, at most half the frame period.", _positive),
    Param("sync_backend", "auto", "'auto': message_filters when installed, else the built-in equivalent; "
          "'builtin': always the built-in one (as `occtrack replay`).", _one_of(SYNC_BACKENDS)),
    Param("qos_reliability", "best_effort", "input QoS reliability: 'best_effort' (sensor data, default) or "
          "'reliable' (e.g. for lossless bag replay).", _one_of(QOS_RELIABILITY)),
    Param("qos_depth", 5, "input QoS history depth.", _positive),
    Param("time_jump_reset", 1.0, "a stamp going back by more than this [s] (a looping bag) resets the "
          "tracker; smaller backward steps are dropped as out of order.", _positive),
    # Outputs.
    Param("instances_encoding", "32SC1", "label image of track ids on ~/instances: '32SC1' or 'mono16' "
          "(ids above 65535 saturate).", _one_of(INSTANCE_ENCODINGS)),
    Param("trajectory_length", 30, "positions kept per track for its trajectory marker.", _positive,
          read_only=False),
    Param("diagnostics_period", 5.0, "seconds between the status log line (frames, drops, latency).",
          _positive, read_only=False),
)

BY_NAME = {p.name: p for p in PARAMETERS}


def validate(name: str, value) -> str | None:
    """Error message for ``name := value``, or None when it is acceptable."""
    param = BY_NAME.get(name)
    if param is None:
        return None  # standard parameters such as use_sim_time are validated by rclpy
    default = param.default
    if isinstance(default, bool) != isinstance(value, bool):
        return f"{name}: expected {type(default).__name__}, got {value!r}"
    if isinstance(default, float) and isinstance(value, int):
        value = float(value)
    if isinstance(default, list) and isinstance(value, (list, tuple)):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return f"{name}: expected numbers, got {value!r}"
    elif not isinstance(value, type(default)):
        return f"{name}: expected {type(default).__name__}, got {value!r}"
    error = param.validate(value)
    return None if error is None else f"{name} {error}"


def defaults() -> dict:
    return {p.name: p.default for p in PARAMETERS}


def load_yaml(path, node_name: str = NODE_NAME) -> dict:
    """Parameter values from a ``ros__parameters`` YAML (as the node reads it), over the defaults.

    Unknown names and invalid values raise ValueError naming them, as the node would refuse them.
    """
    import yaml

    with open(path) as f:
        data = yaml.safe_load(f) or {}
    section = data.get(node_name) or data.get(f"/{node_name}") or data.get("/**") or {}
    given = dict(section.get("ros__parameters", {}))
    given.pop("use_sim_time", None)
    values = defaults()
    for name, value in given.items():
        if name not in BY_NAME:
            raise ValueError(f"{path}: unknown parameter {name!r} for {node_name}")
        error = validate(name, value)
        if error is not None:
            raise ValueError(f"{path}: {error}")
        values[name] = float(value) if isinstance(BY_NAME[name].default, float) else value
    return values


def pipeline_config(values: dict):
    """The PipelineConfig these parameter values describe (node and ``occtrack replay`` alike)."""
    from occtrack_ros.pipeline import PipelineConfig

    return PipelineConfig(
        device=values["device"], bundle=values["bundle"] or None, detector_weights=values["detector_weights"] or None,
        tracker_weights=values["tracker_weights"] or None, depth_weights=values["depth_weights"] or None,
        depth_source=values["depth_source"], pose_refine=bool(values["pose_refine"]),
        depth_edge_refine=bool(values["depth_edge_refine"]),
        score_threshold=float(values["score_threshold"]),
        max_occlusion_age=int(values["max_occlusion_age"]), detector_plugin=values["detector_plugin"],
        tracker_plugin=values["tracker_plugin"], tracker_overrides={"reid_on_confirm": bool(values["reid_on_confirm"]),
                                                  "report_measured_box": bool(values["report_measured_box"])})


def input_config(values: dict):
    from occtrack_ros.ros.frame_input import InputConfig

    return InputConfig(use_depth=values["depth_source"] == "topic", use_odometry=bool(values["use_odometry"]),
                       base_to_camera=tuple(float(v) for v in values["base_to_camera"]),
                       time_jump_reset_s=float(values["time_jump_reset"]))


def markdown_table() -> str:
    lines = ["| parameter | default | description |", "|---|---|---|"]
    for p in PARAMETERS:
        default = repr(p.default) if isinstance(p.default, str) else str(p.default)
        dyn = "" if p.read_only else " (dynamic)"
        lines.append(f"| `{p.name}` | `{default}` | {p.description}{dyn} |")
    lines.append("| `use_sim_time` | `False` | standard ROS 2 parameter: take time from /clock (bag replay). |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
