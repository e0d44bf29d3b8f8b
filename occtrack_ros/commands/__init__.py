"""Sub-commands of the ``occtrack`` CLI.

Each module here defines ``NAME`` (the sub-command, or several joined by ``/`` for nested
ones is not supported: use argparse sub-parsers inside the module), ``HELP`` (one line) and
``add_arguments(parser)`` plus ``run(args) -> int``. Modules are discovered automatically, so a
new sub-command is a new file here and nothing else. Heavy imports (torch, rclpy) belong inside
``run`` so that ``occtrack --help`` stays fast.
"""
