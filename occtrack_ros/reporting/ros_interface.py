"""The node's interface for the README, read from the sources instead of typed by hand.

- parameters: ``occtrack_ros.ros.parameters.markdown_table`` (the table the node declares from);
- topics: the ``create_publisher`` / subscription calls in ``occtrack_ros/ros/tracker_node.py``
  (parsed with ``ast``, not imported: no rclpy needed), input names and descriptions from the
  ``*_topic`` parameters;
- messages: the fields, constants and comments of ``msg/*.msg``.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from occtrack_ros.reporting.tables import markdown_table

NODE_SOURCE = Path(__file__).resolve().parents[1] / "ros" / "tracker_node.py"
MSG_DIR = Path(__file__).resolve().parents[2] / "msg"


@dataclass
class Topic:
    direction: str       # "in" or "out"
    name: str            # as the node resolves it relative to its namespace (~ = node name)
    types: list[str]     # "pkg/msg/Type"
    note: str = ""


def _imported_types(tree: ast.AST) -> dict[str, str]:
    """``{Name: "pkg/msg/Name"}`` for every ``from pkg.msg import Name`` in the file."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith(".msg"):
            pkg = node.module.split(".")[0]
            for alias in node.names:
                out[alias.asname or alias.name] = f"{pkg}/msg/{alias.name}"
    return out


def _type_names(expr: ast.AST, types: dict[str, str]) -> list[str]:
    if isinstance(expr, ast.Name):
        return [types.get(expr.id, expr.id)]
    if isinstance(expr, ast.IfExp):
        return _type_names(expr.body, types) + _type_names(expr.orelse, types)
    raise ValueError(f"{NODE_SOURCE.name}:{expr.lineno}: cannot read a message type from {ast.unparse(expr)!r}")


def _param_of(expr: ast.AST) -> str | None:
    """'image_topic' for ``v["image_topic"]`` (or ``... + "/compressed"``), else None."""
    if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant):
        return str(expr.slice.value)
    if isinstance(expr, ast.BinOp):
        return _param_of(expr.left)
    if isinstance(expr, ast.Attribute) and expr.attr == "_image_topic":
        return "image_topic"
    return None


def _add_input(inputs: dict, type_expr: ast.AST, topic_expr: ast.AST, types: dict[str, str]) -> None:
    """Record ``(Type, v["x_topic"])``; loop variables (types not imported by name) are skipped."""
    param = _param_of(topic_expr)
    if param is None or not isinstance(type_expr, (ast.Name, ast.IfExp)):
        return
    names = [n.id for n in ast.walk(type_expr) if isinstance(n, ast.Name)]
    if any(n not in types for n in names if n not in ("self",)) and isinstance(type_expr, ast.Name):
        return
    inputs.setdefault(param, []).extend(t for t in _type_names(type_expr, types) if "/" in t)


def _published_in_docstring(doc: str) -> dict[str, str]:
    """``{"~/name": text}`` from the node docstring's "Publishes:" paragraph (text after each name)."""
    _, found, rest = doc.partition("Publishes:")
    if not found:
        return {}
    paragraph = " ".join(rest.split("\n\n")[0].split())
    chunks = re.split(r"(~/[A-Za-z0-9_]+)", paragraph)
    out = {}
    for name, text in zip(chunks[1::2], chunks[2::2]):
        text = re.sub(r"(,|;| and)\s*$", "", text.strip()).strip()
        out[name] = text[1:-1] if text.startswith("(") and text.endswith(")") else text
    return out


