"""The ``occtrack`` command line: one entry point, sub-commands discovered from occtrack_ros.commands."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from occtrack_ros import __version__, commands


def parse_assignments(items: list[str], option: str, fields=None, owner: str = "") -> dict:
    """``FIELD=VALUE`` command-line strings -> a dict, values parsed as JSON where they can be.

    ``option`` names the flag in errors; with ``fields`` (a set of names) a name outside it is refused
    as a field ``owner`` does not have.
    """
    import json

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{option} {item!r}: expected FIELD=VALUE")
        key, value = item.split("=", 1)
        if fields is not None and key not in fields:
            raise ValueError(f"{option} {item!r}: {owner} has no field {key!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def discover(package, key: str):
    """The modules of ``package`` (public names, sorted) that define ``key`` and ``run``.

    Used for the sub-commands (occtrack_ros.commands, ``NAME``) and the training stages
    (occtrack_ros.training, ``STAGE``): adding one is adding a module.
    """
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, key) and hasattr(module, "run"):
            yield module


def _command_modules():
    return discover(commands, "NAME")


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser. With ``selected``, only that sub-command's options are built.

    Building a sub-command's options may import its heavy dependencies (torch, the training
    stages), so ``occtrack --help`` and every other sub-command skip them.
    """
    parser = argparse.ArgumentParser(
        prog="occtrack",
        description="Track objects through occlusion, learned without labels. "
        "Run `occtrack <command> --help` for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"occtrack_ros {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        if selected is None or selected == module.NAME:
            module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    selected = next((a for a in argv if not a.startswith("-")), "")
    parser = build_parser(selected)
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.print_help()
        return 0
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
