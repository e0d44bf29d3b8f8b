"""occtrack_ros: self-supervised multi-object tracking through occlusion.

The algorithm subpackages never import rclpy; the ROS 2 layer lives in ``occtrack_ros.ros``.
"""
from pkgutil import extend_path

# The rosidl-generated ``occtrack_ros.msg`` may be installed in another directory of sys.path
# (``make setup`` installs it into .venv's site-packages); merge it into this package.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
