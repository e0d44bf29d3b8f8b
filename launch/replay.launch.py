"""Play a recording (e.g. from `occtrack generate --bag`) into the tracker on simulated time.

ros2 launch occtrack_ros replay.launch.py bag:=/path/to/seq/bag rviz:=true
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    arg = LaunchConfiguration
    share = FindPackageShare("occtrack_ros")
    arguments = [
        DeclareLaunchArgument("bag", description="rosbag2 directory to play"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
        DeclareLaunchArgument("loop", default_value="false", description="loop the bag"),
        DeclareLaunchArgument("rviz", default_value="false", description="also start RViz"),
        DeclareLaunchArgument("config", default_value=PathJoinSubstitution([share, "config", "occtrack.yaml"])),
    ]
    play = ExecuteProcess(
        cmd=["ros2", "bag", "play", arg("bag"), "--clock", "--rate", arg("rate")],
        output="screen", condition=UnlessCondition(arg("loop")),
    )
    # A loop makes time jump back: the node resets its tracker (parameter time_jump_reset).
    loop_play = ExecuteProcess(
        cmd=["ros2", "bag", "play", arg("bag"), "--clock", "--rate", arg("rate"), "--loop"],
        output="screen", condition=IfCondition(arg("loop")),
    )
    tracker = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "occtrack.launch.py"])),
        launch_arguments={"use_sim_time": "true", "config": arg("config")}.items(),
    )
    rviz = Node(package="rviz2", executable="rviz2", arguments=["-d", PathJoinSubstitution([share, "config",
                "occtrack.rviz"])], parameters=[{"use_sim_time": True}], condition=IfCondition(arg("rviz")))
    return LaunchDescription(arguments + [tracker, play, loop_play, rviz])
