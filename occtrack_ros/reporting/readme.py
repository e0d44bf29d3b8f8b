"""Generated README sections: text between ``<!-- NAME:BEGIN -->`` and ``<!-- NAME:END -->``.

Only the text between a pair is replaced; everything else is kept byte for byte. A section that
has no markers yet is appended at the end of the file under its heading.
"""
from __future__ import annotations

import re

_MARKER = re.compile(r"<!-- ([A-Z0-9][A-Z0-9_-]*):(BEGIN|END) -->")


def begin(name: str) -> str:
    return f"<!-- {name}:BEGIN -->"


def end(name: str) -> str:
    return f"<!-- {name}:END -->"


def section_names(text: str) -> list[str]:
    """Names of the well-formed marker pairs, in order; malformed markers raise ValueError."""
    names, open_name = [], None
    for m in _MARKER.finditer(text):
        name, kind = m.group(1), m.group(2)
        if kind == "BEGIN":
            if open_name is not None:
                raise ValueError(f"README marker {name}:BEGIN inside the open section {open_name}")
            if name in names:
                raise ValueError(f"README has two {name} sections")
            open_name = name
        else:
            if open_name != name:
                raise ValueError(f"README marker {name}:END without its {name}:BEGIN")
            names.append(name)
            open_name = None
    if open_name is not None:
        raise ValueError(f"README marker {open_name}:BEGIN has no {open_name}:END")
    return names


def replace_sections(text: str, sections: dict[str, str], headings: dict[str, str] | None = None) -> str:
    """``text`` with each named section's body replaced by ``sections[name]``.

    A name without markers in ``text`` is appended (markers included) under ``headings[name]``
    (a markdown heading line); without a heading it raises KeyError naming the section.
    """
    present = set(section_names(text))
    headings = headings or {}
    for name, body in sections.items():
        body = body.strip("\n")
        if "<!-- " in body and _MARKER.search(body):
            raise ValueError(f"section {name}: generated text must not contain README markers")
        if name in present:
            start = text.index(begin(name)) + len(begin(name))
            stop = text.index(end(name))
            text = text[:start] + "\n" + body + "\n" + text[stop:]
        else:
            if name not in headings:
                raise KeyError(f"README has no {name} section and no heading to add it under")
            text = text.rstrip("\n") + f"\n\n{headings[name]}\n\n{begin(name)}\n{body}\n{end(name)}\n"
    return text
