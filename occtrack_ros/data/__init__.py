"""Reading and writing sequences: MOTChallenge-style directories and rosbag2 recordings.

- :mod:`occtrack_ros.data.sequence_writer`: writes a synthetic sequence directory;
- :mod:`occtrack_ros.data.sequence`: ``load_sequence`` / ``load_gt`` for such directories;
- :mod:`occtrack_ros.data.bag_writer` / :mod:`occtrack_ros.data.bag`: rosbag2 (mcap, sqlite3) via rosbags;
- :mod:`occtrack_ros.data.frames`: ``open_frames(path)`` for either kind of source.
"""
