"""Everything between synchronised input messages and output messages, without rclpy.

The tracker node and ``occtrack replay`` both drive a :class:`TrackingSession`: the same
synchroniser settings, the same Frame assembly and input checks, the same Pipeline and the same
TrackerOutput -> TrackedObjectArray conversion. That is what makes live and offline tracks
identical (test/test_replay_equivalence.py checks it).
"""
from __future__ import annotations

from dataclasses import dataclass

from occtrack_ros.pipeline import Pipeline, PipelineResult
from occtrack_ros.ros import parameters as P
from occtrack_ros.ros.conversions import edges_to_msg, ns_to_stamp, output_to_msg
from occtrack_ros.ros.frame_input import AssembledFrame, FrameAssembler
from occtrack_ros.ros.markers import MarkerBook
from occtrack_ros.ros.sync import ApproximateTimeSync


@dataclass
class SessionStep:
    assembled: AssembledFrame
    result: PipelineResult
    tracks_msg: object          # occtrack_ros/TrackedObjectArray, stamped with the image stamp
    stamp: object               # builtin_interfaces/Time of the input image
    frame_id: str               # output frame (odometry frame, else camera frame)


class TrackingSession:
    """One stream of frames through the pipeline. ``values``: parameter values (parameters.py)."""

    def __init__(self, values: dict, pipeline: Pipeline | None = None) -> None:
        self.values = dict(values)
        self.pipeline = pipeline if pipeline is not None else Pipeline(P.pipeline_config(values))
        self.assembler = FrameAssembler(P.input_config(values))
        self.markers = MarkerBook(trajectory_length=int(values["trajectory_length"]))
        self.use_depth = values["depth_source"] == "topic"
        self.use_odometry = bool(values["use_odometry"])
        self.compressed = values["image_transport"] == "compressed"
        self.resets = 0

    @property
    def inputs(self) -> list[str]:
        """Synchronised inputs, in the order the synchroniser emits them."""
        return ["image"] + (["depth"] if self.use_depth else []) + (["odometry"] if self.use_odometry else [])

    def make_sync(self, callback) -> ApproximateTimeSync:
        return ApproximateTimeSync(len(self.inputs), int(self.values["sync_queue_size"]),
                                   float(self.values["sync_slop"]), callback)

    def split(self, msgs) -> tuple:
        """(image, depth or None, odometry or None) from one synchronised set."""
        rest = list(msgs[1:])
        depth = rest.pop(0) if self.use_depth else None
        odom = rest.pop(0) if self.use_odometry else None
        return msgs[0], depth, odom

    def step(self, image, depth=None, odom=None, camera_info=None) -> SessionStep:
        """Process one synchronised set; raises frame_input.FrameRejected for unusable input."""
        assembled = self.assembler.assemble(image, depth, odom, camera_info, compressed=self.compressed)
        if assembled.reset:
            self.resets += 1
            self.pipeline.reset()
            self.markers.reset()
        result = self.pipeline.process(assembled.frame)
        stamp = ns_to_stamp(assembled.frame.stamp_ns)
        tracks = output_to_msg(result.output, stamp, assembled.frame_id)
        return SessionStep(assembled=assembled, result=result, tracks_msg=tracks, stamp=stamp,
                           frame_id=assembled.frame_id)

    def markers_msg(self, step: SessionStep):
        up = (0.0, 0.0, 1.0) if step.assembled.frame.T_world_cam is not None else (0.0, -1.0, 0.0)
        return self.markers.build(step.result.output, step.stamp, step.frame_id, up=up)

    def scene_graph_msg(self, step: SessionStep):
        return edges_to_msg(step.result.output.edges, step.stamp, step.frame_id)
