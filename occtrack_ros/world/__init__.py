"""Synthetic worlds with exact ground truth for tracking through occlusion.

Two presets share one record format (:mod:`occtrack_ros.world.records`):

- ``occlusion``: a 2.5D scene rendered through a moving pinhole camera, with textured
  billboards at distinct depths, static pillars and walls that hide them for many frames, and
  a textured far wall giving parallax (:mod:`occtrack_ros.world.occlusion_world`);
- ``sprites-mot``: the Sprites-MOT protocol of Tracking-by-Animation (He et al., CVPR 2019),
  static camera (:mod:`occtrack_ros.world.sprites_mot`).

``make_sequence`` in :mod:`occtrack_ros.world.presets` picks one by name.
"""
