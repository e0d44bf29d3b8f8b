"""Launch the occtrack tracker node.

ros2 launch occtrack_ros occtrack.launch.py image:=/camera/color/image_raw \
    depth:=/camera/aligned_depth_to_color/image_raw camera_info:=/camera/color/camera_info odom:=/odom
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    arg = LaunchConfiguration
    arguments = [
        DeclareLaunchArgument("config", default_value=PathJoinSubstitution(
            [FindPackageShare("occtrack_ros"), "config", "occtrack.yaml"]), description="parameter YAML"),
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="colour image topic"),
        DeclareLaunchArgument("depth", default_value="/camera/depth/image_raw", description="depth topic"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info", description="camera_info topic"),
        DeclareLaunchArgument("odom", default_value="/odom", description="odometry topic"),
        DeclareLaunchArgument("detector_weights", default_value="", description="detector .pt; empty = shipped"),
        DeclareLaunchArgument("tracker_weights", default_value="", description="tracker .pt; empty = shipped"),
        DeclareLaunchArgument("device", default_value="cpu", description="cpu, cuda or cuda:N"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="true when playing a bag"),
    ]
    node = Node(
        package="occtrack_ros",
        executable="tracker_node",
        name="occtrack_tracker",
        output="screen",
        emulate_tty=True,
        parameters=[arg("config"), {
            "device": arg("device"),
            "detector_weights": arg("detector_weights"),
            "tracker_weights": arg("tracker_weights"),
            "use_sim_time": ParameterValue(arg("use_sim_time"), value_type=bool),
        }],
        remappings=[("image", arg("image")), ("depth", arg("depth")), ("camera_info", arg("camera_info")),
                    ("odom", arg("odom"))],
    )
    return LaunchDescription(arguments + [node])
