"""RViz markers for tracks and the scene graph, with stable ids and explicit deletes.

Each track owns the marker id derived from its UUID in every namespace it is drawn in:

- ``tracks``: a cube at the estimated position (confirmed and tentative tracks);
- ``ghosts``: a translucent cube at the predicted position while the track is OCCLUDED;
- ``labels``: text "<id> <STATE>" above the object;
- ``trajectories``: a line strip through the last positions.

``scene_graph`` (id 0) draws the graph edges as one LINE_LIST. Markers have lifetime 0; a marker
drawn last frame and not this frame (a track ended or changed namespace) gets an explicit DELETE,
so RViz never flickers as it would with DELETEALL. Tracks without a 3D position (depth_source
'none') have no markers.
"""
from __future__ import annotations

import colorsys
from collections import deque

import numpy as np

from occtrack_ros.types import Relation, TrackerOutput, TrackState

NS_TRACKS, NS_GHOSTS, NS_LABELS, NS_TRAJECTORIES, NS_SCENE_GRAPH = (
    "tracks", "ghosts", "labels", "trajectories", "scene_graph")
DEFAULT_SIZE = 0.3    # [m] cube side when the tracker gives no size
GHOST_ALPHA = 0.3
EDGE_COLORS = {Relation.ADJACENT: (0.3, 0.6, 1.0, 0.8), Relation.OCCLUDES: (1.0, 0.2, 0.2, 0.9)}


def marker_id(uuid) -> int:
    """A stable non-negative int32 marker id from a track UUID (all 128 bits folded by XOR)."""
    value = uuid.int
    folded = 0
    for _ in range(4):
        folded ^= value & 0xFFFFFFFF
        value >>= 32
    return folded & 0x7FFFFFFF


def id_color(track_id: int) -> tuple[float, float, float]:
    """Distinct, stable colour per short id (golden-ratio hue steps)."""
    hue = (track_id * 0.618033988749895) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.75, 0.95)


class MarkerBook:
    """Builds one MarkerArray per frame and remembers what is on screen, to delete it later."""

    def __init__(self, trajectory_length: int = 30) -> None:
        self.trajectory_length = trajectory_length
        self._shown: set[tuple[str, int]] = set()
        self._trajectories: dict[int, deque] = {}

    def reset(self) -> None:
        """Forget trajectories; everything shown is deleted by the next :meth:`build`."""
        self._trajectories.clear()

    def build(self, output: TrackerOutput, stamp, frame_id: str, up=(0.0, 0.0, 1.0)):
        """MarkerArray for one tracker step. ``up`` is the 'up' axis of ``frame_id`` (for labels)."""
        from visualization_msgs.msg import Marker, MarkerArray

        up = np.asarray(up, dtype=np.float64)
        markers: list = []
        drawn: set[tuple[str, int]] = set()
        positions: dict[int, np.ndarray] = {}

        def new(ns: str, mid: int, mtype: int):
            m = Marker()
            if stamp is not None:
                m.header.stamp = stamp
            m.header.frame_id = frame_id
            m.ns, m.id, m.type, m.action = ns, mid, mtype, Marker.ADD
            m.pose.orientation.w = 1.0
            drawn.add((ns, mid))
            markers.append(m)
            return m

        for ended in output.ended:
            self._trajectories.pop(ended.track_id, None)
        for track in output.tracks:
            if track.position is None:
                continue
            p = np.asarray(track.position, dtype=np.float64).reshape(3)
            if not np.all(np.isfinite(p)):
                continue
            positions[track.track_id] = p
            mid = marker_id(track.uuid)
            size = np.asarray(track.size, dtype=np.float64).reshape(3) if track.size is not None else None
            if size is None or not np.all(np.isfinite(size)) or np.any(size <= 0):
                size = np.full(3, DEFAULT_SIZE)
            r, g, b = id_color(track.track_id)
            occluded = track.state == TrackState.OCCLUDED
            cube = new(NS_GHOSTS if occluded else NS_TRACKS, mid, Marker.CUBE)
            cube.pose.position.x, cube.pose.position.y, cube.pose.position.z = p
            cube.scale.x, cube.scale.y, cube.scale.z = size
            alpha = GHOST_ALPHA if occluded else (0.5 if track.state == TrackState.TENTATIVE else 0.8)
            cube.color.r, cube.color.g, cube.color.b, cube.color.a = r, g, b, alpha

            label = new(NS_LABELS, mid, Marker.TEXT_VIEW_FACING)
            q = p + up * (0.5 * float(np.max(size)) + 0.1)
            label.pose.position.x, label.pose.position.y, label.pose.position.z = q
            label.scale.z = 0.15
            label.color.r = label.color.g = label.color.b = 1.0
            label.color.a = 0.6 if occluded else 1.0
            label.text = f"{track.track_id} {TrackState(track.state).name}"

            trail = self._trajectories.setdefault(track.track_id, deque(maxlen=self.trajectory_length))
            trail.append(p)
            if len(trail) >= 2:
                line = new(NS_TRAJECTORIES, mid, Marker.LINE_STRIP)
                line.scale.x = 0.02
                line.color.r, line.color.g, line.color.b, line.color.a = r, g, b, 0.8
                line.points = [_point(x) for x in trail]

        edge_points, edge_colors = [], []
        for edge in output.edges:
            a, b = positions.get(edge.source_id), positions.get(edge.target_id)
            if a is None or b is None:
                continue
            color = EDGE_COLORS.get(Relation(edge.relation), (1.0, 1.0, 1.0, 0.8))
            edge_points += [_point(a), _point(b)]
            edge_colors += [_color(color, edge.weight), _color(color, edge.weight)]
        if edge_points:
            graph = new(NS_SCENE_GRAPH, 0, Marker.LINE_LIST)
            graph.scale.x = 0.015
            graph.color.a = 1.0
            graph.points, graph.colors = edge_points, edge_colors

        for ns, mid in sorted(self._shown - drawn):
            gone = Marker()
            if stamp is not None:
                gone.header.stamp = stamp
            gone.header.frame_id = frame_id
            gone.ns, gone.id, gone.action = ns, mid, Marker.DELETE
            markers.append(gone)
        self._shown = drawn
        return MarkerArray(markers=markers)


def _point(p):
    from geometry_msgs.msg import Point

    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))


def _color(rgba, weight: float):
    from std_msgs.msg import ColorRGBA

    r, g, b, a = rgba
    return ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(a * max(0.2, min(1.0, weight))))
