#!/usr/bin/env python3
"""Regenerate the README's marker sections from out/demo, out/bench and the sources.

Only text between ``<!-- NAME:BEGIN -->`` and ``<!-- NAME:END -->`` changes: DEMO-SUMMARY (from
out/demo, with the contact sheet copied to docs/contact_sheet.png), BENCHMARKS (out/bench/bench.md),
TOPICS, PARAMETERS and MESSAGES (from occtrack_ros/ros/ and msg/*.msg). Sections whose outputs are
missing are left as they are. Missing marker pairs are appended under their heading.

Usage: .venv/bin/python scripts/update_readme.py [--readme README.md] [--demo out/demo] [--bench out/bench]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def update(readme: Path, demo: Path, bench: Path, docs: Path, check: bool = False) -> list[str]:
    """Rewrite ``readme``; returns the names of the sections regenerated."""
    from occtrack_ros.reporting.readme import replace_sections, section_names
    from occtrack_ros.reporting.readme_content import HEADINGS, bench_section, demo_section, interface_sections

    sections = {}
    if (demo / "summary.json").is_file() and (demo / "metrics.json").is_file():
        image = docs / "contact_sheet.png"
        if (demo / "contact_sheet.png").is_file() and not check:
            docs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(demo / "contact_sheet.png", image)
        sections["DEMO-SUMMARY"] = demo_section(demo, image=_relative(image, readme.parent))
    else:
        print(f"update_readme: no {demo}/summary.json (run `make demo`): DEMO-SUMMARY left as it is")
    text = readme.read_text()
    if (bench / "bench.md").is_file():
        sections["BENCHMARKS"] = bench_section(bench)
    else:
        print(f"update_readme: no {bench}/bench.md (run `occtrack bench`): BENCHMARKS left as it is")
        if "BENCHMARKS" not in section_names(text):   # keep the sections in reading order
            sections["BENCHMARKS"] = "*(`occtrack bench` writes out/bench/; this section is regenerated from it.)*"
    sections.update(interface_sections())
    new = replace_sections(text, sections, HEADINGS)
    if check:
        return [] if new == text else list(sections)
    if new != text:
        readme.write_text(new)
    return list(sections)


def _relative(path: Path, start: Path) -> str:
    try:
        return str(path.resolve().relative_to(start.resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    parser.add_argument("--demo", default=str(ROOT / "out" / "demo"), help="output of `occtrack demo`")
    parser.add_argument("--bench", default=str(ROOT / "out" / "bench"), help="output of `occtrack bench`")
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="where the contact sheet is copied")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is out of date; write nothing")
    args = parser.parse_args(argv)
    try:
        done = update(Path(args.readme), Path(args.demo), Path(args.bench), Path(args.docs), check=args.check)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"update_readme: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print("update_readme: README is up to date" if not done else f"update_readme: out of date: {done}")
        return 1 if done else 0
    print(f"update_readme: regenerated {', '.join(done)} in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
