"""Figures, tables and README sections made from a run's outputs (no rclpy, no torch).

Modules:
    records         the tracker's published TrackedObjectArray records (track_recorder JSON) -> MOT rows,
                    per-frame tracks and the per-track state timeline.
    episode_outcome per gt full-occlusion episode: the id before, the id after, recovered or not.
    contact_sheet   tiles around one occlusion episode with solid boxes for seen tracks and ghosts for
                    occluded ones; the same drawing makes the overlay video.
    state_plot      per-track state over time (visible / occluded / lost), matplotlib.
    tables          markdown tables.
    ros_interface   topics, parameters and messages of the node, read from the code and msg/*.msg.
    readme          replace the text between ``<!-- NAME:BEGIN -->`` / ``<!-- NAME:END -->`` markers.
"""
