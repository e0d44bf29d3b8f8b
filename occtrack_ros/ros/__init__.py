"""ROS 2 layer: nodes, message conversion and parameters. Thin adapters around the core."""
