"""pip / setuptools entry point. In a ROS 2 workspace colcon builds the package with CMake instead."""
from setuptools import find_packages, setup

package_name = "occtrack_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=[package_name, f"{package_name}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", ["launch/occtrack.launch.py", "launch/replay.launch.py"]),
        (f"share/{package_name}/config", ["config/occtrack.yaml", "config/occtrack.rviz"]),
    ],
    package_data={package_name: ["weights/*.pt", "weights/*.md"]},
    python_requires=">=3.10",
    zip_safe=False,
    maintainer="occtrack_ros maintainers",
    maintainer_email="maintainers@occtrack.dev",
    description="Self-supervised multi-object tracking through occlusion for ROS 2.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "occtrack = occtrack_ros.cli:main",
            "tracker_node = occtrack_ros.ros.tracker_node:main",
        ],
    },
)