def node_topics(source: Path = NODE_SOURCE) -> list[Topic]:
    """Inputs (from subscriptions) then outputs (from publishers) of the tracker node.

    An output's note is the comment line above its ``create_publisher`` call, else what the
    module docstring's "Publishes:" paragraph says after its name.
    """
    tree = ast.parse(source.read_text(), filename=str(source))
    documented = _published_in_docstring(ast.get_docstring(tree) or "")
    types = _imported_types(tree)
    inputs: dict[str, list[str]] = {}
    outputs: list[Topic] = []
    lines = source.read_text().splitlines()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "create_publisher" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                above = lines[node.lineno - 2].strip()
                name = str(node.args[1].value)
                note = above[1:].strip() if above.startswith("#") else documented.get(name, "")
                outputs.append(Topic("out", name, _type_names(node.args[0], types), note))
            elif node.func.attr == "create_subscription" and len(node.args) >= 2:
                _add_input(inputs, node.args[0], node.args[1], types)
        if isinstance(node, ast.Tuple) and len(node.elts) == 2:
            _add_input(inputs, node.elts[0], node.elts[1], types)
    ins = [Topic("in", p, list(dict.fromkeys(t))) for p, t in inputs.items()]
    return ins + outputs


def topics_markdown(source: Path = NODE_SOURCE) -> str:
    """Topic table: inputs with their parameter, default name and description; outputs with type."""
    from occtrack_ros.ros import parameters as P

    rows = []
    for t in node_topics(source):
        kind = " or ".join(f"`{x}`" for x in t.types)
        if t.direction == "in":
            param = P.BY_NAME.get(t.name)
            if param is None:
                raise ValueError(f"tracker_node subscribes to parameter {t.name!r}, which parameters.py lacks")
            rows.append(["in", f"`{param.default}` (parameter `{t.name}`)", kind, param.description])
        else:
            name = t.name.replace("~/", f"/{P.NODE_NAME}/")
            note = "" if re.fullmatch(r"[\w]+/[\w/]+", t.note) else t.note   # a bare type name says nothing new
            rows.append(["out", f"`{name}`", kind, note or _msg_summary(t.types[0])])
    return markdown_table(["dir", "topic", "type", "description"], rows)


def _msg_summary(type_name: str) -> str:
    """First comment line of one of our msg/*.msg files, else empty."""
    pkg, _, name = type_name.split("/")
    path = MSG_DIR / f"{name}.msg"
    if pkg != "occtrack_ros" or not path.is_file():
        return ""
    return parse_msg(path).description.split(". ")[0].rstrip(".") + "."


@dataclass
class MsgSpec:
    name: str
    description: str
    constants: list[tuple[str, str, str, str]]   # type, name, value, comment
    fields: list[tuple[str, str, str]]           # type, name, comment


_LINE = re.compile(r"^\s*([A-Za-z0-9_/\[\]<=]+)\s+([A-Za-z0-9_]+)\s*(=\s*([^#]+?))?\s*(#\s*(.*))?$")


def parse_msg(path: Path) -> MsgSpec:
    """Fields, constants and the leading comment block of a ROS 2 ``.msg`` file."""
    description, constants, fields, leading = [], [], [], True
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line:
            leading = leading and not description
            continue
        if line.startswith("#"):
            if leading:
                description.append(line.lstrip("#").strip())
            continue
        leading = False
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"{path}:{n}: cannot parse {raw!r}")
        kind, name, _, value, _, comment = m.groups()
        if value is not None:
            constants.append((kind, name, value.strip(), comment or ""))
        else:
            fields.append((kind, name, comment or ""))
    return MsgSpec(path.stem, " ".join(description), constants, fields)


def messages_markdown(msg_dir: Path = MSG_DIR) -> str:
    """One table per message in ``msg_dir``: constants, then fields."""
    files = sorted(msg_dir.glob("*.msg"))
    if not files:
        raise FileNotFoundError(f"no .msg files in {msg_dir}")
    parts = []
    for f in files:
        spec = parse_msg(f)
        parts.append(f"### `occtrack_ros/msg/{spec.name}`\n")
        if spec.description:
            parts.append(spec.description + "\n")
        rows = [[f"`{k}`", f"`{n} = {v}`", c] for k, n, v, c in spec.constants]
        rows += [[f"`{k}`", f"`{n}`", c] for k, n, c in spec.fields]
        parts.append(markdown_table(["type", "name", "description"], rows) + "\n")
    return "\n".join(parts).rstrip("\n")


def parameters_markdown() -> str:
    from occtrack_ros.ros import parameters as P

    return P.markdown_table()
