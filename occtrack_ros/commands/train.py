"""`occtrack train <stage>`: stages are discovered from occtrack_ros.training.

A training module defines ``STAGE`` (e.g. "detector"), ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``. Adding a stage is adding a module there.
"""
from __future__ import annotations

NAME = "train"
HELP = "train a component (detector, depth-pose, tracker) or the whole schedule (all) without labels"


def _stage_modules():
    from occtrack_ros import training
    from occtrack_ros.cli import discover

    return discover(training, "STAGE")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="stage", metavar="<stage>")
    for module in _stage_modules():
        p = sub.add_parser(module.STAGE, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(p)
        p.set_defaults(_stage_run=module.run)
    parser.set_defaults(_parser=parser)


def run(args) -> int:
    if not hasattr(args, "_stage_run"):
        args._parser.print_help()
        return 2
    return int(args._stage_run(args) or 0)
